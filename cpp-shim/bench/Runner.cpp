//===- Runner.cpp - one run of one workload with one setting ---------------===//
//
// A run is a child process: jitslab-run (or llvm-jitlink) for whole programs, jitslab-repl (or
// clang-repl) for the session, jitslab-bench --child=... for churn and the allocator cycle.
// The child's stdout and exit status are compared with the native build's (the session's:
// with its expected output, empty lines left out, as clang-repl prints one when its input ends); its figures come from its --report file (key=value lines), plus the wall
// time and CPU time seen from here. A run whose output differs is failed, and its figures
// are dropped: a failed run is never timed.
//
// The system-call pass runs the same command under `strace -f -c` (threads and any executor
// the child starts are followed) and reads the call counts from strace's summary table.
//
// Everything here is called from one thread, except runChild, which is also called from
// the workload builder's job threads (each call uses its own temporary files).
//
//===----------------------------------------------------------------------===//

#include "Bench.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

using namespace llvm;

namespace jitslab::bench {

const char *const CountedSyscalls[5] = {"mmap", "munmap", "mprotect", "madvise", "fallocate"};

Error makeErr(const Twine &Msg) { return createStringError(inconvertibleErrorCode(), Msg); }

void fail(const Twine &Msg) {
  std::fflush(stdout);
  std::string Text = Msg.str();
  std::replace(Text.begin(), Text.end(), '\n', ' ');
  errs() << "jitslab-bench: error: " << Text << "\n";
  std::exit(1);
}

std::string firstLine(StringRef Text) {
  while (!Text.empty()) {
    auto [Line, Rest] = Text.split('\n');
    if (!Line.trim().empty())
      return Line.trim().str();
    Text = Rest;
  }
  return "";
}

std::map<std::string, std::string> parseKeyValues(StringRef Text) {
  std::map<std::string, std::string> KV;
  SmallVector<StringRef, 16> Lines;
  Text.split(Lines, '\n', -1, false);
  for (StringRef L : Lines)
    if (auto [K, V] = L.split('='); !K.empty() && L.contains('='))
      KV[K.trim().str()] = V.trim().str();
  return KV;
}

namespace {

std::string readAndRemove(const SmallString<256> &Path) {
  std::string Text;
  if (auto B = MemoryBuffer::getFile(Path, /*IsText=*/true))
    Text = (*B)->getBuffer().str();
  sys::fs::remove(Path);
  return Text;
}

SmallString<256> tempFile(const std::string &Dir, StringRef Stem) {
  SmallString<256> Model(Dir);
  Model += "/" + Stem.str() + "-%%%%%%%%";
  SmallString<256> Path;
  int FD;
  if (!sys::fs::createUniqueFile(Model, FD, Path)) {
    sys::fs::closeFile(FD);
    return Path;
  }
  return Model; // the child will fail to open it and say so
}

/// jitslab-run's inputs and program arguments in llvm-jitlink's syntax: the libraries that
/// jitslab-run takes from the process (libc, libm...) are left out, `--` becomes `-args`, and
/// any other `-lNAME` becomes the static archive in Debian's multiarch directory.
std::vector<std::string> toolArgs(const std::vector<std::string> &WorkloadArgs) {
  std::vector<std::string> Out;
  bool ProgramArgs = false;
  for (const std::string &A : WorkloadArgs) {
    StringRef V = A;
    StringRef Lib = V;
    if (!ProgramArgs && V == "--") {
      Out.push_back("-args");
      ProgramArgs = true;
    } else if (!ProgramArgs && Lib.consume_front("-l")) {
      // The libraries jitslab-run takes from the process are left out; any other is the static
      // archive itself, as jitslab-run links it: llvm-jitlink's -l would take the shared
      // library first where both are installed, and the workload would differ.
      if (!is_contained({"c", "m", "pthread", "dl", "rt", "util", "stdc++", "gcc_s"}, Lib))
        Out.push_back(("/usr/lib/x86_64-linux-gnu/lib" + Lib + ".a").str());
    } else {
      Out.push_back(A);
    }
  }
  return Out;
}

/// The program and arguments of one run of `W` with `S`, writing its report to `Report`.
std::pair<std::string, std::vector<std::string>>
command(const Paths &P, const Workload &W, const Setting &S, const std::string &Report,
        const std::vector<std::string> &WorkloadArgs) {
  std::vector<std::string> Args;
  if (W.K == Kind::Session) { // the script comes on stdin (see stdinOf)
    if (!S.Tool.empty())
      return {S.Tool, S.RunArgs};
    Args = S.ReplArgs;
    Args.push_back("--strict"); // an input that fails fails the run
    return {P.JitslabRepl, Args};
  }
  if (W.K == Kind::Program && !S.Tool.empty()) {
    // The tool does not wait for the executor it started to exit, and the executor writes the
    // program's output at its exit: through a pipe, the run ends when every writer has closed
    // it (the executor too), and with pipefail its status is the tool's.
    Args = {"-c", "set -o pipefail; \"$@\" | cat", "bash", S.Tool};
    Args.insert(Args.end(), S.RunArgs.begin(), S.RunArgs.end());
    for (std::string &A : toolArgs(WorkloadArgs))
      Args.push_back(std::move(A));
    return {"/bin/bash", Args};
  }
  if (W.K == Kind::Program) {
    Args = S.RunArgs;
    Args.push_back("--report=" + Report);
    Args.insert(Args.end(), WorkloadArgs.begin(), WorkloadArgs.end());
    return {P.JitslabRun, Args};
  }
  Args = {W.K == Kind::Churn ? "--child=churn" : "--child=alloc", "--memory=" + S.Id,
          "--report=" + Report};
  for (const std::string &A : S.RunArgs) // out of process: the same executor as jitslab-run's
    if (StringRef(A).starts_with("--executor="))
      Args.push_back(A);
  Args.insert(Args.end(), WorkloadArgs.begin(), WorkloadArgs.end());
  return {P.Self, Args};
}

/// The tool's own error line if it printed one, else the first line of its stderr.
std::string whyFailed(const ChildExit &E) {
  SmallVector<StringRef, 8> Lines;
  StringRef(E.Stderr).split(Lines, '\n', -1, false);
  for (StringRef L : Lines)
    if (L.contains(": error: "))
      return L.trim().str();
  std::string First = firstLine(E.Stderr);
  return First.empty() ? "no message" : First;
}

/// What a run of `W` reads on stdin: the session's script, else nothing.
std::string stdinOf(const Workload &W) { return W.K == Kind::Session ? W.Args.at(0) : ""; }

/// `Text` without its empty lines.
std::string withoutEmptyLines(StringRef Text) {
  SmallVector<StringRef, 64> Lines;
  Text.split(Lines, '\n', -1, /*KeepEmpty=*/false);
  std::string Out;
  for (StringRef L : Lines)
    Out += L.str() + "\n";
  return Out;
}

/// "" when `E` is what a correct run of `W` gives, else why not. Stdout is compared only when
/// `CheckStdout`.
std::string checkExit(const Workload &W, const ChildExit &E, bool CheckStdout) {
  if (E.Status == -1)
    return "cannot run: " + E.Error;
  if (E.Status == -2)
    return "crashed or timed out: " + (E.Error.empty() ? whyFailed(E) : E.Error);
  if (E.Status != W.ExpectedStatus)
    return formatv("exit status {0} (native: {1}): {2}", E.Status, W.ExpectedStatus, whyFailed(E));
  const std::string Stdout = W.K == Kind::Session ? withoutEmptyLines(E.Stdout) : E.Stdout;
  if (CheckStdout && Stdout != W.Expected) {
    SmallVector<StringRef, 64> Got, Want;
    StringRef(Stdout).split(Got, '\n');
    StringRef(W.Expected).split(Want, '\n');
    size_t I = 0;
    while (I < Got.size() && I < Want.size() && Got[I] == Want[I])
      ++I;
    return formatv("stdout differs from the native build at line {0}: '{1}' instead of '{2}'",
                   I + 1, I < Got.size() ? Got[I] : "<end>", I < Want.size() ? Want[I] : "<end>");
  }
  return "";
}

} // namespace

ChildExit runChild(const std::string &Program, const std::vector<std::string> &Args,
                   const std::string &TmpDir, unsigned TimeoutS, const std::string &Stdin) {
  SmallString<256> Out = tempFile(TmpDir, "stdout"), Err = tempFile(TmpDir, "stderr");
  std::vector<StringRef> Argv{Program};
  Argv.insert(Argv.end(), Args.begin(), Args.end());
  std::optional<StringRef> Redirects[] = {StringRef(Stdin), StringRef(Out), StringRef(Err)};
  ChildExit E;
  std::optional<sys::ProcessStatistics> Stats;
  bool ExecFailed = false;
  auto T0 = std::chrono::steady_clock::now();
  E.Status = sys::ExecuteAndWait(Program, Argv, std::nullopt, Redirects, TimeoutS, 0, &E.Error,
                                 &ExecFailed, &Stats);
  E.WallMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - T0).count();
  if (Stats)
    E.CpuMs = Stats->TotalTime.count() / 1000.0;
  if (ExecFailed)
    E.Status = -1;
  E.Stdout = readAndRemove(Out);
  E.Stderr = readAndRemove(Err);
  return E;
}

