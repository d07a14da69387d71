/* Non-PIC code with absolute 32-bit relocations (R_X86_64_32/32S): its addresses must fit
   in 32 bits, so it links only when the JIT's memory lies below 2 GiB. */
#include <stdio.h>
static const char *const greetings[] = {"low", "placement", "works"};
static int table[4] = {3, 1, 4, 1};
int main(void) {
  for (int i = 0; i < 3; i++)
    printf("%s%s", i ? " " : "", greetings[i]);
  printf(" %d\n", table[0] * 1000 + table[1] * 100 + table[2] * 10 + table[3]);
  return 0;
}
