//===- ProcFS.h - what a process holds, from /proc ------------------------===//
//
// Part of the tools' support library: mappings, peak and resident memory of a process (this
// one or an executor), and the resident pages of a range of its address space, for the
// tools' --times and --report figures and the benchmark.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_TOOLS_PROCFS_H
#define JITSLAB_TOOLS_PROCFS_H

#include <cstdint>
#include <string>

namespace jitslab {

/// What a process holds, from /proc (zeros for a process that is gone).
struct Footprint {
  unsigned Mappings = 0;
  uint64_t PeakKiB = 0;  // VmHWM
  uint64_t RssKiB = 0;   // VmRSS
  uint64_t ShmemKiB = 0; // RssShmem: resident shared memory (an executor's JIT memory, with the
                         // shared-memory managers)
};

/// The footprint of process `Pid` ("self" for this one).
Footprint processFootprint(const std::string &Pid = "self");

/// Resident KiB of process `Pid`'s mappings that overlap [Base, Base + Size), from
/// /proc/PID/smaps (whole mappings are counted: pass the bounds of a reservation). 0 if the
/// process is gone.
uint64_t residentKiBIn(const std::string &Pid, uint64_t Base, uint64_t Size);

} // namespace jitslab

#endif
