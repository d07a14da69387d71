#include "ehx.h"
#include <cstdio>

const char *Failure::what() const noexcept { return "Failure"; }

int checked(int V) {
  if (V < 0)
    throw Failure(V);
  return V * 2;
}

int callThrough(int (*F)(int), int V) {
  int R = F(V); // F is in main.o: an exception from it unwinds through this frame
  std::printf("callThrough(%d) returned %d\n", V, R);
  return R + 1;
}

int rethrowAsCode(int V) {
  try {
    return callThrough(checked, V);
  } catch (const Failure &F) {
    std::printf("thrower caught Failure(%d), throws Failure(%d)\n", F.Code, F.Code - 100);
    throw Failure(F.Code - 100);
  }
}
