//===- Report.cpp - what JITSLAB_STATS prints -------------------------------===//
#include "Report.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <set>

using namespace llvm;
using namespace llvm::jitlink;

namespace jitslab::preload {
namespace {

/// The managers alive, for the report at exit. Never destroyed: a tool may destroy its JIT
/// from another static destructor, after this translation unit's statics are gone.
struct Live {
  std::mutex M;
  std::set<ReportingManager *> Managers;
};

Live &live() {
  static Live *L = [] {
    auto *L = new Live;
    std::atexit([] {
      // A copy, so that no report is written under the lock.
      std::set<ReportingManager *> Now;
      {
        std::lock_guard<std::mutex> Lock(live().M);
        Now = live().Managers;
      }
      for (auto *R : Now)
        R->report();
    });
    return L;
  }();
  return *L;
}

} // namespace

Expected<std::unique_ptr<ReportingManager>>
ReportingManager::create(orc::ExecutorProcessControl *EPC, const Settings &S) {
  auto MM = EPC ? MemoryManager::CreateFor(*EPC, S.Manager) : MemoryManager::Create(S.Manager);
  if (!MM)
    return MM.takeError();
  return std::make_unique<ReportingManager>(std::move(*MM), S.Stats ? &S.StatsPath : nullptr);
}

bool ReportingManager::madeByPreload(JITLinkMemoryManager &MM) {
  return dynamic_cast<ReportingManager *>(&MM) != nullptr;
}

ReportingManager::ReportingManager(std::unique_ptr<MemoryManager> Inner,
                                   const std::string *StatsPath)
    : Inner(std::move(Inner)), StatsPath(StatsPath) {
  if (StatsPath) {
    std::lock_guard<std::mutex> Lock(live().M);
    live().Managers.insert(this);
  }
}

ReportingManager::~ReportingManager() {
  // Every manager the preload makes goes after its session has ended: an EPC's with the EPC,
  // which disconnects first; an LLJIT layer's after ~LLJIT called endSession. Out of process,
  // the teardown must then not call the executor (its EPC would report the closed connection
  // through an ExecutionSession that may be in its destructor already).
  Inner->executorDisconnected();
  if (StatsPath) {
    {
      std::lock_guard<std::mutex> Lock(live().M);
      live().Managers.erase(this);
    }
    report();
  }
}

void ReportingManager::allocate(const JITLinkDylib *JD, LinkGraph &G,
                                OnAllocatedFunction OnAllocated) {
  Inner->allocate(JD, G,
                  [this, &G, OnAllocated = std::move(OnAllocated)](
                      Expected<std::unique_ptr<InFlightAlloc>> Alloc) mutable {
                    // The blocks have their addresses once the manager has laid G out.
                    if (Alloc)
                      noteRange(G);
                    OnAllocated(std::move(Alloc));
                  });
}

void ReportingManager::deallocate(std::vector<FinalizedAlloc> Allocs,
                                  OnDeallocatedFunction OnDeallocated) {
  Inner->deallocate(std::move(Allocs), std::move(OnDeallocated));
}

void ReportingManager::noteRange(LinkGraph &G) {
  std::lock_guard<std::mutex> Lock(M);
  for (auto *B : G.blocks()) {
    // Zero-fill and content blocks alike take executor memory; NoAlloc ones take none.
    if (B->getSize() == 0 || B->getSection().getMemLifetime() == orc::MemLifetime::NoAlloc)
      continue;
    uint64_t Lo = B->getAddress().getValue();
    Lowest = std::min(Lowest, Lo);
    Highest = std::max(Highest, Lo + B->getSize());
  }
  ++Graphs;
}

std::string ReportingManager::reportText() {
  std::string S;
  raw_string_ostream OS(S);
  {
    std::lock_guard<std::mutex> Lock(M);
    // One line a script can read: every linked byte is in [lowest, highest).
    OS << "jitslab-preload: graphs=" << Graphs
       << format(" lowest=0x%llx highest=0x%llx", (unsigned long long)(Graphs ? Lowest : 0),
                 (unsigned long long)Highest);
  }
  if (auto St = Inner->stats())
    OS << format(" slab_base=0x%llx slab_size=%llu\n", (unsigned long long)St->base,
                 (unsigned long long)St->reserved);
  else
    OS << " stats_error=\"" << toString(St.takeError()) << "\"\n";
  if (auto Text = Inner->statsText()) {
    OS << *Text;
    if (!StringRef(*Text).ends_with("\n"))
      OS << "\n";
  } else
    OS << "jitslab-preload: " << toString(Text.takeError()) << "\n";
  if (auto Map = Inner->heapMap())
    OS << *Map;
  else
    OS << "jitslab-preload: " << toString(Map.takeError()) << "\n";
  return S;
}

void ReportingManager::report() {
  {
    std::lock_guard<std::mutex> Lock(M);
    if (Reported)
      return;
    Reported = true;
  }
  std::string Text = reportText();
  if (StatsPath->empty()) {
    errs() << Text;
    errs().flush();
    return;
  }
  std::error_code EC;
  raw_fd_ostream File(*StatsPath, EC, sys::fs::OF_Append);
  if (EC) {
    errs() << "jitslab-preload: JITSLAB_STATS=" << *StatsPath << ": " << EC.message()
           << "; the report follows here\n"
           << Text;
    return;
  }
  File << Text;
}

} // namespace jitslab::preload
