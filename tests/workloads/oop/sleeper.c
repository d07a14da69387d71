// A program that says it is running and then waits: the executor is killed under it.
#include <stdio.h>
#include <unistd.h>

int main(void) {
  puts("running");
  fflush(stdout);
  for (int i = 0; i < 600; ++i)
    sleep(1);
  puts("never killed");
  return 0;
}
