/*
 * gap_mmap.c: libjitslab-test-gap.so, a test aid preloaded before a stock tool to force its
 * JIT'd objects more than 2 GiB apart, as they can land in a long session or under a sanitizer:
 * every mmap that lets the kernel choose the address gets a hint 8 GiB beyond the previous
 * one's, far above the usual mappings. A memory manager that maps each object by itself
 * (LLVM's InProcessMemoryManager) then puts consecutive objects 8 GiB apart; one that maps one
 * reservation up front (jitslab) keeps every object inside it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>

typedef void *(*MmapFn)(void *, size_t, int, int, int, off_t);

static uintptr_t NextHint = 0x200000000000; /* 32 TiB, in a 128 TiB user address space */

static void *gapMmap(const char *Name, void *Addr, size_t Len, int Prot, int Flags, int Fd,
                     off_t Off) {
  MmapFn Real = (MmapFn)dlsym(RTLD_NEXT, Name);
  if (!Addr && !(Flags & MAP_FIXED))
    Addr = (void *)__atomic_fetch_add(&NextHint, (uintptr_t)8 << 30, __ATOMIC_RELAXED);
  return Real(Addr, Len, Prot, Flags, Fd, Off);
}

void *mmap(void *Addr, size_t Len, int Prot, int Flags, int Fd, off_t Off) {
  return gapMmap("mmap", Addr, Len, Prot, Flags, Fd, Off);
}

void *mmap64(void *Addr, size_t Len, int Prot, int Flags, int Fd, off_t Off) {
  return gapMmap("mmap64", Addr, Len, Prot, Flags, Fd, Off);
}