RunResult runTimed(const Paths &P, const Workload &W, const Setting &S, const std::string &TmpDir) {
  RunResult R;
  SmallString<256> Report = tempFile(TmpDir, "report");
  auto [Program, Args] = command(P, W, S, std::string(Report), W.Args);
  ChildExit E = runChild(Program, Args, TmpDir, 300, stdinOf(W));
  std::string ReportText = readAndRemove(Report);
  R.Failure = checkExit(W, E, /*CheckStdout=*/true);
  if (!R.Failure.empty())
    return R;
  if (!S.Tool.empty() || W.K == Kind::Session) { // no report: the times are all there is
    R.F["wall_ms"] = E.WallMs;
    R.F["cpu_ms"] = E.CpuMs;
    R.Ok = true;
    return R;
  }
  std::string Memory; // the manager the run says it used
  for (auto &[K, V] : parseKeyValues(ReportText)) {
    double D;
    if (!StringRef(V).getAsDouble(D))
      R.F[K] = D;
    else if (K == "memory")
      Memory = V;
  }
  if (R.F.empty()) {
    R.Failure = "the run wrote no report";
    return R;
  }
  // The run must have used the manager this setting asks for (a program's --memory option,
  // or the child's own name for it).
  std::string Asked = W.K == Kind::Program ? "jitslab" : S.Id;
  for (const std::string &A : S.RunArgs)
    if (StringRef(A).starts_with("--memory="))
      Asked = StringRef(A).drop_front(9).str();
  if (!Memory.empty() && Memory != Asked) {
    R.Failure = "the run used memory manager '" + Memory + "', not '" + Asked + "'";
    return R;
  }
  R.F["wall_ms"] = E.WallMs;
  R.F["cpu_ms"] = E.CpuMs;
  R.Ok = true;
  return R;
}

