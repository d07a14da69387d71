/* The program of the preload's lli tests: main in one bitcode module, the data it updates in
 * another (preload_data.c), so the two are linked as separate graphs. Compiled -fno-pic, the
 * data is referred to PC-relative with 32 bits (R_X86_64_PC32), which reaches only 2 GiB. */
#include <stdio.h>

extern int preload_counter;
extern const char preload_greeting[];
int preload_bump(int by);

int main(int argc, char **argv) {
  for (int i = 1; i <= 10; ++i)
    preload_counter += preload_bump(i);
  printf("%s: counter %d, %d arguments\n", preload_greeting, preload_counter, argc - 1);
  return preload_counter == 111 ? 0 : 1;
}
