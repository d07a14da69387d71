//===- jitslab/MemoryManager.h - jitslab as a JITLinkMemoryManager -*- C++ -*-===//
//
// The C++ face of jitslab for ORC programs (LLVM 19 and 22):
//
//   auto MM = jitslab::MemoryManager::Create();          // one slab, 1 GiB by default
//   ObjectLinkingLayer L(ES, std::move(*MM));
//
//   auto J = LLJITBuilder()                              // or, for LLJIT, one line:
//       .setObjectLinkingLayerCreator(jitslab::objectLinkingLayerCreator())
//       .create();
//
// The adapter is thin on purpose: it lays a LinkGraph out with jitlink::BasicLayout, asks
// the Rust library (include/jitslab.h) for addresses and working memory, and turns status
// codes into llvm::Error carrying the library's message. Every allocation decision is made
// in Rust.
//
// Out of process: `Create(EPC)` puts the slab in the executor, in memory shared with it, through
// LLVM's stock shared-memory service (llvm-jitlink-executor has it), or jitslab's native one. Allocation is still
// local bookkeeping; finalize and deallocate are one call to the executor each.
//
// Threading: every member is thread-safe (the Rust manager synchronises). The shim holds no
// lock of its own, so no lock is held while an ORC continuation runs, and each continuation
// is called exactly once: before the call that received it returns in process; on a task of
// the EPC's dispatcher when the executor replies out of process.
//
//===----------------------------------------------------------------------------===//

#ifndef JITSLAB_MEMORYMANAGER_H
#define JITSLAB_MEMORYMANAGER_H

#include "jitslab.h"

#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>

namespace jitslab {

struct TransportLink; // the shim's, lib/Transport.h

/// Where the slab goes in the address space.
enum class Placement : uint32_t {
  Anywhere = JITSLAB_PLACEMENT_ANYWHERE,
  /// The whole slab within ±2 GiB of an address (PC32 references to process symbols).
  Near = JITSLAB_PLACEMENT_NEAR,
  /// The whole slab below 2 GiB (non-PIC code with R_X86_64_32/32S relocations).
  Low = JITSLAB_PLACEMENT_LOW,
};

/// How the slab is mapped in this process.
enum class Mapper : uint32_t {
  Auto = JITSLAB_MAPPER_AUTO,
  SingleView = JITSLAB_MAPPER_SINGLE_VIEW,
  DualView = JITSLAB_MAPPER_DUAL_VIEW,
};

/// Which protocol an out-of-process manager speaks with its executor.
enum class Protocol : uint32_t {
  /// jitslab's native service when the executor publishes it (jitslab-executor), else stock.
  Auto = JITSLAB_PROTOCOL_AUTO,
  /// LLVM's ExecutorSharedMemoryMapperService (llvm-jitlink-executor, 19 or 22: same wire).
  Stock = JITSLAB_PROTOCOL_STOCK,
  /// jitslab's native service, or an error if the executor does not publish it.
  Native = JITSLAB_PROTOCOL_NATIVE,
};

/// Settings for a manager. Starts from the library's defaults (jitslab_config_default());
/// the setters change one field each and can be chained.
class Config {
public:
  Config() : Raw(jitslab_config_default()) {}
  explicit Config(const JitslabConfig &C) : Raw(C) {}
  /// Bytes of address space to reserve (at most 2 GiB; a multiple of the chunk size).
  Config &setSlabSize(uint64_t Bytes) {
    Raw.span_bytes = Bytes;
    return *this;
  }
  /// Bytes by which a pool grows (a power of two, at least a page).
  Config &setChunkSize(uint64_t Bytes) {
    Raw.chunk_bytes = Bytes;
    return *this;
  }
  Config &setPlacement(Placement P, uint64_t NearAddress = 0) {
    Raw.placement = static_cast<uint32_t>(P);
    Raw.near_address = NearAddress;
    return *this;
  }
  Config &setMapper(Mapper M) {
    Raw.mapper = static_cast<uint32_t>(M);
    return *this;
  }
  /// Print one line on stderr when the dual view is refused and the single view is used.
  Config &setLogFallback(bool On) {
    Raw.log_fallback = On;
    return *this;
  }
  /// Bytes of whole free pages each pool may keep resident for reuse (default 256 KiB); 0
  /// gives every wholly free page back to the OS at once.
  Config &setRetainFree(uint64_t Bytes) {
    Raw.retain_free_bytes = Bytes;
    return *this;
  }
  /// The protocol of an out-of-process manager (default Auto); not used in process.
  Config &setProtocol(Protocol P) {
    Raw.protocol = static_cast<uint32_t>(P);
    return *this;
  }
  const JitslabConfig &raw() const { return Raw; }

private:
  JitslabConfig Raw;
};

/// A JITLinkMemoryManager whose memory comes from one jitslab reservation.
///
/// Destroying the manager runs the dealloc actions of allocations still finalized (newest
/// first) and unmaps the whole reservation: addresses it handed out become invalid. An
/// InFlightAlloc that outlives it gets an error from finalize or abandon, never a crash. A
/// FinalizedAlloc that outlives it is dead: call release() on it (LLVM asserts, in builds
/// with assertions, that every FinalizedAlloc was deallocated or released). Deallocate them
/// before destroying the manager.
///
/// deallocate() frees the whole vector in one call; if the library refuses the batch (an id
/// that is unknown, repeated or not finalized), the good ids are freed one by one and the bad
/// ones reported.
class MemoryManager : public llvm::jitlink::JITLinkMemoryManager {
public:
  /// A manager for code that runs in this process.
  static llvm::Expected<std::unique_ptr<MemoryManager>> Create(const Config &C = Config());
  /// A manager whose slab lives in the executor behind `EPC` (which must outlive it), in
  /// shared memory, through jitslab's native executor service or LLVM's
  /// ExecutorSharedMemoryMapperService, as `C`'s protocol says (Auto: native when the executor
  /// publishes it). Waits for the setup calls; the placement must be Anywhere and the mapper
  /// setting is not used.
  static llvm::Expected<std::unique_ptr<MemoryManager>>
  Create(llvm::orc::ExecutorProcessControl &EPC, const Config &C = Config());
  /// In the executor as above when `EPC` is connected to one (a SimpleRemoteEPC: its executor
  /// publishes a session object among its bootstrap symbols), else in this process.
  static llvm::Expected<std::unique_ptr<MemoryManager>>
  CreateFor(llvm::orc::ExecutorProcessControl &EPC, const Config &C = Config());

