//===- Bench.h - jitslab-bench: what its parts share -----------------------===//
//
// jitslab-bench compares jitslab with the memory managers of the LLVM it is built with (19 or
// 22) in one run: the same driver, the same objects and the same executor for every manager,
// managers interleaved within each repetition, only the memory manager changing. On 22 it also
// times LLVM's own tool, llvm-jitlink, out of process on the same programs, as an anchor. And it
// times one plain C++ REPL session with jitslab-repl on the same managers and with the stock
// clang-repl of the same LLVM (on 22 in process and out of process), side by side.
//
//   jitslab-bench.cpp  options, the settings (managers) and the run plan, main
//   Workloads.cpp      builds the workloads and their native references into the build dir
//   Runner.cpp         runs one child process, checks its output, reads its report; strace
//   InProcess.cpp      the workloads that run inside a jitslab-bench child: churn and the
//                      allocator cycle through jitlink::SimpleSegmentAlloc
//   Analysis.{h,cpp}   medians and ratios, the tables' columns
//   Report.cpp         Markdown and CSV, the files, the README/doc regions
//   Targets.cpp        the targets of issue 5 checked against a run; Chart.cpp: the SVG
//
// Whole programs run under jitslab-run (--report=FILE); the session under jitslab-repl or
// clang-repl, fed on stdin; churn and the allocator cycle run in a child jitslab-bench
// (--child=...), one process per run, so that every figure (mappings, RSS, system calls)
// belongs to one manager.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_BENCH_BENCH_H
#define JITSLAB_BENCH_BENCH_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jitslab::bench {

/// Where the JIT'd code runs: the ratio base is the best LLVM manager of the same group.
enum class Group { InProcess, OutOfProcess };

/// One memory manager configuration under comparison.
struct Setting {
  std::string Id;    // short name in tables and files: "jitslab-dual", "llvm-mapper", ...
  std::string Label; // what it is, for the Markdown legend
  Group Where = Group::InProcess;
  bool LLVM = false;                // one of LLVM's managers or tools: a candidate ratio base
  std::vector<std::string> RunArgs; // the jitslab-run options that select it (--executor too)
  // A tool other than jitslab-run and jitslab-repl (llvm-jitlink for programs, clang-repl for
  // the session), "" for jitslab's: it is given RunArgs (and a program's inputs in its own
  // syntax, toolArgs), writes no report, and only its wall and CPU times are figures.
  std::string Tool;
  bool Programs = true;              // runs the whole programs (jitslab-run, or Tool)
  bool Session = false;              // runs the REPL session (jitslab-repl, or Tool)
  std::vector<std::string> ReplArgs; // the jitslab-repl options that select it
  std::string Missing;               // why it cannot be measured ("" when it can)
};

enum class Kind {
  Program, // a whole program under jitslab-run
  Session, // a REPL session on stdin, under jitslab-repl or clang-repl
  Churn,   // link and remove small graphs under ResourceTrackers (child mode)
  Alloc,   // allocate + finalize + deallocate through SimpleSegmentAlloc (child mode)
};

/// One workload: how to run it and what a correct run prints.
struct Workload {
  std::string Id;          // "synth-2000", "sqlite", "churn", "alloc-1t"...
  std::string Description; // one line for the Markdown
  Kind K = Kind::Program;
  // jitslab-run inputs/options, the child's options, or (Session) the script fed on stdin.
  std::vector<std::string> Args;
  // Child workloads: the options of a run that does no work (the system-call baseline), and
  // how many units of work (links, cycles) a run does; per-unit figures divide by it.
  std::vector<std::string> ZeroArgs;
  uint64_t Units = 0;
  std::string Expected;      // the native build's stdout (Session: its expected output)
  int ExpectedStatus = 0;    // and its exit status
  unsigned Objects = 0;      // object files linked (Program, Churn)
  uint64_t ContentBytes = 0; // allocatable bytes of those objects
};

/// The figures of one run, by key ("link_ms", "mappings", "sys_mmap"...).
using Figures = std::map<std::string, double>;

/// The result of one run of one workload with one setting.
struct RunResult {
  bool Ok = false;
  std::string Failure; // one line, when !Ok
  Figures F;
};

/// Paths and tools, from the build (defaults) and the command line.
struct Paths {
  std::string Self;           // this program, for child runs
  std::string JitslabRun;     // jitslab-run
  std::string JitslabRepl;    // jitslab-repl
  std::string ClangRepl;      // the stock clang-repl of the build's LLVM ("" when not installed)
  std::string ReplDir;        // tests/repl: the session script and its expected output
  std::string SynthGen;       // synth-gen
  std::string Clang;          // clang-19
  std::string WorkloadSrc;    // tests/workloads
  std::string Work;           // where workloads are built
  std::string Out;            // where results go
  std::string StockExecutor;  // llvm-jitlink-executor
  std::string LLVMJITLink;    // llvm-jitlink, for the anchor settings (LLVM 22)
  std::string OrcRuntime;     // the ORC runtime the anchors load, as jitslab-run does
  std::string NativeExecutor; // jitslab-executor ("" when not built)
  std::string Strace;         // "" when not installed
};

