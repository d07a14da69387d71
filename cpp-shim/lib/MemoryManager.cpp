//===- MemoryManager.cpp - jitslab::MemoryManager ---------------------------===//
//
// The adapter between JITLink's memory-manager interface and jitslab's C ABI. No allocation
// logic lives here: layout is BasicLayout's, placement and bookkeeping are the library's.
//
//===----------------------------------------------------------------------===//

#include "jitslab/MemoryManager.h"
#include "LibraryOrder.h"
#include "Transport.h"
#include "jitslab/EHFrameFix.h"
#include "jitslab/OrcCompat.h"

#include <mutex>

#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/Orc/Shared/MemoryFlags.h"
#include "llvm/ExecutionEngine/Orc/Shared/SimpleRemoteEPCUtils.h"

using namespace llvm;
using namespace llvm::jitlink;

// The C ABI numbers protections and lifetimes as LLVM does; the shim passes them through.
static_assert(JITSLAB_PROT_READ == unsigned(orc::MemProt::Read) &&
                  JITSLAB_PROT_WRITE == unsigned(orc::MemProt::Write) &&
                  JITSLAB_PROT_EXEC == unsigned(orc::MemProt::Exec),
              "jitslab.h and orc::MemProt disagree");
static_assert(JITSLAB_LIFETIME_STANDARD == unsigned(orc::MemLifetime::Standard) &&
                  JITSLAB_LIFETIME_FINALIZE == unsigned(orc::MemLifetime::Finalize) &&
                  JITSLAB_LIFETIME_NOALLOC == unsigned(orc::MemLifetime::NoAlloc),
              "jitslab.h and orc::MemLifetime disagree");

namespace jitslab {

Error makeError(JitslabStatus S, StringRef What) {
  return makeError(S, What, jitslab_last_error());
}

Error makeError(JitslabStatus S, StringRef What, const char *Message) {
  return createStringError(inconvertibleErrorCode(), "jitslab: %s failed (%s): %s",
                           What.str().c_str(), jitslab_status_name(S), Message ? Message : "");
}

namespace {

// The library's calls that take memory back, each after telling TSan so (LibraryOrder.h). The
// release comes after the arguments are read: the completion may free their owner at once.
JitslabStatus abandonAllocation(JitslabManager *H, uint64_t Id) {
  library_order::givingBack();
  return jitslab_abandon(H, Id);
}

JitslabStatus finalizeAsync(JitslabManager *H, uint64_t Id, const JitslabAction *Actions, size_t N,
                            JitslabAsyncDone Done, void *Ctx) {
  library_order::givingBack();
  return jitslab_finalize_async(H, Id, Actions, N, Done, Ctx);
}

JitslabStatus deallocateAsync(JitslabManager *H, const uint64_t *Ids, size_t N,
                              JitslabAsyncDone Done, void *Ctx) {
  library_order::givingBack();
  return jitslab_deallocate_async(H, Ids, N, Done, Ctx);
}

JitslabWrapperCall toC(const orc::shared::WrapperFunctionCall &C) {
  const auto &Args = C.getArgData();
  return {C.getCallee().getValue(), reinterpret_cast<const uint8_t *>(Args.data()), Args.size()};
}

/// One allocation between allocate and finalize/abandon. Holds the manager's handle by value
/// (a number the library checks), so it stays safe to use if the manager goes first.
class InFlight final : public JITLinkMemoryManager::InFlightAlloc {
public:
  InFlight(JitslabManager *H, LinkGraph &G, uint64_t Id) : H(H), G(G), Id(Id) {}

  // JITLink drops an InFlightAlloc without abandoning it when linking fails before
  // finalize; give the memory back then instead of leaking it.
  ~InFlight() override {
    if (!Done)
      abandonAllocation(H, Id);
  }

