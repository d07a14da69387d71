//===- jitslab/OrcCompat.h - what differs between the LLVM majors jitslab builds on -*- C++ -*-===//
//
// jitslab's C++ side builds from one source tree against LLVM 19 and LLVM 22. Everything in ORC
// that those two spell differently, and that more than one file of the shim, the tools or the
// tests needs, is adapted here and nowhere else, so that the rest of the tree reads as plain
// ORC code and a new major (23: LLJITBuilder::setMemoryManagerCreator) is one more branch here.
//
//   19 spelling                                   22 spelling                   here
//   shared::WrapperFunctionResult                 shared::WrapperFunctionBuffer WrapperResult
//   shared::CWrapperFunctionResult                CWrapperFunctionBuffer        CWrapperResult
//   SimpleRemoteEPCArgBytesVector                 shared::WrapperFunctionBuffer MessageBytes
//   SelfExecutorProcessControl (in ExecutorProcessControl.h; own header in 22) createSelfEPC
//   layer creator (ExecutionSession &, const Triple &)  (ExecutionSession &)    layerCreator,
//                                                                               callLayerCreator
//   eh-frames: EPCEHFrameRegistrar, a call per graph    allocation actions     EHFrames*
//   SimpleExecutorMemoryManager finalize/deallocate     initialize/release...  createEPCGenericManager
//   lookup of main: callees may be unfinalized          dependencies tracked   LookupWaitsForDependencies
//   MemoryMapper::prepare(Addr, Size)                   prepare(G, Addr, Size) ForwardingMemoryMapper
//   SimpleSegmentAlloc::Create(MM, JD, Segs)            (MM, SSP, Triple, JD, Segs) createSegmentAlloc
//   LinkGraph(Name, Triple, ...)                        (Name, SSP, Triple, ...) createEmptyGraph
//
// Only the majors jitslab supports are accepted (CMakeLists.txt refuses others); a condition
// below says which spelling a major uses, not when LLVM changed it.
//
//===----------------------------------------------------------------------------------------===//

#ifndef JITSLAB_ORCCOMPAT_H
#define JITSLAB_ORCCOMPAT_H

#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/ExecutorProcessControl.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/MemoryMapper.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/Orc/Shared/SimpleRemoteEPCUtils.h"
#include "llvm/ExecutionEngine/Orc/Shared/WrapperFunctionUtils.h"
#if LLVM_VERSION_MAJOR >= 22
#include "llvm/ExecutionEngine/Orc/SelfExecutorProcessControl.h"
#endif

#include <functional>
#include <memory>

#if LLVM_VERSION_MAJOR != 19 && LLVM_VERSION_MAJOR != 22
#error "jitslab builds against LLVM 19 or LLVM 22"
#endif

namespace jitslab {
namespace compat {

/// The major this translation unit was built against.
inline constexpr unsigned LLVMMajor = LLVM_VERSION_MAJOR;

#if LLVM_VERSION_MAJOR >= 22
using WrapperResult = llvm::orc::shared::WrapperFunctionBuffer;
using CWrapperResult = llvm::orc::shared::CWrapperFunctionBuffer;
/// The argument bytes of an incoming SimpleRemoteEPC message.
using MessageBytes = llvm::orc::shared::WrapperFunctionBuffer;
#else
using WrapperResult = llvm::orc::shared::WrapperFunctionResult;
using CWrapperResult = llvm::orc::shared::CWrapperFunctionResult;
using MessageBytes = llvm::orc::SimpleRemoteEPCArgBytesVector;
#endif

/// This process as the executor (SelfExecutorProcessControl), with `D` as its dispatcher
/// (LLVM's default when null) and a fresh symbol string pool.
llvm::Expected<std::unique_ptr<llvm::orc::ExecutorProcessControl>>
createSelfEPC(std::unique_ptr<llvm::orc::TaskDispatcher> D = nullptr);

/// What jitslab's layer creators take: the session only (the target triple is the session's).
using LayerFactory = std::function<llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>>(
    llvm::orc::ExecutionSession &)>;

/// `F` as an LLJITBuilder object-linking-layer creator of this major.
llvm::orc::LLJITBuilderState::ObjectLinkingLayerCreator layerCreator(LayerFactory F);

/// Calls an LLJITBuilder object-linking-layer creator of this major for `ES` (on 19, with the
/// triple of the session's executor, which is what LLJIT passes).
llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>>
callLayerCreator(const llvm::orc::LLJITBuilderState::ObjectLinkingLayerCreator &C,
                 llvm::orc::ExecutionSession &ES);

/// Whether a symbol that a lookup returns as ready has everything it depends on finalized too.
/// LLVM 19's ObjectLinkingLayer drops dependencies for direct calls between objects, so out of
/// process a lookup of main can return before its callees' memory is finalized, and a tool
/// must look up every symbol the linked objects define before it runs code. LLVM 22's ORC
/// core tracks those dependencies (each graph waits for what it depends on), so it need not.
inline constexpr bool LookupWaitsForDependencies = LLVM_VERSION_MAJOR >= 22;

/// How LLVM itself registers a graph's .eh_frame when no platform does. On 19 its plugin makes
/// a call of its own per graph (EPCEHFrameRegistrar), so jitslab adds EHFrameActionsPlugin to
/// make registration an allocation action; on 22 LLVM's own EHFrameRegistrationPlugin already
/// adds allocation actions, which ride in the graph's finalize.
inline constexpr bool LLVMRegistersEHFramesByActions = LLVM_VERSION_MAJOR >= 22;

/// A plugin that registers each graph's eh-frames by allocation actions, with the graph's
/// finalize: jitslab::EHFrameActionsPlugin on 19, LLVM's EHFrameRegistrationPlugin on 22.
llvm::Expected<std::shared_ptr<llvm::orc::ObjectLinkingLayer::Plugin>>
createEHFrameActionsPlugin(llvm::orc::ExecutionSession &ES);

/// LLVM 19's EHFrameRegistrationPlugin over EPCEHFrameRegistrar: one call to the executor per
/// graph, made after the graph is emitted. An error on 22, where LLVM has no such registrar.
llvm::Expected<std::shared_ptr<llvm::orc::ObjectLinkingLayer::Plugin>>
createEHFrameCallsPlugin(llvm::orc::ExecutionSession &ES);

/// The bootstrap symbol names of the executor's eh-frame registration functions (wrappers on
/// 19, allocation-action functions on 22): {register, deregister}.
std::pair<const char *, const char *> ehFrameRegistrationSymbolNames();

/// LLVM's EPCGenericJITLinkMemoryManager over the executor's SimpleExecutorMemoryManager (the
/// default out of process: bytes copied over the connection at finalize).
llvm::Expected<std::unique_ptr<llvm::jitlink::JITLinkMemoryManager>>
createEPCGenericManager(llvm::orc::ExecutorProcessControl &EPC);

/// The bootstrap symbol names of the executor's SimpleExecutorMemoryManager service.
std::vector<const char *> simpleExecutorMemoryManagerSymbolNames();

/// A MemoryMapper that hands every call to another one; a subclass overrides what it changes.
class ForwardingMemoryMapper : public llvm::orc::MemoryMapper {
public:
  explicit ForwardingMemoryMapper(std::unique_ptr<llvm::orc::MemoryMapper> Inner)
      : Inner(std::move(Inner)) {}