// --- Workloads.cpp ------------------------------------------------------------------------
struct WorkloadPlan {
  std::vector<unsigned> SynthSizes; // synth-N for each N
  bool Hello = true, Sqlite = true, Zlib = true, Session = true;
  unsigned ChurnUnits = 64, ChurnRounds = 50, ChurnLive = 32;
  uint64_t AllocCycles = 20000;
};
/// Builds every workload of `Plan` under P.Work (skipping what is up to date), runs the native
/// builds for their expected output, and returns the workloads in table order.
llvm::Expected<std::vector<Workload>> prepareWorkloads(const Paths &P, const WorkloadPlan &Plan);

// --- Runner.cpp ---------------------------------------------------------------------------
/// What a finished child process left.
struct ChildExit {
  int Status = -1;   // exit status; -1 could not start, -2 killed by a signal or the timeout
  double WallMs = 0; // start to exit, as seen from here
  double CpuMs = 0;  // user + system time of the child
  std::string Stdout, Stderr;
  std::string Error; // why it could not run, if it could not
};
/// Runs `Program Args...` with stdin from `Stdin` (/dev/null when ""), stdout and stderr
/// captured through files in `TmpDir`, killed after `TimeoutS` seconds.
ChildExit runChild(const std::string &Program, const std::vector<std::string> &Args,
                   const std::string &TmpDir, unsigned TimeoutS, const std::string &Stdin = "");
/// Runs workload `W` with setting `S` once, timed: checks the output against the native
/// build and returns the figures (the tool's --report keys plus wall_ms and cpu_ms).
RunResult runTimed(const Paths &P, const Workload &W, const Setting &S, const std::string &TmpDir);
/// Runs `W` with `S` once under `strace -f -c` (untimed) and returns the counts of
/// mmap, munmap, mprotect, madvise and fallocate as sys_* figures. For the allocator cycle
/// the figures are per cycle: a second run without the timed cycles is subtracted.
RunResult runStraced(const Paths &P, const Workload &W, const Setting &S,
                     const std::string &TmpDir);
/// The system calls counted by runStraced.
extern const char *const CountedSyscalls[5];
/// "" when `strace` works here, else why not (not installed, ptrace refused...).
std::string straceProblem(const Paths &P, const std::string &TmpDir);

// --- InProcess.cpp ------------------------------------------------------------------------
/// The child modes, `jitslab-bench --child=churn|alloc ...`: returns the process exit status.
int childMain(llvm::ArrayRef<std::string> Args);
/// Whether the child mode of kind `K` (Churn, Alloc) can make the manager of setting `Id`:
/// both the in-process ones; churn also the out-of-process ones of the stock executor.
bool childKnowsManager(Kind K, llvm::StringRef Id);
/// Whether workloads of kind `K` run with setting `S`.
inline bool runsWith(Kind K, const Setting &S) {
  switch (K) {
  case Kind::Program:
    return S.Programs;
  case Kind::Session:
    return S.Session;
  case Kind::Churn:
  case Kind::Alloc:
    return S.Tool.empty() && childKnowsManager(K, S.Id);
  }
  return false;
}

// --- Report.cpp ---------------------------------------------------------------------------
/// Everything measured: per workload and setting, the runs in order.
struct Results {
  std::vector<Workload> Workloads;
  std::vector<Setting> Settings;
  std::map<std::pair<std::string, std::string>, std::vector<RunResult>> Timed; // (W, S)
  std::map<std::pair<std::string, std::string>, RunResult> Straced;            // (W, S)
  std::vector<std::string> MissingMeasures; // "what: why" lines for figures not measured
  unsigned Reps = 0;
  bool Quick = false;
  std::string Machine, Date, Command;
  std::string LoadBefore, LoadAfter; // the 1-minute load average around the timed runs
};
/// Writes results.md, results.csv, runs.csv and ratios.svg under `OutDir`; returns the
/// Markdown (also the text of the README/doc regions).
llvm::Expected<std::string> writeReports(const Results &R, const std::string &OutDir);
/// Replaces the text between `<!-- bench:begin -->` and `<!-- bench:end -->` in `File`.
llvm::Error rewriteRegion(const std::string &File, llvm::StringRef Text);

// --- shared helpers -----------------------------------------------------------------------
/// Reads `key=value` lines.
std::map<std::string, std::string> parseKeyValues(llvm::StringRef Text);
/// A string error with `Msg`.
llvm::Error makeErr(const llvm::Twine &Msg);
/// Prints `jitslab-bench: error: Msg` as one line on stderr and exits with status 1.
[[noreturn]] void fail(const llvm::Twine &Msg);
/// The first line of `Text` that is not empty, trimmed ("" if none).
std::string firstLine(llvm::StringRef Text);

} // namespace jitslab::bench

#endif
