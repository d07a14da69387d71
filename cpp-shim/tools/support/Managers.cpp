//===- Managers.cpp - the memory managers the tools choose by name ---------===//

#include "Managers.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ExecutionEngine/Orc/MapperJITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/MemoryMapper.h"
#include "llvm/ExecutionEngine/Orc/Shared/OrcRTBridge.h"
#include "llvm/ExecutionEngine/Orc/Shared/TargetProcessControlTypes.h"

using namespace llvm;
using namespace llvm::orc;

namespace jitslab {
namespace {

/// LLVM's SharedMemoryMapper, plus one call after each reservation that makes the executor's
/// view of it readable. The stock service maps a reservation with no access, and LLVM 19's ORC
/// has the executor read a graph's .eh_frame (ELFNixPlatform's registration, libgcc's
/// __register_frame) before the graph is finalized: with the ORC runtime, the unmodified
/// llvm-shm setup kills llvm-jitlink-executor with SIGSEGV (so does `llvm-jitlink
/// -use-shared-memory -orc-runtime=...`). jitslab makes the same call for its own slab.
class ReadableSharedMemoryMapper final : public compat::ForwardingMemoryMapper {
public:
  ReadableSharedMemoryMapper(ExecutorProcessControl &EPC, SharedMemoryMapper::SymbolAddrs SAs,
                             std::unique_ptr<SharedMemoryMapper> Inner)
      : ForwardingMemoryMapper(std::move(Inner)), EPC(EPC), SAs(SAs) {}

  static Expected<std::unique_ptr<ReadableSharedMemoryMapper>>
  Create(ExecutorProcessControl &EPC, SharedMemoryMapper::SymbolAddrs SAs) {
    auto Inner = SharedMemoryMapper::Create(EPC, SAs);
    if (!Inner)
      return Inner.takeError();
    return std::make_unique<ReadableSharedMemoryMapper>(EPC, SAs, std::move(*Inner));
  }

  void reserve(size_t NumBytes, OnReservedFunction OnReserved) override {
    inner().reserve(NumBytes, [this, OnReserved = std::move(OnReserved)](
                                  Expected<ExecutorAddrRange> R) mutable {
      if (!R)
        return OnReserved(R.takeError());
      tpctypes::SharedMemoryFinalizeRequest FR;
      FR.Segments.push_back({tpctypes::RemoteAllocGroup(MemProt::Read), R->Start, R->size()});
      Expected<ExecutorAddr> Key((ExecutorAddr()));
      Error E = EPC.callSPSWrapper<rt::SPSExecutorSharedMemoryMapperServiceInitializeSignature>(
          SAs.Initialize, Key, SAs.Instance, R->Start, FR);
      if (!E && !Key)
        E = Key.takeError();
      else if (!E)
        return OnReserved(std::move(*R));
      // Not usable: give the reservation back rather than leave it to the executor's exit.
      inner().release({R->Start}, [](Error Ignored) { consumeError(std::move(Ignored)); });
      OnReserved(std::move(E));
    });
  }

private:
  ExecutorProcessControl &EPC;
  SharedMemoryMapper::SymbolAddrs SAs;
};

} // namespace

Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>>
createLLVMSharedMemoryManager(ExecutorProcessControl &EPC, uint64_t SlabSize) {
  SharedMemoryMapper::SymbolAddrs SAs;
  if (Error E = EPC.getBootstrapSymbols(
          {{SAs.Instance, rt::ExecutorSharedMemoryMapperServiceInstanceName},
           {SAs.Reserve, rt::ExecutorSharedMemoryMapperServiceReserveWrapperName},
           {SAs.Initialize, rt::ExecutorSharedMemoryMapperServiceInitializeWrapperName},
           {SAs.Deinitialize, rt::ExecutorSharedMemoryMapperServiceDeinitializeWrapperName},
           {SAs.Release, rt::ExecutorSharedMemoryMapperServiceReleaseWrapperName}}))
    return std::move(E);
  auto M =
      MapperJITLinkMemoryManager::CreateWithMapper<ReadableSharedMemoryMapper>(SlabSize, EPC, SAs);
  if (!M)
    return M.takeError();
  return std::unique_ptr<jitlink::JITLinkMemoryManager>(std::move(*M));
}

Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>>
createLLVMEPCManager(ExecutorProcessControl &EPC) {
  return compat::createEPCGenericManager(EPC);
}

Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>>
createMemoryManagerByName(const std::string &Name, ExecutorProcessControl &EPC, bool OutOfProcess,
                          const Config &C, MemoryManager *&Slab) {
  // Each branch's Expected converts to the base class's on return.
  auto Upcast = [](auto M) -> Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>> {
    if (!M)
      return M.takeError();
    return std::unique_ptr<jitlink::JITLinkMemoryManager>(std::move(*M));
  };
  if (Name == "jitslab") {
    auto J = OutOfProcess ? MemoryManager::Create(EPC, C) : MemoryManager::Create(C);
    if (J)
      Slab = J->get();
    return Upcast(std::move(J));
  }
  if (Name == "llvm-epc")
    return createLLVMEPCManager(EPC);
  if (Name == "llvm-shm")
    return createLLVMSharedMemoryManager(EPC, 1ULL << 30);
  if (Name == "llvm-inprocess")
    return Upcast(jitlink::InProcessMemoryManager::Create());
  if (Name == "llvm-mapper")
    return Upcast(MapperJITLinkMemoryManager::CreateWithMapper<InProcessMemoryMapper>(1ULL << 30));
  return make_error<StringError>("unknown memory manager '" + Name + "'", inconvertibleErrorCode());
}

} // namespace jitslab