  void finalize(OnFinalizedFunction OnFinalized) override {
    assert(!Done && "finalize after finalize or abandon");
    Done = true;
    // Read the actions now, not at allocation: passes after allocation (eh-frame
    // registration, the platform's) append to them. They move out of the graph first: the
    // completion may run before the call returns, and JITLink may then free the graph and
    // this object, so neither is touched after the call. The library copies what it keeps.
    orc::shared::AllocActions AAs = std::move(G.allocActions());
    G.allocActions().clear();
    std::vector<JitslabAction> Actions;
    Actions.reserve(AAs.size());
    for (auto &P : AAs)
      Actions.push_back({toC(P.Finalize), toC(P.Dealloc)});
    auto *Ctx = new Finalizing{std::move(OnFinalized), Id};
    JitslabStatus S = finalizeAsync(H, Id, Actions.data(), Actions.size(), Finalizing::done, Ctx);
    if (S != JITSLAB_OK) {
      std::unique_ptr<Finalizing> Refused(Ctx);
      Refused->OnFinalized(makeError(S, "finalize"));
    }
  }

  void abandon(OnAbandonedFunction OnAbandoned) override {
    assert(!Done && "abandon after finalize or abandon");
    Done = true;
    JitslabStatus S = abandonAllocation(H, Id);
    OnAbandoned(S == JITSLAB_OK ? Error::success() : makeError(S, "abandon"));
  }

private:
  /// The continuation of one finalize, owned by the library until it calls `done`.
  struct Finalizing {
    OnFinalizedFunction OnFinalized;
    uint64_t Id;
    static void done(void *Ctx, JitslabStatus S, const char *Msg) {
      library_order::tookFrom();
      std::unique_ptr<Finalizing> F(static_cast<Finalizing *>(Ctx));
      if (S != JITSLAB_OK)
        return F->OnFinalized(makeError(S, "finalize", Msg));
      F->OnFinalized(JITLinkMemoryManager::FinalizedAlloc(orc::ExecutorAddr(F->Id)));
    }
  };

  JitslabManager *H;
  LinkGraph &G;
  uint64_t Id;
  bool Done = false;
};

/// One deallocate call: the batch, then (if the library refused the batch because of a bad
/// id) the ids one by one, with their errors joined; the continuation runs once at the end.
class Deallocating {
public:
  Deallocating(JitslabManager *H, std::vector<uint64_t> Ids,
               JITLinkMemoryManager::OnDeallocatedFunction OnDeallocated)
      : H(H), Ids(std::move(Ids)), OnDeallocated(std::move(OnDeallocated)) {}

  /// Starts the batch; `D` is owned by the library or freed from here on.
  static void start(std::unique_ptr<Deallocating> D) {
    auto *Raw = D.release();
    JitslabStatus S = deallocateAsync(Raw->H, Raw->Ids.data(), Raw->Ids.size(), batchDone, Raw);
    if (S != JITSLAB_OK)
      batchDone(Raw, S, jitslab_last_error());
  }

private:
  static void batchDone(void *Ctx, JitslabStatus S, const char *Msg) {
    library_order::tookFrom();
    std::unique_ptr<Deallocating> D(static_cast<Deallocating *>(Ctx));
    if (S == JITSLAB_OK)
      return D->OnDeallocated(Error::success());
    // The FinalizedAllocs are released already, so free the good ones one by one (last
    // first, LLVM's order) and report the rest.
    bool Refused = S == JITSLAB_ERR_UNKNOWN_ALLOCATION || S == JITSLAB_ERR_BAD_STATE ||
                   S == JITSLAB_ERR_INVALID_ARGUMENT;
    if (!Refused || D->Ids.size() == 1)
      return D->OnDeallocated(makeError(S, "deallocate", Msg));
    D->Left = D->Ids.size();
    // The last completion frees the object, possibly before jitslab_deallocate_async returns
    // (at once in process; on another thread out of process): loop over copies, never over it.
    const std::vector<uint64_t> Ids = D->Ids;
    JitslabManager *H = D->H;
    auto *Shared = D.release();
    for (auto I = Ids.rbegin(); I != Ids.rend(); ++I)
      if (JitslabStatus One = deallocateAsync(H, &*I, 1, oneDone, Shared); One != JITSLAB_OK)
        oneDone(Shared, One, jitslab_last_error());
  }

