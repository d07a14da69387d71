//===- Report.cpp - the results as Markdown and CSV, and the files written -===//
//
// The figures and ratios come from Analysis.h; the overview table from Overview.cpp, the
// targets from Targets.cpp, the chart from Chart.cpp.
//
// Output, in the results directory:
//   results.md   the tables, the targets checked against the numbers, what is missing
//   results.csv  one row per cell and figure: median, min, max, runs, ratio, base
//   runs.csv     every run: repetition, workload, setting, figure, value (or the failure)
//   ratios.svg   time and mapping ratios as bars on a log scale
// The Markdown is also what rewriteRegion puts into README.md and docs/benchmarks.md.
//
//===----------------------------------------------------------------------===//

#include "Analysis.h"

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

std::string markdown(const Analysis &A) {
  const Results &R = A.R;
  std::string Text;
  raw_string_ostream OS(Text);
  OS << "Measured " << R.Date << " (UTC) on " << R.Machine << ", with `" << R.Command
     << "`: " << R.Reps << (R.Reps == 1 ? " repetition" : " repetitions")
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
  overview(OS, A);
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
    if (W.K == Kind::Session) {
      OS << "\n### The REPL session\n\n"
         << W.Description
         << ". jitslab-repl runs it with the setting's manager (and executor), stock clang-repl "
            "as it comes; total: the whole process, start and exit included; the output must "
            "equal tests/repl/session.expected. (×): the ratio to the best of LLVM's settings "
            "and stock clang-repl in the same group.\n\n";
      markdownTable(OS, A, Kind::Session);
      break;
    }
  for (const Workload &W : R.Workloads)
    if (W.K == Kind::Churn) {
      OS << "\n### Churn\n\n"
         << W.Description
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
