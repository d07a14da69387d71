/* Code-model workload, first object: data that a later object reaches with a 32-bit
   PC-relative relocation. Ordinary PIC code. */
#include <stdio.h>
int shared_counter = 41;
int bump(void) { return ++shared_counter; }
void report(int value) { printf("shared_counter = %d\n", value); }