  unsigned int getPageSize() override { return Inner->getPageSize(); }
  void reserve(size_t NumBytes, OnReservedFunction OnReserved) override {
    Inner->reserve(NumBytes, std::move(OnReserved));
  }
#if LLVM_VERSION_MAJOR >= 22
  char *prepare(llvm::jitlink::LinkGraph &G, llvm::orc::ExecutorAddr Addr,
                size_t ContentSize) override {
    return Inner->prepare(G, Addr, ContentSize);
  }
#else
  char *prepare(llvm::orc::ExecutorAddr Addr, size_t ContentSize) override {
    return Inner->prepare(Addr, ContentSize);
  }
#endif
  void initialize(AllocInfo &AI, OnInitializedFunction OnInitialized) override {
    Inner->initialize(AI, std::move(OnInitialized));
  }
  void deinitialize(llvm::ArrayRef<llvm::orc::ExecutorAddr> Allocations,
                    OnDeinitializedFunction OnDone) override {
    Inner->deinitialize(Allocations, std::move(OnDone));
  }
  void release(llvm::ArrayRef<llvm::orc::ExecutorAddr> Reservations,
               OnReleasedFunction OnReleased) override {
    Inner->release(Reservations, std::move(OnReleased));
  }

protected:
  llvm::orc::MemoryMapper &inner() { return *Inner; }

private:
  std::unique_ptr<llvm::orc::MemoryMapper> Inner;
};

/// jitlink::SimpleSegmentAlloc::Create for a graph of this host's triple.
llvm::Expected<llvm::jitlink::SimpleSegmentAlloc>
createSegmentAlloc(llvm::jitlink::JITLinkMemoryManager &MM,
                   llvm::jitlink::SimpleSegmentAlloc::SegmentMap Segments);

/// The same, asynchronous: `OnCreated` gets the allocation or the error.
void createSegmentAlloc(llvm::jitlink::JITLinkMemoryManager &MM,
                        llvm::jitlink::SimpleSegmentAlloc::SegmentMap Segments,
                        llvm::jitlink::SimpleSegmentAlloc::OnCreatedFunction OnCreated);

/// An empty LinkGraph for this host's triple (for tests that drive a manager directly).
std::unique_ptr<llvm::jitlink::LinkGraph> createEmptyGraph(llvm::StringRef Name);

/// A JITLink symbol's name as text (19 keeps a StringRef, 22 an interned SymbolStringPtr);
/// empty for an anonymous symbol.
inline llvm::StringRef symbolName(const llvm::jitlink::Symbol &S) {
  if (!S.hasName())
    return {};
#if LLVM_VERSION_MAJOR >= 22
  return *S.getName();
#else
  return S.getName();
#endif
}

} // namespace compat
} // namespace jitslab

#endif // JITSLAB_ORCCOMPAT_H
