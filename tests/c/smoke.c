/* A C program against the jitslab C API: JIT-writes x86-64 code through the working view, runs
 * it from the executing view, and checks the bad-input contract. Built and run by tests/c_abi.rs. */
#include "jitslab.h"

#include <stdio.h>
#include <string.h>

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                              \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, " (last error: %s)\n", jitslab_last_error());                                \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

int main(void) {
  CHECK(jitslab_abi_version() == JITSLAB_ABI_VERSION, "abi %u", jitslab_abi_version());

  JitslabConfig cfg = jitslab_config_default();
  cfg.span_bytes = 64u << 20;
  JitslabManager *m = NULL;
  CHECK(jitslab_manager_new(&cfg, &m) == JITSLAB_OK, "manager_new");

  JitslabSegmentRequest req[2] = {
      {JITSLAB_PROT_READ | JITSLAB_PROT_EXEC, JITSLAB_LIFETIME_STANDARD, 6, 16},
      {JITSLAB_PROT_READ, JITSLAB_LIFETIME_NOALLOC, 100, 1},
  };
  JitslabSegment segs[2];
  uint64_t id = 0;
  CHECK(jitslab_allocate(m, req, 2, segs, &id) == JITSLAB_OK, "allocate");
  CHECK(segs[1].addr == 0 && segs[1].working == NULL, "NoAlloc got memory");

  static const unsigned char code[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3}; /* mov eax,42; ret */
  memcpy(segs[0].working, code, sizeof code);
  CHECK(jitslab_finalize(m, id, NULL, 0) == JITSLAB_OK, "finalize");
  int (*fn)(void);
  uint64_t addr = segs[0].addr;
  memcpy(&fn, &addr, sizeof fn);
  CHECK(fn() == 42, "JIT'd code returned %d", fn());

  /* Bad input gets a status, never a crash. */
  CHECK(jitslab_finalize(m, id, NULL, 0) == JITSLAB_ERR_BAD_STATE, "finalize twice");
  CHECK(jitslab_abandon(m, 12345) == JITSLAB_ERR_UNKNOWN_ALLOCATION, "unknown id");
  CHECK(jitslab_allocate(NULL, req, 1, segs, &id) == JITSLAB_ERR_NULL_ARGUMENT, "null handle");
  CHECK(strstr(jitslab_last_error(), "null") != NULL, "message");

  JitslabStats st;
  CHECK(jitslab_stats(m, &st) == JITSLAB_OK, "stats");
  CHECK(st.live_allocations == 1 && st.pools[0].live_segments == 1, "stats");
  char *map = NULL;
  CHECK(jitslab_heap_map(m, &map) == JITSLAB_OK, "heap map");
  fputs(map, stdout);
  jitslab_string_free(map);

  CHECK(jitslab_deallocate(m, &id, 1) == JITSLAB_OK, "deallocate");
  CHECK(jitslab_deallocate(m, &id, 1) == JITSLAB_ERR_UNKNOWN_ALLOCATION, "double free");
  CHECK(jitslab_manager_free(m) == JITSLAB_OK, "free");
  CHECK(jitslab_manager_free(m) == JITSLAB_ERR_INVALID_HANDLE, "double free of the manager");
  CHECK(jitslab_manager_free(NULL) == JITSLAB_OK, "free(NULL)");
  puts("smoke.c: ok");
  return 0;
}
