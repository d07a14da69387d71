#include "shapes.h"
#include <cstdio>

template <typename T> static T clampTo(T v, T lo, T hi) { return v < lo ? lo : v > hi ? hi : v; }

double totalArea(const std::vector<std::string> &kinds, double size, int &errors) {
  double total = 0;
  for (const auto &k : kinds) {
    try {
      auto s = makeShape(k, size);
      total += clampTo(s->area(), 0.0, 1e9);
    } catch (const BadShape &e) { // thrown in shapes.cpp
      std::printf("caught: %s\n", e.what());
      ++errors;
    }
  }
  return total;
}
