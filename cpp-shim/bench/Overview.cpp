//===- Overview.cpp - the tools side by side, in and out of process --------===//
//
// One table for the question users ask first: what does running the JIT'd code in another
// process cost, with LLVM's tools and with jitslab's? A row is a way of running (a tool, a
// manager, in process or out of process, shared memory or not); a column is a workload's whole
// process time (the REPL session, then the programs), and then the executor itself: its start
// (how long jitslab-run waited for it, to the end of the handshake, on hello) and its peak RSS (running sqlite), which
// jitslab-run reports. Every cell is the median of the timed runs of the detailed tables
// below, and its ratio to jitslab in process on the same workload.
//
//===----------------------------------------------------------------------===//

#include "Analysis.h"

#include "llvm/ADT/STLExtras.h"

using namespace llvm;

namespace jitslab::bench {
namespace {

/// A way of running: the setting whose programs and whose session it is ("" where it has
/// none: llvm-jitlink runs no session, clang-repl no program).
struct Row {
  const char *Label, *Program, *Session;
};

const Row Rows[] = {
    {"jitslab in process (jitslab-run, jitslab-repl)", "jitslab-dual", "jitslab-dual"},
    {"LLVM's InProcessMemoryManager in process (same drivers)", "llvm-inprocess", "llvm-inprocess"},
    {"stock clang-repl in process", "", "clang-repl"},
    {"jitslab out of process, native protocol (jitslab-executor)", "jitslab-native",
     "jitslab-native"},
    {"jitslab out of process, stock protocol (llvm-jitlink-executor)", "jitslab-stock",
     "jitslab-stock"},
    {"LLVM's SharedMemoryMapper out of process (same drivers, llvm-jitlink-executor)", "llvm-shm",
     "llvm-shm"},
    {"llvm-jitlink -oop-executor", "llvm-jitlink-oop", ""},
    {"llvm-jitlink -oop-executor --use-memmgr=shared", "llvm-jitlink-oop-shm", ""},
    {"stock clang-repl --oop-executor", "", "clang-repl-oop"},
    {"stock clang-repl --oop-executor --use-shared-memory", "", "clang-repl-oop-shm"},
};

/// The setting of `R` for workload `W`, if this run has it.
const Setting *settingFor(const Analysis &A, const Row &R, const Workload &W) {
  return A.setting(W.K == Kind::Session ? R.Session : R.Program);
}

/// "median (ratio×)" of `Key` for `R` on `W`, the ratio against the first row; "–" when the
/// cell was not measured, "failed" when a run failed.
std::string cell(const Analysis &A, const Row &R, const Workload &W, StringRef Key, double Scale,
                 int Decimals, bool WithRatio) {
  const Setting *S = settingFor(A, R, W);
  if (!S || A.status(W, *S) == Status::Missing)
    return "–";
  if (A.status(W, *S) == Status::Failed)
    return "failed";
  Stat V = A.stat(W, *S, Key);
  if (!V.Has)
    return "–";
  std::string Text = num(V.Median * Scale, Decimals);
  const Setting *Base = settingFor(A, Rows[0], W);
  if (WithRatio && Base)
    if (Stat B = A.stat(W, *Base, Key); B.Has && B.Median > 0)
      Text += " (" + times(V.Median / B.Median) + ")";
  return Text;
}

} // namespace

void overview(raw_ostream &OS, const Analysis &A) {
  std::vector<const Workload *> Timed;
  for (const char *Id : {"repl-session", "hello", "sqlite", "zlib", "synth-2000"})
    if (const Workload *W = A.workload(Id))
      Timed.push_back(W);
  const Workload *Hello = A.workload("hello"), *Sqlite = A.workload("sqlite");
  if (Timed.empty())
    return;
  OS << "\n### Side by side: in process, out of process, shared memory\n\n"
     << "Whole-process time in ms (start, work, exit: what a user waits for), medians of the "
        "runs in the tables below, with the ratio to jitslab in process on the same "
        "workload. The executor's start is how long jitslab-run waited for it, to the end of the "
        "ORC handshake, on hello (jitslab-run starts it before LLVM's static constructors "
        "run); its peak RSS is taken running sqlite. – : the "
        "tool does not run that workload, or the figure is not reported.\n\n";
  OS << "| how |";
  std::string Rule = "|---|";
  for (const Workload *W : Timed) {
    OS << " " << W->Id << " ms |";
    Rule += "---:|";
  }
  OS << " executor start ms | executor peak RSS MiB |\n" << Rule << "---:|---:|\n";
  for (const Row &R : Rows) {
    bool Any = any_of(Timed, [&](const Workload *W) {
      const Setting *S = settingFor(A, R, *W);
      return S && A.status(*W, *S) != Status::Missing;
    });
    if (!Any)
      continue;
    OS << "| " << R.Label << " |";
    for (const Workload *W : Timed)
      OS << " " << cell(A, R, *W, "wall_ms", 1, 0, /*WithRatio=*/true) << " |";
    OS << " " << (Hello ? cell(A, R, *Hello, "executor_start_ms", 1, 1, false) : "–") << " |"
       << " " << (Sqlite ? cell(A, R, *Sqlite, "executor_peak_rss_kib", 1 / 1024.0, 1, false) : "–")
       << " |\n";
  }
}

} // namespace jitslab::bench
