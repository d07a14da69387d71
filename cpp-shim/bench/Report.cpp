//===- Report.cpp - medians, ratios, and the results as Markdown, CSV, SVG ===//
//
// Every figure of a (workload, setting) cell is the median of its timed runs, with the
// min-max spread for times, and its ratio to the best LLVM manager of the same group for that
// figure: the in-process LLVM setting (llvm-inprocess, llvm-mapper) with the lowest median,
// or the out-of-process one (llvm-epc, llvm-shm). A cell with a failed run shows the failure
// and no figures; a setting the tools do not support shows why it is missing.
//
// Output, in the results directory:
//   results.md   the tables, the targets checked against the numbers, what is missing
//   results.csv  one row per cell and figure: median, min, max, runs, ratio, base
//   runs.csv     every run: repetition, workload, setting, figure, value (or the failure)
//   ratios.svg   time and mapping ratios as bars on a log scale
// The Markdown is also what rewriteRegion puts into README.md and docs/benchmarks.md.
//
//===----------------------------------------------------------------------===//

#include "Bench.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace llvm;

namespace jitslab::bench {
namespace {

/// One figure as a table column.
struct Column {
  const char *Key;    // figure key in a run's report (sys_* from the strace pass)
  const char *Header; // Markdown header
  const char *Unit;   // for the CSV
  double Scale;       // applied to the figure (KiB -> MiB...)
  int Decimals;
  bool Spread;   // also a min-max column
  bool Optional; // shown only when some run reports it (the out-of-process keys)
  // A ratio is given only over a base of at least this much: per-unit system-call counts
  // near zero are differences of two runs, and their ratios would be noise.
  double MinBase = 0;
};

bool straced(StringRef Key) { return Key.starts_with("sys_"); }

std::vector<Column> columns(Kind K) {
  const double MiB = 1 / 1024.0;
  switch (K) {
  case Kind::Program:
    return {{"link_ms", "link ms", "ms", 1, 1, true, false},
            {"wall_ms", "total ms", "ms", 1, 1, true, false},
            {"cpu_ms", "CPU ms", "ms", 1, 0, false, false},
            {"mappings", "mappings", "count", 1, 0, false, false},
            {"peak_rss_kib", "peak RSS MiB", "MiB", MiB, 1, false, false},
            {"rpc_calls", "RPCs", "count", 1, 0, false, true},
            {"rpc_bytes_sent", "RPC KiB sent", "KiB", MiB, 0, false, true},
            {"rpc_bytes_received", "RPC KiB received", "KiB", MiB, 0, false, true},
            {"executor_peak_rss_kib", "executor peak RSS MiB", "MiB", MiB, 1, false, true},
            {"executor_mappings", "executor mappings", "count", 1, 0, false, true},
            {"executor_shmem_kib", "executor shared MiB", "MiB", MiB, 1, false, true},
            {"sys_mmap", "mmap", "count", 1, 0, false, false},
            {"sys_munmap", "munmap", "count", 1, 0, false, false},
            {"sys_mprotect", "mprotect", "count", 1, 0, false, false},
            {"sys_madvise", "madvise", "count", 1, 0, false, false},
            {"sys_fallocate", "fallocate", "count", 1, 0, false, false}};
  case Kind::Churn:
    return {{"per_link_us", "µs per link", "us", 1, 1, true, false},
            {"held_anon_kib", "JIT memory held KiB", "KiB", 1, 0, false, false},
            {"held_kib", "RSS held KiB", "KiB", 1, 0, false, false},
            {"held_mappings", "mappings held", "count", 1, 0, false, false},
            {"max_extra_mappings", "most extra mappings", "count", 1, 0, false, false},
            {"peak_rss_kib", "peak RSS MiB", "MiB", MiB, 1, false, false},
            {"rpc_per_link", "RPCs /link", "per link", 1, 2, false, true},
            {"rpc_bytes_sent_per_link", "bytes sent /link", "bytes", 1, 0, false, true},
            {"executor_held_kib", "executor RSS held KiB", "KiB", 1, 0, false, true},
            {"executor_held_shmem_kib", "executor shared held KiB", "KiB", 1, 0, false, true},
            {"executor_held_mappings", "executor mappings held", "count", 1, 0, false, true},
            {"executor_max_extra_mappings", "executor most extra mappings", "count", 1, 0,
             false, true},
            {"sys_mmap", "mmap /link", "per link", 1, 2, false, false, 0.5},
            {"sys_munmap", "munmap /link", "per link", 1, 2, false, false, 0.5},
            {"sys_mprotect", "mprotect /link", "per link", 1, 2, false, false, 0.5},
            {"sys_madvise", "madvise /link", "per link", 1, 2, false, false, 0.5},
            {"sys_fallocate", "fallocate /link", "per link", 1, 2, false, false, 0.5}};
  case Kind::Alloc:
    return {{"ns_per_cycle", "ns per cycle", "ns", 1, 0, true, false},
            {"sys_mmap", "mmap /cycle", "per cycle", 1, 2, false, false, 0.5},
            {"sys_munmap", "munmap /cycle", "per cycle", 1, 2, false, false, 0.5},
            {"sys_mprotect", "mprotect /cycle", "per cycle", 1, 2, false, false, 0.5},
            {"sys_madvise", "madvise /cycle", "per cycle", 1, 2, false, false, 0.5},
            {"sys_fallocate", "fallocate /cycle", "per cycle", 1, 2, false, false, 0.5}};
  }
  return {};
}

std::string num(double V, int Decimals) {
  char B[64];
  std::snprintf(B, sizeof B, "%.*f", Decimals, V);
  std::string S = B;
  if (S[0] == '-' && S.find_first_not_of("-0.") == std::string::npos)
    S.erase(0, 1); // -0.00 is 0.00: a difference of two runs that rounds to nothing
  return S;
}

std::string times(std::optional<double> X) {
  return X ? num(*X, 2) + "×" : std::string();
}

struct Stat {
  bool Has = false;
  double Median = 0, Min = 0, Max = 0;
  size_t Runs = 0;
};

enum class Status { Ok, Failed, Missing };

/// The state of each (workload, setting) cell, its figures and their ratios.
class Analysis {
public:
  explicit Analysis(const Results &R) : R(R) {}

