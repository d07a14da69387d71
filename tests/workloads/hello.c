/* The smallest program: one line of output. Under a JIT its time is the tool's start, the
   executor's start and the teardown, nearly all of it (jitslab-bench's hello). */
#include <stdio.h>

int main(void) {
  puts("hello, world");
  return 0;
}