namespace {

/// Kills (SIGKILL) every process whose command line has `Marker` as an argument. Killing strace
/// when it times out detaches its tracees and leaves them running; the run's unique report
/// path finds them (an executor then sees its connection close and exits by itself).
void killProcessesWithArgument(const std::string &Marker) {
  std::error_code EC;
  for (sys::fs::directory_iterator I("/proc", EC), End; I != End && !EC; I.increment(EC)) {
    StringRef Name = sys::path::filename(I->path());
    int Pid = 0;
    if (Name.getAsInteger(10, Pid) || Pid == getpid())
      continue;
    auto Cmd = MemoryBuffer::getFile(I->path() + "/cmdline", /*IsText=*/false,
                                     /*RequiresNullTerminator=*/false);
    if (!Cmd)
      continue;
    SmallVector<StringRef, 16> Argv;
    (*Cmd)->getBuffer().split(Argv, '\0');
    if (is_contained(Argv, StringRef(Marker)))
      kill(Pid, SIGKILL);
  }
}

/// Runs one command under strace and returns the counts of CountedSyscalls as sys_* figures.
RunResult straceOnce(const Paths &P, const Workload &W, const Setting &S, const std::string &TmpDir,
                     const std::vector<std::string> &WorkloadArgs, bool CheckStdout) {
  RunResult R;
  SmallString<256> Report = tempFile(TmpDir, "report"), Summary = tempFile(TmpDir, "strace");
  auto [Program, Args] = command(P, W, S, std::string(Report), WorkloadArgs);
  std::string Trace = "trace=";
  for (const char *Name : CountedSyscalls)
    Trace += std::string(Trace.size() > 6 ? "," : "") + Name;
  std::vector<std::string> StraceArgs = {"-f", "-c",  "-o",   std::string(Summary),
                                         "-e", Trace, Program};
  StraceArgs.insert(StraceArgs.end(), Args.begin(), Args.end());
  ChildExit E = runChild(P.Strace, StraceArgs, TmpDir, 600);
  if (E.Status < 0)
    killProcessesWithArgument("--report=" + std::string(Report)); // timed out: see above
  readAndRemove(Report);
  std::string Table = readAndRemove(Summary);
  R.Failure = checkExit(W, E, CheckStdout);
  if (!R.Failure.empty())
    return R;
  for (const char *Name : CountedSyscalls)
    R.F[std::string("sys_") + Name] = 0;
  // Rows: % time, seconds, usecs/call, calls, [errors,] syscall. Calls is the fourth field.
  SmallVector<StringRef, 32> Lines;
  StringRef(Table).split(Lines, '\n', -1, false);
  for (StringRef L : Lines) {
    SmallVector<StringRef, 8> Fields;
    L.split(Fields, ' ', -1, false);
    double Calls;
    if (Fields.size() >= 5 && !Fields[3].getAsDouble(Calls) &&
        R.F.count("sys_" + Fields.back().str()))
      R.F["sys_" + Fields.back().str()] = Calls;
  }
  R.Ok = true;
  return R;
}

} // namespace