  /// Whether the cell was measured; `Why` says why not, or what failed.
  Status status(const Workload &W, const Setting &S, std::string *Why = nullptr) const {
    std::string Reason;
    Status St = statusOf(W, S, Reason);
    if (Why)
      *Why = Reason;
    return St;
  }

  Stat stat(const Workload &W, const Setting &S, StringRef Key) const {
    Stat St;
    if (status(W, S) != Status::Ok)
      return St;
    std::vector<double> V;
    if (straced(Key)) {
      auto It = R.Straced.find({W.Id, S.Id});
      if (It != R.Straced.end())
        if (auto F = It->second.F.find(Key.str()); F != It->second.F.end())
          V.push_back(F->second);
    } else {
      for (const RunResult &Run : R.Timed.at({W.Id, S.Id}))
        if (auto F = Run.F.find(Key.str()); F != Run.F.end())
          V.push_back(F->second);
    }
    if (V.empty())
      return St;
    std::sort(V.begin(), V.end());
    St.Has = true;
    St.Runs = V.size();
    St.Min = V.front();
    St.Max = V.back();
    St.Median = V.size() % 2 ? V[V.size() / 2] : (V[V.size() / 2 - 1] + V[V.size() / 2]) / 2;
    return St;
  }

  /// The LLVM setting of `S`'s group with the lowest median of `Key` on `W`.
  const Setting *base(const Workload &W, const Setting &S, StringRef Key) const {
    const Setting *Best = nullptr;
    double BestV = 0;
    for (const Setting &L : R.Settings)
      if (L.LLVM && L.Where == S.Where)
        if (Stat St = stat(W, L, Key); St.Has && (!Best || St.Median < BestV)) {
          Best = &L;
          BestV = St.Median;
        }
    return Best;
  }

  /// The median over the base's median, when both exist and the base is above `MinBase`
  /// (and above zero).
  std::optional<double> ratio(const Workload &W, const Setting &S, StringRef Key,
                              double MinBase = 0) const {
    Stat Mine = stat(W, S, Key);
    const Setting *B = base(W, S, Key);
    if (!Mine.Has || !B)
      return std::nullopt;
    Stat Base = stat(W, *B, Key);
    if (Base.Median <= 0 || Base.Median < MinBase)
      return std::nullopt;
    return Mine.Median / Base.Median;
  }

  /// Whether any setting has figure `Key` on a workload of kind `K`.
  bool anyHas(Kind K, StringRef Key) const {
    for (const Workload &W : R.Workloads)
      if (W.K == K)
        for (const Setting &S : R.Settings)
          if (stat(W, S, Key).Has)
            return true;
    return false;
  }

