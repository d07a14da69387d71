//===- Analysis.cpp - the columns of the results tables ---------------------===//
//
// See Analysis.h.
//
//===----------------------------------------------------------------------===//

#include "Analysis.h"

#include <cstdio>

using namespace llvm;

namespace jitslab::bench {

std::vector<Column> columns(Kind K) {
  const double MiB = 1 / 1024.0;
  switch (K) {
  case Kind::Program:
    return {{"link_ms", "link ms", "ms", 1, 1, true, false},
            {"wall_ms", "total ms", "ms", 1, 1, true, false},
            {"cpu_ms", "CPU ms", "ms", 1, 0, false, false},
            {"mappings", "mappings", "count", 1, 0, false, false},
            {"peak_rss_kib", "peak RSS MiB", "MiB", MiB, 1, false, false},
            {"rpc_calls", "RPCs", "count", 1, 0, false, true},
            {"rpc_bytes_sent", "RPC KiB sent", "KiB", MiB, 0, false, true},
            {"rpc_bytes_received", "RPC KiB received", "KiB", MiB, 0, false, true},
            {"executor_start_ms", "executor start ms", "ms", 1, 1, false, true},
            {"executor_peak_rss_kib", "executor peak RSS MiB", "MiB", MiB, 1, false, true},
            {"executor_mappings", "executor mappings", "count", 1, 0, false, true},
            {"executor_shmem_kib", "executor shared MiB", "MiB", MiB, 1, false, true},
            {"sys_mmap", "mmap", "count", 1, 0, false, false},
            {"sys_munmap", "munmap", "count", 1, 0, false, false},
            {"sys_mprotect", "mprotect", "count", 1, 0, false, false},
            {"sys_madvise", "madvise", "count", 1, 0, false, false},
            {"sys_fallocate", "fallocate", "count", 1, 0, false, false}};
  case Kind::Session:
    return {{"wall_ms", "total ms", "ms", 1, 1, true, false},
            {"cpu_ms", "CPU ms", "ms", 1, 0, false, false}};
  case Kind::Churn:
    return {
        {"per_link_us", "µs per link", "us", 1, 1, true, false},
        {"held_anon_kib", "JIT memory held KiB", "KiB", 1, 0, false, false},
        {"held_kib", "RSS held KiB", "KiB", 1, 0, false, false},
        {"held_mappings", "mappings held", "count", 1, 0, false, false},
        {"max_extra_mappings", "most extra mappings", "count", 1, 0, false, false},
        {"peak_rss_kib", "peak RSS MiB", "MiB", MiB, 1, false, false},
        {"rpc_per_link", "RPCs /link", "per link", 1, 2, false, true},
        {"rpc_bytes_sent_per_link", "bytes sent /link", "bytes", 1, 0, false, true},
        {"executor_held_kib", "executor RSS held KiB", "KiB", 1, 0, false, true},
        {"executor_held_shmem_kib", "executor shared held KiB", "KiB", 1, 0, false, true},
        {"executor_held_mappings", "executor mappings held", "count", 1, 0, false, true},
        {"executor_max_extra_mappings", "executor most extra mappings", "count", 1, 0, false, true},
        {"sys_mmap", "mmap /link", "per link", 1, 2, false, false, 0.5},
        {"sys_munmap", "munmap /link", "per link", 1, 2, false, false, 0.5},
        {"sys_mprotect", "mprotect /link", "per link", 1, 2, false, false, 0.5},
        {"sys_madvise", "madvise /link", "per link", 1, 2, false, false, 0.5},
        {"sys_fallocate", "fallocate /link", "per link", 1, 2, false, false, 0.5}};
  case Kind::Alloc:
    return {{"ns_per_cycle", "ns per cycle", "ns", 1, 0, true, false},
            {"sys_mmap", "mmap /cycle", "per cycle", 1, 2, false, false, 0.5},
            {"sys_munmap", "munmap /cycle", "per cycle", 1, 2, false, false, 0.5},
            {"sys_mprotect", "mprotect /cycle", "per cycle", 1, 2, false, false, 0.5},
            {"sys_madvise", "madvise /cycle", "per cycle", 1, 2, false, false, 0.5},
            {"sys_fallocate", "fallocate /cycle", "per cycle", 1, 2, false, false, 0.5}};
  }
  return {};
}

std::string num(double V, int Decimals) {
  char B[64];
  std::snprintf(B, sizeof B, "%.*f", Decimals, V);
  std::string S = B;
  if (S[0] == '-' && S.find_first_not_of("-0.") == std::string::npos)
    S.erase(0, 1); // -0.00 is 0.00: a difference of two runs that rounds to nothing
  return S;
}

std::string times(std::optional<double> X) { return X ? num(*X, 2) + "×" : std::string(); }

} // namespace jitslab::bench
