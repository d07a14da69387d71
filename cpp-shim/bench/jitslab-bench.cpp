//===- jitslab-bench.cpp - jitslab against LLVM 19's memory managers -------===//
//
//   jitslab-bench [--quick] [--reps=N] [options]        the comparison
//   jitslab-bench --child=churn|alloc ...               one in-process run (used by the above)
//
// Builds its workloads (Workloads.cpp), works out which settings (memory managers and
// modes) the tools here support, then runs every workload with every setting, the settings
// interleaved within each repetition and their order rotated from one repetition to the
// next. Every run's output is compared with the native build; a run that differs is
// reported as failed and never timed. An untimed pass under strace counts the memory system
// calls. The tables, CSV and chart go to target/bench (Report.cpp).
//
// Settings the tools do not support yet (out of process before jitslab-run has --executor,
// native before jitslab-executor exists) are listed as missing, with the reason.
//
// --quick runs every workload once on small sizes: a smoke test of correctness for
// `./x test`. It exits non-zero when any run fails, and says nothing about speed.
//
//===----------------------------------------------------------------------===//

#include "Bench.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <sys/utsname.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <thread>
#include <tuple>

using namespace llvm;
using namespace jitslab::bench;

namespace {

const char *const Usage = R"(usage: jitslab-bench [options]

Runs every workload with every memory manager setting, interleaved, and writes
results.md, results.csv, runs.csv and ratios.svg to the output directory.

