/* The native build of the churn workload: linked with every churn_unit.c object and
   -rdynamic, it finds churn_<k>_run by name, as the JIT does, and prints each unit's first
   result. jitslab-bench's churn prints the same lines from JIT'd copies and is compared with
   this output.   usage: churn_native UNITS */
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int units = argc > 1 ? atoi(argv[1]) : 0;
  for (int k = 0; k < units; k++) {
    char sym[32];
    snprintf(sym, sizeof sym, "churn_%d_run", k);
    int (*run)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, sym);
    if (!run) {
      fprintf(stderr, "churn_native: %s not found\n", sym);
      return 1;
    }
    printf("unit %d: %08" PRIx32 "\n", k, (uint32_t)run(k));
  }
  return 0;
}
