//===- Analysis.h - the figures of a benchmark run, for its reports -*- C++ -*-===//
//
// Private to jitslab-bench's report (Report.cpp: tables and CSV; Targets.cpp: the issue's
// targets checked against the numbers; Chart.cpp: the SVG). Every figure of a (workload,
// setting) cell is the median of its timed runs, with the min-max spread for times, and its
// ratio to the best LLVM manager of the same group for that figure: the in-process LLVM
// setting (llvm-inprocess, llvm-mapper) with the lowest median, or the out-of-process one
// (llvm-epc, llvm-shm). A cell with a failed run has no figures; a setting the tools do not
// support says why it is missing.
//
//===----------------------------------------------------------------------------===//
#ifndef JITSLAB_BENCH_ANALYSIS_H
#define JITSLAB_BENCH_ANALYSIS_H

#include "Bench.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace jitslab::bench {

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

/// Whether `Key` is a figure of the untimed strace run.
inline bool straced(llvm::StringRef Key) { return Key.starts_with("sys_"); }

/// The figures shown for workloads of kind `K`, in table order.
std::vector<Column> columns(Kind K);

/// `V` with `Decimals` decimals ("-0.00" printed as "0.00").
std::string num(double V, int Decimals);

/// A ratio as "1.23×", or "" when there is none.
std::string times(std::optional<double> X);

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

  Stat stat(const Workload &W, const Setting &S, llvm::StringRef Key) const {
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
  const Setting *base(const Workload &W, const Setting &S, llvm::StringRef Key) const {
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
  std::optional<double> ratio(const Workload &W, const Setting &S, llvm::StringRef Key,
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
  bool anyHas(Kind K, llvm::StringRef Key) const {
    for (const Workload &W : R.Workloads)
      if (W.K == K)
        for (const Setting &S : R.Settings)
          if (stat(W, S, Key).Has)
            return true;
    return false;
  }

  const Workload *workload(llvm::StringRef Id) const {
    for (const Workload &W : R.Workloads)
      if (W.Id == Id)
        return &W;
    return nullptr;
  }
  const Setting *setting(llvm::StringRef Id) const {
    for (const Setting &S : R.Settings)
      if (S.Id == Id)
        return &S;
    return nullptr;
  }
  std::optional<double> median(llvm::StringRef WId, llvm::StringRef SId,
                               llvm::StringRef Key) const {
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
      Why = llvm::formatv("{0} of {1} runs: {2}", Failed, It->second.size(), First);
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

/// "### Side by side": the tools in process, out of process and out of process with shared
/// memory, on the session and the whole programs, with the executors' start and RSS.
void overview(llvm::raw_ostream &OS, const Analysis &A);
/// "### Targets" of the issues, each checked against the numbers.
void targets(llvm::raw_ostream &OS, const Analysis &A);
/// "### Not measured": the figures this run could not take, and why.
void notMeasured(llvm::raw_ostream &OS, const Analysis &A);
/// The ratios as horizontal bars on a log scale.
std::string svgChart(const Analysis &A);

} // namespace jitslab::bench

#endif
