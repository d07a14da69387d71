//===- ProcFS.cpp - what a process holds, from /proc ----------------------===//

#include "ProcFS.h"

#include "llvm/ADT/StringRef.h"

#include <fstream>

namespace jitslab {

uint64_t residentKiBIn(const std::string &Pid, uint64_t Base, uint64_t Size) {
  std::ifstream Smaps("/proc/" + Pid + "/smaps");
  uint64_t Total = 0;
  bool Inside = false;
  for (std::string Line; std::getline(Smaps, Line);) {
    llvm::StringRef L = Line;
    uint64_t Lo, Hi;
    // A mapping's header: "lo-hi perms offset dev inode [path]"; its fields follow.
    auto [Range, Rest] = L.split(' ');
    auto [LoText, HiText] = Range.split('-');
    if (!Rest.empty() && !LoText.getAsInteger(16, Lo) && !HiText.getAsInteger(16, Hi)) {
      Inside = Lo < Base + Size && Base < Hi;
      continue;
    }
    uint64_t KiB;
    if (Inside && L.consume_front("Rss:") && !L.trim().consumeInteger(10, KiB))
      Total += KiB;
  }
  return Total;
}

Footprint processFootprint(const std::string &Pid) {
  Footprint F;
  std::ifstream Maps("/proc/" + Pid + "/maps");
  for (std::string Line; std::getline(Maps, Line);)
    ++F.Mappings;
  std::ifstream Status("/proc/" + Pid + "/status");
  for (std::string Line; std::getline(Status, Line);) {
    llvm::StringRef L = Line;
    if (L.consume_front("VmHWM:"))
      L.trim().consumeInteger(10, F.PeakKiB);
    else if (L.consume_front("VmRSS:"))
      L.trim().consumeInteger(10, F.RssKiB);
    else if (L.consume_front("RssShmem:"))
      L.trim().consumeInteger(10, F.ShmemKiB);
  }
  return F;
}

} // namespace jitslab