  const Workload *workload(StringRef Id) const {
    for (const Workload &W : R.Workloads)
      if (W.Id == Id)
        return &W;
    return nullptr;
  }
  const Setting *setting(StringRef Id) const {
    for (const Setting &S : R.Settings)
      if (S.Id == Id)
        return &S;
    return nullptr;
  }
  std::optional<double> median(StringRef WId, StringRef SId, StringRef Key) const {
    const Workload *W = workload(WId);
    const Setting *S = setting(SId);
    if (!W || !S)
      return std::nullopt;
    Stat St = stat(*W, *S, Key);
    return St.Has ? std::optional<double>(St.Median) : std::nullopt;
  }

  const Results &R;

private:
  Status statusOf(const Workload &W, const Setting &S, std::string &Why) const {
    if (!S.Missing.empty()) {
      Why = S.Missing;
      return Status::Missing;
    }
    if (!runsWith(W.K, S)) {
      Why = "the harness does not run this workload with this setting";
      return Status::Missing;
    }
    auto It = R.Timed.find({W.Id, S.Id});
    if (It == R.Timed.end() || It->second.empty()) {
      Why = "not run";
      return Status::Missing;
    }
    size_t Failed = 0;
    std::string First;
    for (const RunResult &Run : It->second)
      if (!Run.Ok && Failed++ == 0)
        First = Run.Failure;
    if (Failed) {
      Why = formatv("{0} of {1} runs: {2}", Failed, It->second.size(), First);
      return Status::Failed;
    }
    auto St = R.Straced.find({W.Id, S.Id});
    if (St != R.Straced.end() && !St->second.Ok) {
      Why = "under strace: " + St->second.Failure;
      return Status::Failed;
    }
    return Status::Ok;
  }
};

/// The columns of kind `K` that have something to show in this run.
std::vector<Column> shownColumns(const Analysis &A, Kind K) {
  std::vector<Column> Shown;
  for (const Column &C : columns(K))
    if ((!C.Optional && !straced(C.Key)) || A.anyHas(K, C.Key))
      Shown.push_back(C);
  return Shown;
}

/// Whether the table of kind `K` lists setting `S` (the allocator cycle runs in process only;
/// its out-of-process settings are listed under "Not measured").
bool listed(const Setting &S, Kind K) { return runsWith(K, S); }

void markdownTable(raw_ostream &OS, const Analysis &A, Kind K) {
  std::vector<Column> Cols = shownColumns(A, K);
  OS << "| workload | setting |";
  std::string Rule = "|---|---|";
  for (const Column &C : Cols) {
    OS << " " << C.Header << " |" << (C.Spread ? " min–max |" : "");
    Rule += C.Spread ? "---:|---:|" : "---:|";
  }
  OS << "\n" << Rule << "\n";
  for (const Workload &W : A.R.Workloads) {
    if (W.K != K)
      continue;
    bool FirstRow = true;
    for (const Setting &S : A.R.Settings) {
      if (!listed(S, K))
        continue;
      OS << "| " << (FirstRow ? W.Id : "") << " | " << S.Id << " |";
      FirstRow = false;
      std::string Why;
      Status St = A.status(W, S, &Why);
      if (St != Status::Ok) {
        OS << " **" << (St == Status::Failed ? "failed" : "missing") << "**: " << Why << " |";
        size_t Rest = 0;
        for (const Column &C : Cols)
          Rest += C.Spread ? 2 : 1;
        for (size_t I = 1; I < Rest; ++I)
          OS << " – |";
        OS << "\n";
        continue;
      }
      for (const Column &C : Cols) {
        Stat V = A.stat(W, S, C.Key);
        std::string Cell = "–";
        if (V.Has) {
          Cell = num(V.Median * C.Scale, C.Decimals);
          if (auto X = A.ratio(W, S, C.Key, C.MinBase))
            Cell += " (" + times(X) + ")";
        }
        OS << " " << Cell << " |";
        if (C.Spread)
          OS << " "
             << (V.Has ? num(V.Min * C.Scale, C.Decimals) + "–" + num(V.Max * C.Scale, C.Decimals)
                       : "–")
             << " |";
      }
      OS << "\n";
    }
  }
}

/// "met" when `Got` <= `Limit`, else how far over it is.
std::string atMost(double Got, double Limit) {
  if (Got <= Limit)
    return "**met**";
  return formatv("**missed** by {0:f0}% ({1} where at most {2} is the target)",
                 (Got / Limit - 1) * 100, times(Got), times(Limit))
      .str();
}

/// "met" when `Got` >= `Limit`, else how far short it falls.
std::string atLeast(double Got, double Limit) {
  if (Got >= Limit)
    return "**met**";
  return formatv("**missed**: {0} where at least {1} is the target ({2:f0}% short)", times(Got),
                 times(Limit), (1 - Got / Limit) * 100)
      .str();
}

void targets(raw_ostream &OS, const Analysis &A) {
  OS << "### Targets (issue 5)\n\n";
  // In process, synth-2000.
  if (const Workload *W = A.workload("synth-2000")) {
    const Setting *J = A.setting("jitslab-dual");
    for (auto [Key, What] : {std::pair<const char *, const char *>{"link_ms", "link time"},
                             {"wall_ms", "total time"}}) {
      auto X = A.ratio(*W, *J, Key);
      const Setting *B = A.base(*W, *J, Key);
      if (X && B)
        OS << "- In process, synth-2000, jitslab ≤ 0.9× the best LLVM manager (" << What
           << "): " << times(X) << " of " << B->Id << ", " << atMost(*X, 0.9) << ".\n";
      else
        OS << "- In process, synth-2000, jitslab ≤ 0.9× the best LLVM manager (" << What
           << "): not measured (jitslab-dual or every LLVM setting failed or is missing).\n";
    }
  } else {
    OS << "- In process, synth-2000: not measured in this run (no synth-2000).\n";
  }
  for (const char *WId : {"alloc-1t", "alloc-2t"}) {
    auto J = A.median(WId, "jitslab-dual", "ns_per_cycle");
    auto M = A.median(WId, "llvm-mapper", "ns_per_cycle");
    auto Single = A.median(WId, "jitslab-single", "ns_per_cycle");
    if (J && M) {
      OS << "- Allocator cycle (" << WId << ") ≥ 5× faster than MapperJITLinkMemoryManager: "
         << "jitslab dual view " << num(*J, 0) << " ns against " << num(*M, 0) << " ns, "
         << times(*M / *J) << " faster, " << atLeast(*M / *J, 5);
      if (Single)
        OS << "; the single view: " << times(*M / *Single) << ", " << atLeast(*M / *Single, 5);
      OS << ".\n";
    } else {
      OS << "- Allocator cycle (" << WId << "): not measured in this run.\n";
    }
  }
  if (A.workload("synth-200") && A.workload("synth-2000")) {
    OS << "- Memory mappings bounded independent of the number of objects (synth-200 → "
          "synth-2000, 1800 more objects; bounded here means at most 1 more mapping per 100 "
          "more objects):";
    std::vector<std::string> Parts;
    for (const Setting &S : A.R.Settings) {
      // Out of process the JIT'd memory is the executor's: count its mappings there.
      const char *Key = S.Where == Group::InProcess ? "mappings" : "executor_mappings";
      auto Small = A.median("synth-200", S.Id, Key);
      auto Large = A.median("synth-2000", S.Id, Key);
      if (!Small || !Large)
        continue;
      double Growth = *Large - *Small;
      std::string Part = S.Id + (S.Where == Group::InProcess ? " " : " (executor) ") +
                         num(*Small, 0) + " → " + num(*Large, 0);
      if (!S.LLVM)
        Part += Growth <= 18 ? " (**met**)"
                             : " (**missed**: " + num(Growth / 18, 1) + "× the growth allowed)";
      Parts.push_back(Part);
    }
    OS << " " << join(Parts, "; ") << ".\n";
  } else {
    OS << "- Memory mappings bounded: not measured in this run (needs synth-200 and "
          "synth-2000).\n";
  }
  // Out of process.
  const Setting *Native = A.setting("jitslab-native");
  const Workload *W = A.workload("synth-2000");
  std::string Why;
  if (!W) {
    OS << "- Out of process, synth-2000: not measured in this run (no synth-2000).\n";
  } else if (A.status(*W, *Native, &Why) != Status::Ok) {
    OS << "- Out of process, synth-2000 (jitslab native ≤ 0.35× LLVM's shared-memory manager "
          "and ≤ 1.5× jitslab in process; ≤ 0.25 memory-manager + eh-frame RPCs per object; "
          "executor JIT memory ≤ 2× the content): not measured, jitslab-native is "
       << (A.status(*W, *Native) == Status::Failed ? "failed: " : "missing: ") << Why << ".\n";
  } else {
    auto N = A.median("synth-2000", "jitslab-native", "wall_ms");
    auto Shm = A.median("synth-2000", "llvm-shm", "wall_ms");
    auto In = A.median("synth-2000", "jitslab-dual", "wall_ms");
    if (N && Shm)
      OS << "- Out of process, synth-2000, jitslab native ≤ 0.35× llvm-shm (total time): "
         << times(*N / *Shm) << ", " << atMost(*N / *Shm, 0.35) << ".\n";
    if (N && In)
      OS << "- Out of process, synth-2000, jitslab native ≤ 1.5× jitslab in process (total "
            "time): "
         << times(*N / *In) << ", " << atMost(*N / *In, 1.5) << ".\n";
    if (auto Rpc = A.median("synth-2000", "jitslab-native", "rpc_calls"))
      OS << "- RPCs per linked object ≤ 0.25: " << num(*Rpc / W->Objects, 3)
         << " (all RPCs the transport counted, an upper bound of the memory-manager and "
            "eh-frame ones), "
         << atMost(*Rpc / W->Objects, 0.25) << ".\n";
    if (auto Shm = A.median("synth-2000", "jitslab-native", "executor_shmem_kib"))
      OS << "- Executor JIT memory ≤ 2× the content: " << num(*Shm / 1024, 1)
         << " MiB of shared memory resident in the executor for "
         << num(W->ContentBytes / 1048576.0, 1) << " MiB of content ("
         << times(*Shm * 1024 / W->ContentBytes) << "), "
         << atMost(*Shm * 1024 / W->ContentBytes, 2) << ".\n";
    else if (auto Rss = A.median("synth-2000", "jitslab-native", "executor_peak_rss_kib"))
      OS << "- Executor JIT memory ≤ 2× the content: the executor's whole peak RSS is "
         << num(*Rss / 1024, 1) << " MiB for " << num(W->ContentBytes / 1048576.0, 1)
         << " MiB of content (" << times(*Rss * 1024 / W->ContentBytes)
         << "; an upper bound: the executor's own memory is included).\n";
  }
  OS << "\n";
}

void notMeasured(raw_ostream &OS, const Analysis &A) {
  std::vector<std::string> Lines = A.R.MissingMeasures;
  for (const Setting &S : A.R.Settings)
    if (!S.Missing.empty())
      Lines.push_back(S.Id + ": " + S.Missing);
  if (any_of(A.R.Settings, [](const Setting &S) { return !runsWith(Kind::Alloc, S); }))
    Lines.push_back("the allocator cycle out of process: the harness runs it in process only "
                    "(settings llvm-inprocess, llvm-mapper, jitslab-dual, jitslab-single); "
                    "its target is an in-process one");
  if (!A.anyHas(Kind::Program, "rpc_calls"))
    Lines.push_back("RPC counts and bytes, executor peak RSS: no run reported rpc_* or "
                    "executor_peak_rss_kib (jitslab-run reports them out of process)");
  Lines.push_back("executor JIT memory for llvm-epc: it is anonymous memory among the "
                  "executor's own; with the shared-memory managers it is the executor's "
                  "resident shared memory at exit (executor shared MiB)");
  OS << "### Not measured\n\n";
  for (const std::string &L : Lines)
    OS << "- " << L << "\n";
}

std::string markdown(const Analysis &A) {
  const Results &R = A.R;
  std::string Text;
  raw_string_ostream OS(Text);
  OS << "Measured " << R.Date << " (UTC) on " << R.Machine << ", with `" << R.Command << "`: "
     << R.Reps << (R.Reps == 1 ? " repetition" : " repetitions")
     << (R.Quick ? " (--quick: small sizes, for correctness; the times mean little)" : "")
     << ", the settings interleaved within each and their order rotated (load average "
     << R.LoadBefore << " before the timed runs, " << R.LoadAfter
     << " after); medians, with min–max over the repetitions for times. "
     << (R.Straced.empty() ? "System calls were not counted (see Not measured). "
                           : "System calls come from one more, untimed run under "
                             "`strace -f -c`. ")
     << "Every run's stdout and exit status matched the native build's unless a cell says it "
        "failed. (×) is the ratio to the best LLVM manager of the same "
        "group for that figure (in process: llvm-inprocess, llvm-mapper; out of process: "
        "llvm-epc, llvm-shm); lower is better.\n\n";
  OS << "| setting | manager | status |\n|---|---|---|\n";
  for (const Setting &S : R.Settings)
    OS << "| " << S.Id << " | " << S.Label << " | "
       << (S.Missing.empty() ? "measured" : "missing: " + S.Missing) << " |\n";
  if (any_of(R.Workloads, [](const Workload &W) { return W.K == Kind::Program; })) {
    OS << "\n### Whole programs under jitslab-run\n\n";
    for (const Workload &W : R.Workloads)
      if (W.K == Kind::Program)
        OS << "- " << W.Id << ": " << W.Description << "\n";
    OS << "\nlink: jitslab-run's link phase (every object linked and initialized); total: the "
          "whole process, as seen by the harness; CPU: user + system time of the process; "
          "mappings and peak RSS: the process's at exit; system calls: the whole run.\n\n";
    markdownTable(OS, A, Kind::Program);
  }
  for (const Workload &W : R.Workloads)
    if (W.K == Kind::Churn) {
      OS << "\n### Churn\n\n" << W.Description
         << ". Time per link covers link, call and removal; RSS and mappings held: what is "
            "left over a baseline taken before the first link, once everything is removed "
            "(JIT memory: resident pages of anonymous and memfd mappings outside the malloc "
            "heap; RSS: the whole process); most extra mappings: the most seen at a round's "
            "end. Out of process the same for the executor (shared: its resident shared "
            "memory, where the shared-memory managers keep JIT memory; llvm-epc's is anonymous "
            "memory, in its RSS), and the calls and bytes sent to it per link, counted at the "
            "transport (the call into each unit is one of them); system calls count both "
            "processes.\n\n";
      markdownTable(OS, A, Kind::Churn);
      break;
    }
  bool AllocHeader = false;
  for (const Workload &W : R.Workloads)
    if (W.K == Kind::Alloc) {
      if (!AllocHeader)
        OS << "\n### Allocator cycle\n\n";
      AllocHeader = true;
      OS << "- " << W.Id << ": " << W.Description << "\n";
    }
  if (AllocHeader) {
    OS << "\n";
    markdownTable(OS, A, Kind::Alloc);
  }
  OS << "\n";
  targets(OS, A);
  notMeasured(OS, A);
  return Text;
}

std::string csvField(StringRef S) {
  if (!S.contains(',') && !S.contains('"') && !S.contains('\n'))
    return S.str();
  std::string Q = "\"";
  for (char C : S)
    Q += C == '"' ? std::string("\"\"") : std::string(1, C);
  return Q + "\"";
}

std::string csvRow(std::initializer_list<std::string> Fields) {
  std::string Row;
  for (const std::string &F : Fields)
    Row += (Row.empty() ? "" : ",") + csvField(F);
  return Row + "\n";
}

std::string resultsCsv(const Analysis &A) {
  std::string Text = csvRow({"workload", "setting", "group", "status", "figure", "unit", "median",
                             "min", "max", "runs", "ratio", "ratio_base", "note"});
  for (const Workload &W : A.R.Workloads)
    for (const Setting &S : A.R.Settings) {
      const std::string Group = S.Where == Group::InProcess ? "in-process" : "out-of-process";
      std::string Why;
      Status St = A.status(W, S, &Why);
      if (St != Status::Ok) {
        Text += csvRow({W.Id, S.Id, Group, St == Status::Failed ? "failed" : "missing", "", "", "",
                        "", "", "", "", "", Why});
        continue;
      }
      for (const Column &C : columns(W.K)) {
        Stat V = A.stat(W, S, C.Key);
        if (!V.Has)
          continue;
        auto X = A.ratio(W, S, C.Key, C.MinBase);
        const Setting *B = A.base(W, S, C.Key);
        Text += csvRow({W.Id, S.Id, Group, "ok", C.Key, C.Unit, num(V.Median * C.Scale, 4),
                        num(V.Min * C.Scale, 4), num(V.Max * C.Scale, 4), std::to_string(V.Runs),
                        X ? num(*X, 4) : "", B ? B->Id : "", ""});
      }
    }
  return Text;
}

std::string runsCsv(const Results &R) {
  std::string Text = csvRow({"run", "workload", "setting", "status", "figure", "value", "note"});
  auto Add = [&](const std::string &Run, const std::string &W, const std::string &S,
                 const RunResult &X) {
    if (!X.Ok) {
      Text += csvRow({Run, W, S, "failed", "", "", X.Failure});
      return;
    }
    for (auto &[K, V] : X.F)
      Text += csvRow({Run, W, S, "ok", K, num(V, 4), ""});
  };
  for (auto &[Key, Runs] : R.Timed)
    for (size_t I = 0; I < Runs.size(); ++I)
      Add(std::to_string(I + 1), Key.first, Key.second, Runs[I]);
  for (auto &[Key, X] : R.Straced)
    Add("strace", Key.first, Key.second, X);
  return Text;
}

// --- the chart ------------------------------------------------------------------------------

std::string xmlEscape(StringRef S) {
  std::string E;
  for (char C : S)
    E += C == '<' ? "&lt;" : C == '>' ? "&gt;" : C == '&' ? "&amp;" : std::string(1, C);
  return E;
}

/// Horizontal bars of ratios on a log2 axis centred on 1×, one panel per figure, one group
/// per workload, one colour per setting.
std::string svgChart(const Analysis &A) {
  struct Panel {
    std::string Title;
    std::vector<std::pair<const Workload *, const char *>> Rows; // workload, figure
  };
  std::vector<Panel> Panels(4);
  Panels[0].Title = "Time: link (programs), per link (churn), per cycle (allocator)";
  Panels[1].Title = "Total time of the process (programs)";
  Panels[2].Title = "Memory mappings of the linking process at exit (programs)";
  Panels[3].Title = "Memory mappings of the executor at exit (programs, out of process)";
  for (const Workload &W : A.R.Workloads) {
    const char *Time = W.K == Kind::Program ? "link_ms"
                       : W.K == Kind::Churn ? "per_link_us"
                                            : "ns_per_cycle";
    Panels[0].Rows.push_back({&W, Time});
    if (W.K == Kind::Program) {
      Panels[1].Rows.push_back({&W, "wall_ms"});
      Panels[2].Rows.push_back({&W, "mappings"});
      Panels[3].Rows.push_back({&W, "executor_mappings"});
    }
  }
  static const char *const Colours[] = {"#8c8c8c", "#5b8db8", "#d9822b", "#e8b04a",
                                        "#6a9f58", "#9b6bb0", "#c0504d", "#4bacc6"};
  // The axis: powers of two that cover every ratio.
  double Lo = 0.5, Hi = 2;
  for (const Panel &P : Panels)
    for (auto [W, Key] : P.Rows)
      for (const Setting &S : A.R.Settings)
        if (auto X = A.ratio(*W, S, Key); X && *X > 0) {
          Lo = std::min(Lo, *X);
          Hi = std::max(Hi, *X);
        }
  const int LoExp = static_cast<int>(std::floor(std::log2(Lo)));
  const int HiExp = static_cast<int>(std::ceil(std::log2(Hi)));
  const double Left = 120, Width = 640, Bar = 11, Gap = 8;
  auto X = [&](double R) { return Left + (std::log2(R) - LoExp) / (HiExp - LoExp) * Width; };

  std::string Body;
  raw_string_ostream OS(Body);
  double Y = 20;
  OS << "<text x=\"10\" y=\"" << Y << "\" font-weight=\"bold\">Ratio to the best LLVM manager "
     << "of the same group (log scale; lower is better)</text>\n";
  Y += 18;
  double LegendX = 10;
  for (size_t I = 0; I < A.R.Settings.size(); ++I) {
    const Setting &S = A.R.Settings[I];
    if (!S.Missing.empty())
      continue;
    OS << formatv("<rect x=\"{0}\" y=\"{1}\" width=\"10\" height=\"10\" fill=\"{2}\"/>"
                  "<text x=\"{3}\" y=\"{4}\">{5}</text>\n",
                  LegendX, Y - 9, Colours[I % 8], LegendX + 14, Y, S.Id);
    LegendX += 24 + 7.5 * S.Id.size();
  }
  Y += 16;
  for (const Panel &P : Panels) {
    if (P.Rows.empty())
      continue;
    OS << "<text x=\"10\" y=\"" << Y + 12 << "\" font-weight=\"bold\">" << xmlEscape(P.Title)
       << "</text>\n";
    Y += 22;
    const double Top = Y;
    for (auto [W, Key] : P.Rows) {
      double GroupTop = Y;
      for (size_t I = 0; I < A.R.Settings.size(); ++I) {
        const Setting &S = A.R.Settings[I];
        auto R = A.ratio(*W, S, Key);
        if (!R || *R <= 0)
          continue;
        double X0 = X(1), X1 = X(*R);
        OS << formatv("<rect x=\"{0:f1}\" y=\"{1:f1}\" width=\"{2:f1}\" height=\"{3}\" "
                      "fill=\"{4}\"><title>{5} {6}: {7}</title></rect>"
                      "<text x=\"{8:f1}\" y=\"{9:f1}\" font-size=\"9\">{7}</text>\n",
                      std::min(X0, X1), Y, std::max(std::abs(X1 - X0), 1.0), Bar,
                      Colours[I % 8], W->Id, S.Id, times(R), std::max(X0, X1) + 3, Y + Bar - 2);
        Y += Bar + 1;
      }
      if (Y == GroupTop)
        continue;
      OS << formatv("<text x=\"10\" y=\"{0:f1}\">{1}</text>\n", (GroupTop + Y) / 2 + 4, W->Id);
      Y += Gap;
    }
    for (int E = LoExp; E <= HiExp; ++E) {
      double R = std::ldexp(1.0, E);
      OS << formatv("<line x1=\"{0:f1}\" y1=\"{1:f1}\" x2=\"{0:f1}\" y2=\"{2:f1}\" "
                    "stroke=\"{3}\" stroke-width=\"{4}\"/>"
                    "<text x=\"{0:f1}\" y=\"{5:f1}\" font-size=\"9\" "
                    "text-anchor=\"middle\">{6}×</text>\n",
                    X(R), Top - 4, Y - Gap + 2, E == 0 ? "#000" : "#ccc", E == 0 ? 1.2 : 0.6,
                    Y - Gap + 12, E >= 0 ? num(R, 0) : "1/" + num(1 / R, 0));
    }
    Y += 16;
  }
  std::string Svg;
  raw_string_ostream S(Svg);
  S << formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1:f0}\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n",
               Left + Width + 60, Y + 10)
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << Body << "</svg>\n";
  return Svg;
}

