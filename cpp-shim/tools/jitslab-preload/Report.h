//===- Report.h - what JITSLAB_STATS prints -*- C++ -*-===//
//
// Part of libjitslab-preload-impl-MAJOR.so. A stock tool has no --stats of jitslab's, so the
// preload wraps each manager it creates in a ReportingManager: a JITLinkMemoryManager that
// hands every call to the jitslab manager, notes the lowest and highest address of every block
// it lays out (the proof that each linked byte is inside the one reservation) and, when
// JITSLAB_STATS is set, writes the statistics and heap map when the manager is destroyed, or
// at exit for a tool that never destroys its JIT.
//
// Threading: allocate and deallocate may run on any thread, as the manager's own entry points;
// the address range is kept under a mutex.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_PRELOAD_REPORT_H
#define JITSLAB_PRELOAD_REPORT_H

#include "Settings.h"

#include "jitslab/MemoryManager.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace jitslab::preload {

class ReportingManager : public llvm::jitlink::JITLinkMemoryManager {
public:
  /// A jitslab manager with `S`'s settings, wrapped: in this process when `EPC` is null, else
  /// where MemoryManager::CreateFor puts it for `EPC`.
  static llvm::Expected<std::unique_ptr<ReportingManager>>
  create(llvm::orc::ExecutorProcessControl *EPC, const Settings &S);

  /// Whether `MM` is a manager the preload made (so a hook that finds it in an EPC shares it
  /// rather than make a second reservation).
  static bool madeByPreload(llvm::jitlink::JITLinkMemoryManager &MM);

  /// `StatsPath` is where the report goes ("" for stderr), or null for no report.
  ReportingManager(std::unique_ptr<MemoryManager> Inner, const std::string *StatsPath);
  ~ReportingManager() override;

  void allocate(const llvm::jitlink::JITLinkDylib *JD, llvm::jitlink::LinkGraph &G,
                OnAllocatedFunction OnAllocated) override;
  using JITLinkMemoryManager::allocate;
  void deallocate(std::vector<FinalizedAlloc> Allocs, OnDeallocatedFunction OnDeallocated) override;
  using JITLinkMemoryManager::deallocate;

  /// Writes the report (once; later calls do nothing).
  void report();

private:
  void noteRange(llvm::jitlink::LinkGraph &G);
  std::string reportText();

  std::unique_ptr<MemoryManager> Inner;
  const std::string *StatsPath;
  std::mutex M;
  uint64_t Lowest = UINT64_MAX, Highest = 0, Graphs = 0;
  bool Reported = false;
};

} // namespace jitslab::preload

#endif