  MemoryManager(const MemoryManager &) = delete;
  MemoryManager &operator=(const MemoryManager &) = delete;
  ~MemoryManager() override;

  void allocate(const llvm::jitlink::JITLinkDylib *JD, llvm::jitlink::LinkGraph &G,
                OnAllocatedFunction OnAllocated) override;
  using JITLinkMemoryManager::allocate;

  /// Deallocates the whole vector in one call into the library.
  void deallocate(std::vector<FinalizedAlloc> Allocs, OnDeallocatedFunction OnDeallocated) override;
  using JITLinkMemoryManager::deallocate;

  /// A snapshot of the manager's statistics.
  llvm::Expected<JitslabStats> stats() const;
  /// The statistics as text, for humans.
  llvm::Expected<std::string> statsText() const;
  /// One symbol per chunk of the reservation: which pool owns it and how full it is.
  llvm::Expected<std::string> heapMap() const;
  /// The C handle, for calls the class does not wrap. Owned by this object.
  JitslabManager *handle() const { return Handle; }

  /// Out of process: says that the EPC has disconnected (its session ended), so that calls to
  /// the executor, the teardown's when this manager is destroyed among them, fail at once
  /// rather than reach the closed connection. An EPC that owns its memory manager destroys it
  /// only after disconnecting; its executor releases what is left when the connection closes.
  /// Does nothing in process.
  void executorDisconnected();

private:
  MemoryManager(JitslabManager *H, TransportLink *Link = nullptr) : Handle(H), Link(Link) {}
  JitslabManager *Handle;
  /// The transport's state, out of process (owned by the transport, so by Handle).
  TransportLink *Link;
};

/// An ObjectLinkingLayer for `ES` whose memory manager is a new jitslab manager (in the
/// executor when the session's EPC is out of process, see MemoryManager::CreateFor). The layer
/// also gets ContiguousEHFramePlugin (jitslab/EHFrameFix.h) and, if `RegisterEHFrames`, a
/// plugin that registers each graph's exception frames by allocation actions, inside the
/// graph's finalize instead of with a call of its own: jitslab::EHFrameActionsPlugin on LLVM 19
/// (jitslab/EHFrameActions.h), LLVM's own EHFrameRegistrationPlugin on 22, where registration
/// is an allocation action already (jitslab/OrcCompat.h). Pass false with
/// ExecutorNativePlatform: ELFNixPlatform registers exception frames itself.
llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>>
createObjectLinkingLayer(llvm::orc::ExecutionSession &ES, const Config &C = Config(),
                         bool RegisterEHFrames = true);

/// The plugins createObjectLinkingLayer gives its layer, for a layer whose jitslab manager was
/// made elsewhere (jitslab's preload wraps the manager to report on it): ContiguousEHFramePlugin
/// and, if `RegisterEHFrames`, the plugin that registers exception frames by allocation actions.
llvm::Error addLayerPlugins(llvm::orc::ObjectLinkingLayer &Layer, llvm::orc::ExecutionSession &ES,
                            bool RegisterEHFrames = true);

/// An LLJITBuilder object-linking-layer creator that gives the layer a jitslab manager:
///   LLJITBuilder().setObjectLinkingLayerCreator(jitslab::objectLinkingLayerCreator(C))
/// Each call of the creator makes a new manager (one per LLJIT) with createObjectLinkingLayer.
llvm::orc::LLJITBuilderState::ObjectLinkingLayerCreator
objectLinkingLayerCreator(Config C = Config(), bool RegisterEHFrames = true);

/// Turns a failed jitslab status into an llvm::Error carrying the library's message for the
/// calling thread. `What` names the operation ("allocate", "finalize"...).
llvm::Error makeError(JitslabStatus S, llvm::StringRef What);
/// The same with the message given (an asynchronous completion's).
llvm::Error makeError(JitslabStatus S, llvm::StringRef What, const char *Message);

} // namespace jitslab

#endif // JITSLAB_MEMORYMANAGER_H
