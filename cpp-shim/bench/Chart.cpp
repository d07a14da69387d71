//===- Chart.cpp - the ratios of a run as an SVG chart ----------------------===//
//
// ratios.svg: horizontal bars of ratios on a log2 axis centred on 1x, one panel per figure,
// one group per workload, one colour per setting.
//
//===----------------------------------------------------------------------===//

#include "Analysis.h"

#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace llvm;

namespace jitslab::bench {
namespace {

std::string xmlEscape(StringRef S) {
  std::string E;
  for (char C : S)
    E += C == '<' ? "&lt;" : C == '>' ? "&gt;" : C == '&' ? "&amp;" : std::string(1, C);
  return E;
}

} // namespace

std::string svgChart(const Analysis &A) {
  struct Panel {
    std::string Title;
    std::vector<std::pair<const Workload *, const char *>> Rows; // workload, figure
  };
  std::vector<Panel> Panels(4);
  Panels[0].Title = "Time: link (programs), per link (churn), per cycle (allocator)";
  Panels[1].Title = "Total time of the process (programs, the REPL session)";
  Panels[2].Title = "Memory mappings of the linking process at exit (programs)";
  Panels[3].Title = "Memory mappings of the executor at exit (programs, out of process)";
  for (const Workload &W : A.R.Workloads) {
    if (W.K == Kind::Session) {
      Panels[1].Rows.push_back({&W, "wall_ms"});
      continue;
    }
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
                      std::min(X0, X1), Y, std::max(std::abs(X1 - X0), 1.0), Bar, Colours[I % 8],
                      W->Id, S.Id, times(R), std::max(X0, X1) + 3, Y + Bar - 2);
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

} // namespace jitslab::bench
