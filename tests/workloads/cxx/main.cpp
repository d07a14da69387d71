#include "shapes.h"
#include <cstdio>
#include <string>

static int counter = 0;
struct Greeter {
  Greeter() { counter += 10; }
} greeter; // another static constructor, in main's translation unit

int main(int argc, char **argv) {
  std::printf("greeter ran: %s\n", counter == 10 ? "yes" : "no");
  std::printf("registry has %d kinds\n", registryCount());
  int errors = 0;
  double a = totalArea({"circle", "square", "hexagon", "square"}, 2.0, errors);
  std::printf("total area %.2f with %d errors\n", a, errors);
  try {
    totalArea({"circle"}, -1.0, errors);
    makeShape("triangle", 1.0);
  } catch (const std::exception &e) {
    std::printf("main caught: %s\n", e.what());
  }
  try {
    std::string s = "abc";
    (void)s.at(argc + 10); // std::out_of_range from libstdc++ through JIT'd frames
  } catch (const std::out_of_range &) {
    std::printf("caught std::out_of_range\n");
  }
  std::printf("errors %d\n", errors);
  return errors == 2 ? 0 : 1;
}
