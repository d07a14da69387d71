//===- Linking.h - how jitslab-run links: archives, waiting, testing aids ---===//
//
// Archives searched lazily as a linker does (a member is linked only when it defines something
// still undefined, and at most once), the symbols of every linked graph recorded so that the
// driver can wait for all of them, and the testing aids --test-gap and --test-kill-executor.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_RUN_LINKING_H
#define JITSLAB_RUN_LINKING_H

#include "jitslab/PassPlugin.h"

#include "llvm/ExecutionEngine/Orc/Core.h"
#include "llvm/ExecutionEngine/Orc/Layer.h"
#include "llvm/Support/MemoryBuffer.h"

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

namespace jitslab::run {

/// A generator that links `Archive`'s members into the JITDylib it is attached to, on demand.
llvm::Expected<std::unique_ptr<llvm::orc::DefinitionGenerator>>
createArchiveGenerator(llvm::orc::ObjectLayer &L, std::unique_ptr<llvm::MemoryBuffer> Archive);

/// Records the symbols of every graph the layer links, by JITDylib, so that the driver can
/// wait for all of them before running anything.
class DefinitionRecorder : public jitslab::PassPlugin {
public:
  void modifyPassConfig(llvm::orc::MaterializationResponsibility &MR, llvm::jitlink::LinkGraph &,
                        llvm::jitlink::PassConfiguration &Config) override {
    {
      std::lock_guard<std::mutex> Lock(M);
      auto &Names = Defined[&MR.getTargetJITDylib()];
      for (auto &KV : MR.getSymbols())
        Names.insert(KV.first);
    }
    // What the graph puts in memory, whichever manager lays it out: the bytes of its blocks.
    Config.PostAllocationPasses.push_back([this](llvm::jitlink::LinkGraph &G) {
      uint64_t Bytes = 0;
      for (auto *B : G.blocks())
        Bytes += B->getSize();
      Linked += Bytes;
      return llvm::Error::success();
    });
  }

  /// Bytes of every block of every graph linked so far (content and zero-fill).
  uint64_t linkedBytes() const { return Linked; }

  /// Symbols recorded and not yet returned by a previous call.
  std::map<llvm::orc::JITDylib *, llvm::orc::SymbolNameSet> takeNew() {
    std::lock_guard<std::mutex> Lock(M);
    std::map<llvm::orc::JITDylib *, llvm::orc::SymbolNameSet> New;
    for (auto &[JD, Names] : Defined)
      for (auto &N : Names)
        if (Returned[JD].insert(N).second)
          New[JD].insert(N);
    return New;
  }

private:
  std::mutex M;
  std::map<llvm::orc::JITDylib *, llvm::orc::SymbolNameSet> Defined, Returned;
  std::atomic<uint64_t> Linked{0};
};

/// Links everything reachable from `Roots` and, on LLVM 19, everything those links define,
/// to a fixpoint (see compat::LookupWaitsForDependencies); fails on the first error.
void linkAll(llvm::orc::ExecutionSession &ES, llvm::orc::JITDylib &Main,
             const llvm::orc::SymbolNameSet &Roots, DefinitionRecorder &Rec);

/// Testing aid for the code-model guarantee: maps every free page within `Radius` of `Addr`
/// inaccessible, so that any later mmap lands at least `Radius` away from `Addr`.
void fillAddressSpaceNear(uint64_t Addr, uint64_t Radius);

/// Testing aid (--test-kill-executor): kills the executor when the Nth graph is being linked,
/// between allocation and finalize for most managers.
class ExecutorKiller : public jitslab::PassPlugin {
public:
  ExecutorKiller(pid_t Pid, unsigned N) : Pid(Pid), N(N) {}
  void modifyPassConfig(llvm::orc::MaterializationResponsibility &, llvm::jitlink::LinkGraph &,
                        llvm::jitlink::PassConfiguration &Config) override {
    Config.PostAllocationPasses.push_back([this](llvm::jitlink::LinkGraph &) {
      if (++Seen == N)
        kill(Pid, SIGKILL);
      return llvm::Error::success();
    });
  }

private:
  pid_t Pid;
  unsigned N;
  std::atomic<unsigned> Seen{0};
};

} // namespace jitslab::run

#endif