  --quick                 every workload once, small sizes: checks correctness (for ./x test)
  --reps=N                repetitions (default 21; --quick: 1)
  --only=W,...            only these workloads (synth-200, synth-2000, hello, sqlite, zlib,
                          repl-session, churn, alloc-1t, alloc-2t)
  --out=DIR               results (default: target/bench, --quick: target/bench/quick)
  --work=DIR              where workloads are built (default: the build dir's bench/wl)
  --jitslab-run=PATH      the driver of whole programs (default: the one built here)
  --executor=PATH         LLVM's executor for out-of-process settings
                          (default: )" JITSLAB_BENCH_STOCK_EXECUTOR R"()
  --jitslab-executor=PATH jitslab's native executor (default: jitslab-executor beside
                          jitslab-run, if built)
  --no-strace             skip the system-call counting pass
  --readme=FILE, --doc=FILE  rewrite the <!-- bench:begin llvm-MAJOR --> ... <!-- bench:end
                          llvm-MAJOR --> region of FILE (MAJOR: this build's LLVM) with the
                          results (full runs only)
  --command=TEXT          the command to name in the results (default: this command line)
)";

struct Options {
  bool Quick = false, Strace = true;
  unsigned Reps = 21;
  bool RepsGiven = false;
  std::vector<std::string> Only;
  std::string Readme, Doc, Command;
  Paths P;
};

unsigned parseCount(StringRef Opt, StringRef V) {
  unsigned N;
  if (V.getAsInteger(10, N) || N == 0)
    fail(Opt + ": '" + V + "' is not a positive number");
  return N;
}

Options parseArgs(int Argc, char **Argv) {
  Options O;
  O.P.Self = sys::fs::getMainExecutable(Argv[0], reinterpret_cast<void *>(&parseCount));
  O.P.JitslabRun = JITSLAB_BENCH_JITSLAB_RUN;
  O.P.JitslabRepl = JITSLAB_BENCH_JITSLAB_REPL;
  O.P.ReplDir = JITSLAB_BENCH_REPL_DIR;
  if (sys::fs::can_execute(JITSLAB_BENCH_CLANG_REPL))
    O.P.ClangRepl = JITSLAB_BENCH_CLANG_REPL;
  O.P.SynthGen = JITSLAB_BENCH_SYNTH_GEN;
  O.P.Clang = JITSLAB_BENCH_CLANG;
  O.P.WorkloadSrc = JITSLAB_BENCH_WORKLOAD_SRC;
  O.P.Work = JITSLAB_BENCH_WORK;
  O.P.StockExecutor = JITSLAB_BENCH_STOCK_EXECUTOR;
  O.P.LLVMJITLink = JITSLAB_BENCH_LLVM_JITLINK;
  O.P.OrcRuntime = JITSLAB_BENCH_ORC_RUNTIME;
  std::string OutDir, NativeExecutor;
  std::vector<std::string> Words;
  for (int I = 0; I < Argc; ++I)
    Words.push_back(Argv[I]);
  for (int I = 1; I < Argc; ++I) {
    StringRef A = Argv[I];
    if (A == "-h" || A == "--help") {
      outs() << Usage;
      std::exit(0);
    } else if (A == "--quick") {
      O.Quick = true;
    } else if (A.consume_front("--reps=")) {
      O.Reps = parseCount("--reps", A);
      O.RepsGiven = true;
    } else if (A.consume_front("--only=")) {
      SmallVector<StringRef, 8> Parts;
      A.split(Parts, ',', -1, false);
      for (StringRef W : Parts)
        O.Only.push_back(W.str());
    } else if (A.consume_front("--out=")) {
      OutDir = A.str();
    } else if (A.consume_front("--work=")) {
      O.P.Work = A.str();
    } else if (A.consume_front("--jitslab-run=")) {
      O.P.JitslabRun = A.str();
    } else if (A.consume_front("--executor=")) {
      O.P.StockExecutor = A.str();
    } else if (A.consume_front("--jitslab-executor=")) {
      NativeExecutor = A.str();
    } else if (A == "--no-strace") {
      O.Strace = false;
    } else if (A.consume_front("--readme=")) {
      O.Readme = A.str();
    } else if (A.consume_front("--doc=")) {
      O.Doc = A.str();
    } else if (A.consume_front("--command=")) {
      O.Command = A.str();
    } else {
      fail("unknown option '" + A + "' (see --help)");
    }
  }
  if (O.Quick && !O.RepsGiven)
    O.Reps = 1;
  if ((O.Quick || !O.Only.empty()) && (!O.Readme.empty() || !O.Doc.empty()))
    fail("--readme and --doc take the results of a full run (no --quick, no --only)");
  if (O.Command.empty())
    O.Command = join(Words, " ");
  O.P.Out = !OutDir.empty() ? OutDir
            : O.Quick       ? std::string(JITSLAB_BENCH_OUT) + "/quick"
                            : std::string(JITSLAB_BENCH_OUT);
  if (NativeExecutor.empty()) {
    SmallString<256> Beside(sys::path::parent_path(O.P.JitslabRun));
    sys::path::append(Beside, "jitslab-executor");
    if (sys::fs::can_execute(Beside))
      NativeExecutor = std::string(Beside);
  } else if (!sys::fs::can_execute(NativeExecutor)) {
    fail("--jitslab-executor: '" + NativeExecutor + "' is not an executable");
  }
  O.P.NativeExecutor = NativeExecutor;
  if (auto S = sys::findProgramByName("strace"))
    O.P.Strace = *S;
  for (auto *Tool : {&O.P.JitslabRun, &O.P.JitslabRepl, &O.P.SynthGen, &O.P.Clang})
    if (!sys::fs::can_execute(*Tool))
      fail("'" + *Tool + "' is not an executable (build first: ./x test or cmake --build)");
  return O;
}

/// The settings under comparison, and for each one whether the tools here support it: the
/// out-of-process ones need jitslab-run --executor (and the manager names in its --help).
std::vector<Setting> makeSettings(const Paths &P, StringRef Help) {
  const bool HasMapper = Help.contains("--jitslab-mapper");
  const bool HasExecutor = Help.contains("--executor");
  const std::string Stock = "--executor=" + P.StockExecutor;
  auto Make = [](std::string Id, std::string Label, Group Where, bool LLVM,
                 std::vector<std::string> RunArgs) {
    Setting X;
    X.Id = std::move(Id);
    X.Label = std::move(Label);
    X.Where = Where;
    X.LLVM = LLVM;
    X.RunArgs = std::move(RunArgs);
    return X;
  };
  // The same manager under jitslab-repl, for the session.
  auto WithRepl = [](Setting X, std::vector<std::string> ReplArgs) {
    X.Session = true;
    X.ReplArgs = std::move(ReplArgs);
    return X;
  };
  std::vector<Setting> S = {
      WithRepl(Make("llvm-inprocess",
                    "LLVM InProcessMemoryManager (LLJIT's default: one mmap per graph)",
                    Group::InProcess, true, {"--memory=llvm-inprocess"}),
               {"--memory=llvm-inprocess"}),
      Make("llvm-mapper",
           "LLVM MapperJITLinkMemoryManager + InProcessMemoryMapper, 1 GiB slabs (llvm-jitlink's "
           "default)",
           Group::InProcess, true, {"--memory=llvm-mapper"}),
      WithRepl(Make("jitslab-dual",
                    "jitslab in process, dual view (memfd mapped twice; the default)",
                    Group::InProcess, false, {"--memory=jitslab", "--jitslab-mapper=dual"}),
               {"--memory=jitslab"}),
      Make("jitslab-single", "jitslab in process, single view (one anonymous mapping)",
           Group::InProcess, false, {"--memory=jitslab", "--jitslab-mapper=single"}),
#if LLVM_VERSION_MAJOR >= 22
      // With the ORC runtime, LLVM 22's llvm-jitlink-executor dies with SIGSEGV in
      // __deregister_frame while it shuts down after an llvm-epc run (LLVM's manager and
      // executor alone; jitslab is not involved), so its linked programs run without it.
      Make("llvm-epc",
           "LLVM EPCGenericJITLinkMemoryManager, llvm-jitlink-executor (links without the ORC "
           "runtime: with it LLVM 22's executor crashes at exit)",
           Group::OutOfProcess, true, {Stock, "--memory=llvm-epc", "--no-orc-runtime"}),
#else
      Make("llvm-epc", "LLVM EPCGenericJITLinkMemoryManager, llvm-jitlink-executor",
           Group::OutOfProcess, true, {Stock, "--memory=llvm-epc"}),
#endif
      WithRepl(Make("llvm-shm",
                    "LLVM MapperJITLinkMemoryManager + SharedMemoryMapper, llvm-jitlink-executor",
                    Group::OutOfProcess, true, {Stock, "--memory=llvm-shm"}),
               {Stock, "--memory=llvm-shm"}),
      WithRepl(Make("jitslab-stock", "jitslab out of process, LLVM's llvm-jitlink-executor",
                    Group::OutOfProcess, false, {Stock, "--memory=jitslab", "--protocol=stock"}),
               {Stock, "--memory=jitslab"}),
      WithRepl(Make("jitslab-native", "jitslab out of process, native (jitslab-executor)",
                    Group::OutOfProcess, false,
                    {"--executor=" + P.NativeExecutor, "--memory=jitslab", "--protocol=native"}),
               {"--executor=" + P.NativeExecutor, "--memory=jitslab"}),
  };

#if LLVM_VERSION_MAJOR >= 22
  // Anchors: LLVM's own tool on the same programs, out of process in the same executor, with
  // its default manager and with its shared-memory one (its links recurse on the caller's
  // stack in process, which 2000 objects overflow; out of process they do not). LLVM 19's
  // llvm-jitlink -oop-executor runs main before its callees are finalized (DESIGN.md), so these
  // exist on 22 only. Not a ratio base: the driver differs, not just the manager.
  for (auto [Id, Label, Flags] :
       {std::tuple<const char *, const char *, std::vector<std::string>>{
            "llvm-jitlink-oop", "LLVM's llvm-jitlink -oop-executor (its default manager)", {}},
        {"llvm-jitlink-oop-shm",
         "LLVM's llvm-jitlink -oop-executor --use-memmgr=shared (its slab in shared memory)",
         {"--use-memmgr=shared"}}}) {
    std::vector<std::string> Args = {"-oop-executor=" + P.StockExecutor,
                                     "-orc-runtime=" + P.OrcRuntime};
    Args.insert(Args.end(), Flags.begin(), Flags.end());
    Setting X = Make(Id, Label, Group::OutOfProcess, false, Args);
    X.Tool = P.LLVMJITLink;
    if (!sys::fs::can_execute(P.LLVMJITLink))
      X.Missing = "no llvm-jitlink at " + P.LLVMJITLink;
    S.push_back(std::move(X));
  }
#endif

  // The stock clang-repl of this LLVM on the session: in process with LLVM's default manager,
  // and on 22 (19's cannot) out of process in the same executor, with its default manager and
  // with its slab in shared memory. It is LLVM's tool, so a candidate ratio base of its group.
  std::vector<std::tuple<const char *, const char *, Group, std::vector<std::string>>> Repls = {
      {"clang-repl", "stock clang-repl, in process", Group::InProcess, {}}};
#if LLVM_VERSION_MAJOR >= 22
  // Debian's clang-repl does not find the ORC runtime by itself: it is given the one
  // jitslab-repl uses.
  const std::vector<std::string> Oop = {"--oop-executor=" + P.StockExecutor,
                                        "--orc-runtime=" + P.OrcRuntime};
  std::vector<std::string> OopShm = Oop;
  OopShm.push_back("--use-shared-memory");
  Repls.push_back({"clang-repl-oop", "stock clang-repl --oop-executor (llvm-jitlink-executor)",
                   Group::OutOfProcess, Oop});
  Repls.push_back({"clang-repl-oop-shm",
                   "stock clang-repl --oop-executor --use-shared-memory (its slab in shared "
                   "memory)",
                   Group::OutOfProcess, OopShm});
#endif
  for (auto &[Id, Label, Where, Args] : Repls) {
    Setting X = Make(Id, Label, Where, true, Args);
    X.Tool = P.ClangRepl;
    X.Programs = false;
    X.Session = true;
    if (P.ClangRepl.empty())
      X.Missing = "no " JITSLAB_BENCH_CLANG_REPL " (clang-tools-" +
                  std::to_string(LLVM_VERSION_MAJOR) + ")";
    S.push_back(std::move(X));
  }

  for (Setting &X : S) {
    if (!X.Tool.empty())
      continue;
    if (StringRef(X.Id).starts_with("jitslab-") && X.Where == Group::InProcess && !HasMapper)
      X.Missing = "jitslab-run has no --jitslab-mapper";
    if (X.Where == Group::InProcess)
      continue;
    if (!HasExecutor)
      X.Missing = "jitslab-run has no --executor yet (out of process: issue 4)";
    else if (X.Id == "jitslab-native" && P.NativeExecutor.empty())
      X.Missing = "jitslab-executor is not built (native executor: issue 7)";
    // jitslab-executor alone would serve jitslab-run's stock protocol: not the native setting.
    else if (X.Id == "jitslab-native" && !Help.contains("--protocol=native"))
      X.Missing =
          "jitslab-run has no --protocol=native yet (the native protocol's linker side: issue 7)";
    else if (StringRef(X.Id).starts_with("llvm-") && !Help.contains(X.Id))
      X.Missing = "jitslab-run's --help names no --memory=" + X.Id;
    else if (X.Id != "jitslab-native" && !sys::fs::can_execute(P.StockExecutor))
      X.Missing = "no executor at " + P.StockExecutor;
  }
  return S;
}

/// A libjitslab.so that LD_LIBRARY_PATH puts before the release library jitslab-run is
/// linked with (its RUNPATH loses to LD_LIBRARY_PATH), or "" if there is none. `cargo run`
/// puts target/debug/deps there, whose libjitslab.so is a debug build.
std::string shadowingLibrary() {
  const char *Path = std::getenv("LD_LIBRARY_PATH");
  if (!Path)
    return "";
  SmallVector<StringRef, 8> Dirs;
  StringRef(Path).split(Dirs, ':', -1, false);
  SmallString<256> Release;
  sys::fs::real_path(JITSLAB_BENCH_RUST_LIB, Release);
  for (StringRef D : Dirs) {
    SmallString<256> Lib(D), Real;
    sys::path::append(Lib, "libjitslab.so");
    if (sys::fs::exists(Lib) && !sys::fs::real_path(Lib, Real) && Real != Release)
      return std::string(Lib);
  }
  return "";
}

bool measurable(const Setting &S, const Workload &W) {
  return S.Missing.empty() && runsWith(W.K, S);
}

std::string machine() {
  std::string Cpu = "unknown CPU";
  std::ifstream CpuInfo("/proc/cpuinfo");
  for (std::string L; std::getline(CpuInfo, L);)
    if (StringRef(L).starts_with("model name")) {
      Cpu = StringRef(L).split(':').second.trim().str();
      break;
    }
  uint64_t MemKiB = 0;
  std::ifstream MemInfo("/proc/meminfo");
  for (std::string L; std::getline(MemInfo, L);)
    if (StringRef R = L; R.consume_front("MemTotal:"))
      R.trim().consumeInteger(10, MemKiB);
  std::string Debian;
  std::ifstream("/etc/debian_version") >> Debian;
  utsname U{};
  uname(&U);
  return formatv("{0}, {1} cores, {2:f1} GiB RAM; Linux {3}{4}; LLVM {5}; {6} shim, release "
                 "libjitslab",
                 Cpu, std::thread::hardware_concurrency(), MemKiB / 1048576.0, U.release,
                 Debian.empty() ? "" : ", Debian " + Debian, LLVM_VERSION_STRING,
                 JITSLAB_BENCH_BUILD_TYPE)
      .str();
}

/// The 1-minute load average: the machine may be shared, and the results should say so.
std::string loadAverage() {
  std::string Load;
  std::ifstream("/proc/loadavg") >> Load;
  return Load.empty() ? "unknown" : Load;
}

std::string todayUTC() {
  std::time_t T = std::time(nullptr);
  char Buf[32];
  std::strftime(Buf, sizeof Buf, "%Y-%m-%d", std::gmtime(&T));
  return Buf;
}

/// One line per repetition and workload: each setting's time (link time for jitslab-run,
/// total time for another tool), or FAILED.
void progress(unsigned Rep, unsigned Reps, const Workload &W,
              const std::vector<std::pair<const Setting *, const RunResult *>> &Done) {
  std::string Line = formatv("jitslab-bench: {0}/{1} {2}:", Rep + 1, Reps, W.Id);
  for (auto &[S, R] : Done) {
    if (!R->Ok) {
      Line += " " + S->Id + " FAILED (" + R->Failure + ")";
      continue;
    }
    const char *Key = W.K == Kind::Program ? "link_ms"
                      : W.K == Kind::Churn ? "per_link_us"
                      : W.K == Kind::Alloc ? "ns_per_cycle"
                                           : "wall_ms";
    auto It = R->F.find(Key);
    if (It == R->F.end()) // a tool's run: its total time
      It = R->F.find("wall_ms");
    Line += formatv(" {0} {1:f1}", S->Id, It == R->F.end() ? 0.0 : It->second).str();
  }
  errs() << Line << "\n";
}

} // namespace

