#include "shapes.h"
#include <cstdio>
#include <map>

namespace {
struct Circle : Shape {
  double r;
  explicit Circle(double r) : r(r) {}
  double area() const override { return 3.25 * r * r; }
  std::string name() const override { return "circle"; }
};
struct Square : Shape {
  double s;
  explicit Square(double s) : s(s) {}
  double area() const override { return s * s; }
  std::string name() const override { return "square"; }
};

// A static object with a constructor and a destructor: needs static initializers to run.
struct Registry {
  std::map<std::string, int> kinds;
  Registry() {
    kinds["circle"] = 1;
    kinds["square"] = 2;
    std::printf("registry constructed with %zu kinds\n", kinds.size());
  }
  ~Registry() { std::printf("registry destroyed\n"); }
} registry;
} // namespace

int registryCount() { return static_cast<int>(registry.kinds.size()); }

std::unique_ptr<Shape> makeShape(const std::string &kind, double size) {
  if (size < 0)
    throw BadShape("negative size for " + kind);
  switch (registry.kinds.count(kind) ? registry.kinds[kind] : 0) {
  case 1:
    return std::make_unique<Circle>(size);
  case 2:
    return std::make_unique<Square>(size);
  default:
    throw BadShape("unknown shape '" + kind + "'");
  }
}
