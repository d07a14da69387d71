#include "ehx.h"
#include <cstdio>
#include <stdexcept>
#include <vector>

static int throwsRange(int V) {
  std::vector<int> Small(2, V);
  return Small.at(static_cast<unsigned>(V)); // std::out_of_range from libstdc++ for V >= 2
}

int main(int argc, char **) {
  int Caught = 0;
  // thrown in thrower.o, caught here
  try {
    checked(-argc);
  } catch (const Failure &F) {
    std::printf("main caught %s(%d)\n", F.what(), F.Code);
    ++Caught;
  }
  // thrown in thrower.o, through main.o and thrower.o frames, caught in thrower.o, thrown
  // again there and caught here
  try {
    rethrowAsCode(-7);
  } catch (const Failure &F) {
    std::printf("main caught %s(%d)\n", F.what(), F.Code);
    ++Caught;
  }
  // thrown by libstdc++ in main.o's frame, through thrower.o's, caught here
  try {
    callThrough(throwsRange, argc + 5);
  } catch (const std::out_of_range &) {
    std::printf("main caught std::out_of_range through callThrough\n");
    ++Caught;
  }
  std::printf("no exception: %d\n", rethrowAsCode(argc));
  std::printf("caught %d of 3\n", Caught);
  return Caught == 3 ? 0 : 1;
}