int main(int Argc, char **Argv) {
  if (Argc > 1 && StringRef(Argv[1]).starts_with("--child="))
    return childMain(std::vector<std::string>(Argv + 1, Argv + Argc));
  Options O = parseArgs(Argc, Argv);
  const Paths &P = O.P;
  if (std::string Lib = shadowingLibrary(); !Lib.empty()) {
    if (!O.Quick)
      fail("LD_LIBRARY_PATH makes the runs load " + Lib + " instead of " + JITSLAB_BENCH_RUST_LIB +
           "; unset it (./x bench does)");
    errs() << "jitslab-bench: note: the runs load " << Lib << " (LD_LIBRARY_PATH)\n";
  }
  SmallString<256> Tmp(P.Work);
  sys::path::append(Tmp, "tmp");
  if (std::error_code EC = sys::fs::create_directories(Tmp))
    fail("cannot create '" + Tmp + "': " + EC.message());

  ChildExit Help = runChild(P.JitslabRun, {"--help"}, std::string(Tmp), 30);
  if (Help.Status != 0)
    fail("'" + P.JitslabRun + " --help' failed: " + firstLine(Help.Stderr + Help.Error));

  WorkloadPlan Plan;
  if (O.Quick) {
    Plan.SynthSizes = {200};
    Plan.ChurnRounds = 3;
    Plan.AllocCycles = 2000;
  } else {
    Plan.SynthSizes = {200, 2000};
  }
  Results R;
  R.Quick = O.Quick;
  R.Reps = O.Reps;
  R.Settings = makeSettings(P, Help.Stdout);
  R.Machine = machine();
  R.Date = todayUTC();
  R.Command = O.Command;
  auto Workloads = prepareWorkloads(P, Plan);
  if (!Workloads)
    fail(toString(Workloads.takeError()));
  for (Workload &W : *Workloads)
    if (O.Only.empty() || is_contained(O.Only, W.Id))
      R.Workloads.push_back(std::move(W));
  for (const std::string &Name : O.Only)
    if (none_of(R.Workloads, [&](const Workload &W) { return W.Id == Name; }))
      fail("--only: no workload '" + Name + "' in this mode");

  for (const Setting &S : R.Settings)
    if (!S.Missing.empty())
      errs() << "jitslab-bench: " << S.Id << " is missing: " << S.Missing << "\n";

  // The timed runs: settings interleaved within each repetition, their order rotated.
  R.LoadBefore = loadAverage();
  // Failures of jitslab's tools fail the benchmark; those of LLVM's own tools (clang-repl,
  // llvm-jitlink) are shown as failed in the results and reported, but do not: stock
  // clang-repl-22 --oop-executor --use-shared-memory lost its whole output in 1 of the runs of
  // `./x test`'s quick benchmark (not reproduced in 36 runs alone), and a bug of LLVM's must
  // not fail jitslab's test suite.
  unsigned Failures = 0, StockFailures = 0;
  auto Count = [&](const Setting &S, bool Ok) {
    if (!Ok)
      ++(S.Tool.empty() ? Failures : StockFailures);
  };
  for (unsigned Rep = 0; Rep < O.Reps; ++Rep)
    for (const Workload &W : R.Workloads) {
      std::vector<const Setting *> Order;
      for (const Setting &S : R.Settings)
        if (measurable(S, W))
          Order.push_back(&S);
      if (!Order.empty())
        std::rotate(Order.begin(), Order.begin() + Rep % Order.size(), Order.end());
      std::vector<std::pair<const Setting *, const RunResult *>> Done;
      for (const Setting *S : Order) {
        auto &Runs = R.Timed[{W.Id, S->Id}];
        Runs.push_back(runTimed(P, W, *S, std::string(Tmp)));
        Count(*S, Runs.back().Ok);
        Done.push_back({S, &Runs.back()});
      }
      progress(Rep, O.Reps, W, Done);
    }

  R.LoadAfter = loadAverage();

  // The untimed pass: memory system calls, counted by strace.
  std::string Problem = !O.Strace          ? "skipped (--no-strace)"
                        : P.Strace.empty() ? "strace is not installed"
                                           : straceProblem(P, std::string(Tmp));
  if (Problem.empty()) {
    errs() << "jitslab-bench: counting system calls under strace (untimed)\n";
    for (const Workload &W : R.Workloads)
      for (const Setting &S : R.Settings)
        if (measurable(S, W)) {
          RunResult Run = runStraced(P, W, S, std::string(Tmp));
          if (!Run.Ok) {
            errs() << "jitslab-bench: FAILED under strace: " << W.Id << " with " << S.Id << ": "
                   << Run.Failure << "\n";
            Count(S, false);
          }
          R.Straced[{W.Id, S.Id}] = std::move(Run);
        }
  } else {
    R.MissingMeasures.push_back("mmap/munmap/mprotect/madvise/fallocate counts: " + Problem);
  }

  auto Markdown = writeReports(R, P.Out);
  if (!Markdown)
    fail(toString(Markdown.takeError()));
  for (const std::string &File : {O.Readme, O.Doc})
    if (!File.empty())
      if (Error E = rewriteRegion(File, *Markdown))
        fail(toString(std::move(E)));
  errs() << "jitslab-bench: results in " << P.Out << " (results.md, results.csv, runs.csv, "
         << "ratios.svg)\n";
  if (StockFailures)
    errs() << "jitslab-bench: warning: " << StockFailures
           << " run(s) of LLVM's own tools failed (wrong output or exit status; see above); "
              "they show as failed in the results\n";
  if (Failures) {
    errs() << "jitslab-bench: error: " << Failures
           << " run(s) of jitslab's tools failed (wrong output or exit status); see above\n";
    return 1;
  }
  if (!StockFailures)
    errs() << "jitslab-bench: every run gave the native build's output\n";
  return 0;
}
