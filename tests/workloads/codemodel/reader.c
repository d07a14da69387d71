/* Code-model workload, second object, compiled with -fno-pic: `shared_counter` is read with
   R_X86_64_PC32 relocations, which only link if this object lies within 2 GiB of the object
   that defines it. (No string literals here: they would need absolute R_X86_64_32.) */
extern int shared_counter;
int bump(void);
void report(int value);
int main(void) {
  bump();
  report(shared_counter);
  return shared_counter == 42 ? 0 : 1;
}
