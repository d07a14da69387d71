/* main's return value is the process's exit status: 40 + argc (42 with one argument after `--`),
 * and what it wrote before returning still reaches stdout. */
#include <stdio.h>

int main(int argc, char **argv) {
  printf("%d arguments, last '%s'\n", argc, argv[argc - 1]);
  return 40 + argc;
}
