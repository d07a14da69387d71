/* One object of the churn workload (jitslab-bench), compiled once per unit with -DUNIT=k.
   Unit k defines churn_<k>_run(seed): it folds a read-only table, a data array it updates,
   a bss scratch array, a string and a table of function pointers (relocated data) into a
   32-bit value (int in, int out: ORC's runAsIntFunction calls it so in an executor process).
   Sizes grow with k % 16, so the graphs a churn links differ in size. The value depends only
   on k and the seed, and on the object's data being fresh: a JIT'd copy linked
   anew gives the same first result as the natively linked program (churn_main.c). */
#include <stdint.h>

#ifndef UNIT
#error "compile with -DUNIT=k"
#endif

#define GLUE2(a, b) a##b
#define GLUE(a, b) GLUE2(a, b)
#define STR2(x) #x
#define STR(x) STR2(x)
#define RUN GLUE(GLUE(churn_, UNIT), _run)
#define DATA GLUE(GLUE(churn_, UNIT), _data)
#define ROWS (1 + UNIT % 16)

static const uint64_t table[ROWS * 8][4] = {
    [0 ... ROWS * 8 - 1] = {UNIT * 3 + 1, UNIT * 5 + 2, UNIT * 7 + 3, UNIT * 11 + 4}};
static const char name[] = "churn unit " STR(UNIT);
uint64_t DATA[ROWS * 4] = {[0 ... ROWS * 4 - 1] = UNIT + 1};
static uint64_t scratch[ROWS * 16];

static uint64_t mix(uint64_t x) { return x * 0x9e3779b97f4a7c15ull + (x >> 29); }
static uint64_t twist(uint64_t x) { return (x ^ (x >> 17)) * 0xbf58476d1ce4e5b9ull; }
static uint64_t fold(uint64_t x) { return x + (x << 7) + UNIT; }
static uint64_t (*const ops[3])(uint64_t) = {mix, twist, fold};

int RUN(int seed) {
  uint64_t h = (uint64_t)(unsigned)seed ^ UNIT;
  for (unsigned i = 0; i < ROWS * 8; i++) {
    h = ops[h % 3](h ^ table[i][h & 3]);
    scratch[(i * 5) % (ROWS * 16)] += h;
    DATA[i % (ROWS * 4)] ^= h;
    h += DATA[(i + 1) % (ROWS * 4)] + scratch[i % (ROWS * 16)];
  }
  for (const char *p = name; *p; p++)
    h = h * 131 + (unsigned char)*p;
  return (int)(uint32_t)(h ^ (h >> 32));
}