RunResult runStraced(const Paths &P, const Workload &W, const Setting &S,
                     const std::string &TmpDir) {
  // A tool runs under bash and cat (see command), whose calls would count; a session's calls
  // are clang's as much as the memory manager's.
  if (!S.Tool.empty() || W.K == Kind::Session) {
    RunResult None;
    None.Ok = true;
    return None;
  }
  RunResult Full = straceOnce(P, W, S, TmpDir, W.Args, /*CheckStdout=*/true);
  if (!Full.Ok || W.ZeroArgs.empty())
    return Full;
  // Per unit of work (cycle, link): the difference from a run that does none.
  RunResult Zero = straceOnce(P, W, S, TmpDir, W.ZeroArgs, /*CheckStdout=*/false);
  if (!Zero.Ok)
    return Zero;
  for (auto &[K, V] : Full.F)
    V = (V - Zero.F[K]) / static_cast<double>(W.Units);
  return Full;
}

std::string straceProblem(const Paths &P, const std::string &TmpDir) {
  ChildExit E = runChild(P.Strace, {"-f", "-c", "-o", "/dev/null", "true"}, TmpDir, 30);
  if (E.Status == 0)
    return "";
  return "strace does not work here: " + firstLine(E.Stderr + "\n" + E.Error);
}

} // namespace jitslab::bench
