//===- OrcCompat.cpp - what differs between the LLVM majors jitslab builds on ---===//
//
// See jitslab/OrcCompat.h.
//
//===----------------------------------------------------------------------===//

#include "jitslab/OrcCompat.h"

#include "llvm/ExecutionEngine/Orc/EPCGenericJITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/Shared/OrcRTBridge.h"
#include "llvm/TargetParser/Host.h"
#if LLVM_VERSION_MAJOR >= 22
#include "llvm/ExecutionEngine/Orc/EHFrameRegistrationPlugin.h"
#else
#include "jitslab/EHFrameActions.h"
#include "llvm/ExecutionEngine/Orc/EPCEHFrameRegistrar.h"
#endif

using namespace llvm;
using namespace llvm::orc;

namespace jitslab {
namespace compat {

Expected<std::unique_ptr<ExecutorProcessControl>> createSelfEPC(std::unique_ptr<TaskDispatcher> D) {
  auto EPC = SelfExecutorProcessControl::Create(std::make_shared<SymbolStringPool>(), std::move(D));
  if (!EPC)
    return EPC.takeError();
  return std::unique_ptr<ExecutorProcessControl>(std::move(*EPC));
}

LLJITBuilderState::ObjectLinkingLayerCreator layerCreator(LayerFactory F) {
#if LLVM_VERSION_MAJOR >= 22
  return F;
#else
  return [F = std::move(F)](ExecutionSession &ES, const Triple &) { return F(ES); };
#endif
}

Expected<std::unique_ptr<ObjectLayer>>
callLayerCreator(const LLJITBuilderState::ObjectLinkingLayerCreator &C, ExecutionSession &ES) {
#if LLVM_VERSION_MAJOR >= 22
  return C(ES);
#else
  return C(ES, ES.getExecutorProcessControl().getTargetTriple());
#endif
}

Expected<std::shared_ptr<ObjectLinkingLayer::Plugin>>
createEHFrameActionsPlugin(ExecutionSession &ES) {
#if LLVM_VERSION_MAJOR >= 22
  auto P = EHFrameRegistrationPlugin::Create(ES);
#else
  auto P = EHFrameActionsPlugin::Create(ES.getExecutorProcessControl());
#endif
  if (!P)
    return P.takeError();
  return std::shared_ptr<ObjectLinkingLayer::Plugin>(std::move(*P));
}

Expected<std::shared_ptr<ObjectLinkingLayer::Plugin>>
createEHFrameCallsPlugin(ExecutionSession &ES) {
#if LLVM_VERSION_MAJOR >= 22
  return make_error<StringError>("LLVM " + Twine(LLVM_VERSION_MAJOR) +
                                     " registers exception frames by allocation actions only "
                                     "(its EPCEHFrameRegistrar, a call per graph, is gone)",
                                 inconvertibleErrorCode());
#else
  auto R = EPCEHFrameRegistrar::Create(ES);
  if (!R)
    return R.takeError();
  return std::make_shared<EHFrameRegistrationPlugin>(ES, std::move(*R));
#endif
}

std::pair<const char *, const char *> ehFrameRegistrationSymbolNames() {
#if LLVM_VERSION_MAJOR >= 22
  return {rt::RegisterEHFrameSectionAllocActionName, rt::DeregisterEHFrameSectionAllocActionName};
#else
  return {rt::RegisterEHFrameSectionWrapperName, rt::DeregisterEHFrameSectionWrapperName};
#endif
}

std::vector<const char *> simpleExecutorMemoryManagerSymbolNames() {
#if LLVM_VERSION_MAJOR >= 22
  return {rt::SimpleExecutorMemoryManagerInstanceName,
          rt::SimpleExecutorMemoryManagerReserveWrapperName,
          rt::SimpleExecutorMemoryManagerInitializeWrapperName,
          rt::SimpleExecutorMemoryManagerDeinitializeWrapperName,
          rt::SimpleExecutorMemoryManagerReleaseWrapperName};
#else
  return {rt::SimpleExecutorMemoryManagerInstanceName,
          rt::SimpleExecutorMemoryManagerReserveWrapperName,
          rt::SimpleExecutorMemoryManagerFinalizeWrapperName,
          rt::SimpleExecutorMemoryManagerDeallocateWrapperName};
#endif
}

Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>>
createEPCGenericManager(ExecutorProcessControl &EPC) {
  EPCGenericJITLinkMemoryManager::SymbolAddrs SAs;
  auto Names = simpleExecutorMemoryManagerSymbolNames();
#if LLVM_VERSION_MAJOR >= 22
  ExecutorAddr *Fields[] = {&SAs.Allocator, &SAs.Reserve, &SAs.Initialize, &SAs.Deinitialize,
                            &SAs.Release};
#else
  ExecutorAddr *Fields[] = {&SAs.Allocator, &SAs.Reserve, &SAs.Finalize, &SAs.Deallocate};
#endif
  std::vector<std::pair<ExecutorAddr &, StringRef>> Pairs;
  for (size_t I = 0; I < Names.size(); ++I)
    Pairs.push_back({*Fields[I], Names[I]});
  if (Error E = EPC.getBootstrapSymbols(Pairs))
    return std::move(E);
  return std::make_unique<EPCGenericJITLinkMemoryManager>(EPC, SAs);
}

Expected<jitlink::SimpleSegmentAlloc>
createSegmentAlloc(jitlink::JITLinkMemoryManager &MM,
                   jitlink::SimpleSegmentAlloc::SegmentMap Segments) {
#if LLVM_VERSION_MAJOR >= 22
  return jitlink::SimpleSegmentAlloc::Create(MM, std::make_shared<SymbolStringPool>(),
                                             Triple(sys::getProcessTriple()), nullptr,
                                             std::move(Segments));
#else
  return jitlink::SimpleSegmentAlloc::Create(MM, nullptr, std::move(Segments));
#endif
}

void createSegmentAlloc(jitlink::JITLinkMemoryManager &MM,
                        jitlink::SimpleSegmentAlloc::SegmentMap Segments,
                        jitlink::SimpleSegmentAlloc::OnCreatedFunction OnCreated) {
#if LLVM_VERSION_MAJOR >= 22
  jitlink::SimpleSegmentAlloc::Create(MM, std::make_shared<SymbolStringPool>(),
                                      Triple(sys::getProcessTriple()), nullptr, std::move(Segments),
                                      std::move(OnCreated));
#else
  jitlink::SimpleSegmentAlloc::Create(MM, nullptr, std::move(Segments), std::move(OnCreated));
#endif
}

std::unique_ptr<jitlink::LinkGraph> createEmptyGraph(StringRef Name) {
  Triple TT(sys::getProcessTriple());
#if LLVM_VERSION_MAJOR >= 22
  return std::make_unique<jitlink::LinkGraph>(Name.str(), std::make_shared<SymbolStringPool>(), TT,
                                              SubtargetFeatures(), jitlink::getGenericEdgeKindName);
#else
  return std::make_unique<jitlink::LinkGraph>(Name.str(), TT, 8, endianness::little,
                                              jitlink::getGenericEdgeKindName);
#endif
}

} // namespace compat
} // namespace jitslab