  static void oneDone(void *Ctx, JitslabStatus S, const char *Msg) {
    library_order::tookFrom();
    auto *D = static_cast<Deallocating *>(Ctx);
    bool Last;
    {
      std::lock_guard<std::mutex> Lock(D->M);
      if (S != JITSLAB_OK)
        D->Err = joinErrors(std::move(D->Err), makeError(S, "deallocate", Msg));
      Last = --D->Left == 0;
    }
    if (Last) {
      std::unique_ptr<Deallocating> Owned(D);
      Owned->OnDeallocated(std::move(Owned->Err));
    }
  }

  JitslabManager *H;
  std::vector<uint64_t> Ids;
  JITLinkMemoryManager::OnDeallocatedFunction OnDeallocated;
  std::mutex M;
  Error Err = Error::success();
  size_t Left = 0;
};

Error checkABI() {
  if (jitslab_abi_version() != JITSLAB_ABI_VERSION)
    return createStringError(inconvertibleErrorCode(),
                             "jitslab: the library implements C ABI version %u but the shim "
                             "was built against version %u; rebuild the shim",
                             jitslab_abi_version(), unsigned(JITSLAB_ABI_VERSION));
  return Error::success();
}

} // namespace

Expected<std::unique_ptr<MemoryManager>> MemoryManager::Create(const Config &C) {
  if (Error E = checkABI())
    return std::move(E);
  JitslabManager *H = nullptr;
  if (JitslabStatus S = jitslab_manager_new(&C.raw(), &H); S != JITSLAB_OK)
    return makeError(S, "creating the manager");
  return std::unique_ptr<MemoryManager>(new MemoryManager(H));
}

Expected<std::unique_ptr<MemoryManager>> MemoryManager::Create(orc::ExecutorProcessControl &EPC,
                                                               const Config &C) {
  if (Error E = checkABI())
    return std::move(E);
  JitslabManager *H = nullptr;
  TransportLink *Link = nullptr;
  if (JitslabStatus S = jitslab_manager_new_remote(&C.raw(), makeTransport(EPC, Link), &H);
      S != JITSLAB_OK)
    return makeError(S, "creating the manager in the executor");
  return std::unique_ptr<MemoryManager>(new MemoryManager(H, Link));
}

Expected<std::unique_ptr<MemoryManager>> MemoryManager::CreateFor(orc::ExecutorProcessControl &EPC,
                                                                  const Config &C) {
  // Every executor behind a SimpleRemoteEPC publishes its session object; this process's
  // SelfExecutorProcessControl does not.
  if (!EPC.getBootstrapSymbolsMap().count(
          orc::SimpleRemoteEPCDefaultBootstrapSymbolNames::ExecutorSessionObjectName))
    return Create(C);
  return Create(EPC, C);
}

MemoryManager::~MemoryManager() { jitslab_manager_free(Handle); }

void MemoryManager::executorDisconnected() {
  if (Link)
    closeTransport(*Link);
}

void MemoryManager::allocate(const JITLinkDylib *, LinkGraph &G, OnAllocatedFunction OnAllocated) {
  BasicLayout BL(G);
  SmallVector<JitslabSegmentRequest, 8> Requests;
  SmallVector<BasicLayout::Segment *, 8> Segments;
  for (auto &[AG, Seg] : BL.segments()) {
    Requests.push_back({unsigned(AG.getMemProt()), unsigned(AG.getMemLifetime()),
                        Seg.ContentSize + Seg.ZeroFillSize, Seg.Alignment.value()});
    Segments.push_back(&Seg);
  }
  // A graph with nothing to allocate still needs an allocation to finalize (its actions may
  // be non-empty). A NoAlloc request takes no memory and yields an id.
  if (Requests.empty())
    Requests.push_back({JITSLAB_PROT_READ, JITSLAB_LIFETIME_NOALLOC, 0, 1});

  SmallVector<JitslabSegment, 8> Placed(Requests.size());
  uint64_t Id = 0;
  if (JitslabStatus S =
          jitslab_allocate(Handle, Requests.data(), Requests.size(), Placed.data(), &Id);
      S != JITSLAB_OK)
    return OnAllocated(makeError(S, "allocate for graph '" + G.getName() + "'"));
  library_order::tookFrom();

  for (size_t I = 0; I < Segments.size(); ++I) {
    // BasicLayout would silently shift blocks of a misaligned segment into the next one.
    if (Placed[I].addr % Segments[I]->Alignment.value() != 0) {
      abandonAllocation(Handle, Id);
      return OnAllocated(createStringError(
          inconvertibleErrorCode(), "jitslab: segment at %#llx is not %llu-byte aligned (a bug)",
          (unsigned long long)Placed[I].addr, (unsigned long long)Segments[I]->Alignment.value()));
    }
    Segments[I]->Addr = orc::ExecutorAddr(Placed[I].addr);
    Segments[I]->WorkingMem = reinterpret_cast<char *>(Placed[I].working);
  }
  if (Error Err = BL.apply()) {
    abandonAllocation(Handle, Id);
    return OnAllocated(std::move(Err));
  }
  OnAllocated(std::make_unique<InFlight>(Handle, G, Id));
}

void MemoryManager::deallocate(std::vector<FinalizedAlloc> Allocs,
                               OnDeallocatedFunction OnDeallocated) {
  std::vector<uint64_t> Ids;
  Ids.reserve(Allocs.size());
  for (auto &A : Allocs)
    Ids.push_back(A.release().getValue());
  if (Ids.empty())
    return OnDeallocated(Error::success());
  Deallocating::start(
      std::make_unique<Deallocating>(Handle, std::move(Ids), std::move(OnDeallocated)));
}

Expected<JitslabStats> MemoryManager::stats() const {
  JitslabStats St;
  if (JitslabStatus S = jitslab_stats(Handle, &St); S != JITSLAB_OK)
    return makeError(S, "stats");
  return St;
}

static Expected<std::string> takeString(JitslabStatus S, char *Str, StringRef What) {
  if (S != JITSLAB_OK)
    return makeError(S, What);
  std::string Copy(Str);
  jitslab_string_free(Str);
  return Copy;
}

Expected<std::string> MemoryManager::statsText() const {
  char *Str = nullptr;
  JitslabStatus S = jitslab_stats_text(Handle, &Str);
  return takeString(S, Str, "stats_text");
}

Expected<std::string> MemoryManager::heapMap() const {
  char *Str = nullptr;
  JitslabStatus S = jitslab_heap_map(Handle, &Str);
  return takeString(S, Str, "heap_map");
}

Expected<std::unique_ptr<orc::ObjectLayer>>
createObjectLinkingLayer(orc::ExecutionSession &ES, const Config &C, bool RegisterEHFrames) {
  auto MM = MemoryManager::CreateFor(ES.getExecutorProcessControl(), C);
  if (!MM)
    return MM.takeError();
  auto Layer = std::make_unique<orc::ObjectLinkingLayer>(ES, std::move(*MM));
  if (auto Err = addLayerPlugins(*Layer, ES, RegisterEHFrames))
    return std::move(Err);
  return Layer;
}

Error addLayerPlugins(orc::ObjectLinkingLayer &Layer, orc::ExecutionSession &ES,
                      bool RegisterEHFrames) {
  if (RegisterEHFrames) {
    // Frames registered by the graph's finalize (one call per group-commit round out of
    // process with the native protocol), not by a call of their own per graph.
    auto Plugin = compat::createEHFrameActionsPlugin(ES);
    if (!Plugin)
      return Plugin.takeError();
    Layer.addPlugin(std::move(*Plugin));
  }
  Layer.addPlugin(std::make_shared<ContiguousEHFramePlugin>());
  return Error::success();
}

orc::LLJITBuilderState::ObjectLinkingLayerCreator objectLinkingLayerCreator(Config C,
                                                                            bool RegisterEHFrames) {
  return compat::layerCreator([C, RegisterEHFrames](orc::ExecutionSession &ES) {
    return createObjectLinkingLayer(ES, C, RegisterEHFrames);
  });
}

} // namespace jitslab