Error writeFile(const std::string &Dir, StringRef Name, StringRef Text) {
  SmallString<256> P(Dir);
  sys::path::append(P, Name);
  std::error_code EC;
  raw_fd_ostream OS(P, EC);
  if (EC)
    return makeErr("cannot write " + P + ": " + EC.message());
  OS << Text;
  return Error::success();
}

} // namespace

Expected<std::string> writeReports(const Results &R, const std::string &OutDir) {
  if (std::error_code EC = sys::fs::create_directories(OutDir))
    return makeErr("cannot create " + OutDir + ": " + EC.message());
  Analysis A(R);
  std::string Md = markdown(A);
  for (auto [Name, Text] : {std::pair<const char *, std::string>{"results.md", Md},
                            {"results.csv", resultsCsv(A)},
                            {"runs.csv", runsCsv(R)},
                            {"ratios.svg", svgChart(A)}})
    if (Error E = writeFile(OutDir, Name, Text))
      return std::move(E);
  return Md;
}

Error rewriteRegion(const std::string &File, StringRef Text) {
  auto Buf = MemoryBuffer::getFile(File, /*IsText=*/true);
  if (!Buf)
    return makeErr("cannot read " + File + ": " + Buf.getError().message());
  StringRef Old = (*Buf)->getBuffer();
  // One region per LLVM major: the results of each are kept side by side.
  const std::string Major = "llvm-" + std::to_string(LLVM_VERSION_MAJOR);
  const std::string Begin = "<!-- bench:begin " + Major, End = "<!-- bench:end " + Major + " -->";
  size_t B = Old.find(Begin), E = Old.find(End);
  if (B == StringRef::npos || E == StringRef::npos || E < B)
    return makeErr(File + " has no '" + Begin + " ... -->' ... '" + End +
                   "' region for the results");
  size_t AfterBegin = Old.find('\n', B);
  if (AfterBegin == StringRef::npos || AfterBegin > E)
    return makeErr(File + ": the bench:begin marker must end its line");
  std::string New = Old.take_front(AfterBegin + 1).str() + Text.str();
  if (!New.empty() && New.back() != '\n')
    New += "\n";
  New += Old.drop_front(E).str();
  return writeFile(std::string(sys::path::parent_path(File)).empty()
                       ? "."
                       : std::string(sys::path::parent_path(File)),
                   sys::path::filename(File), New);
}

} // namespace jitslab::bench
