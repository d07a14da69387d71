//===- jitslab/EHFrameActions.h - eh-frames registered by finalize -*- C++ -*-===//
//
// Registration of a graph's .eh_frame as an allocation action, in place of LLVM 19's
// EHFrameRegistrationPlugin when no platform (ORC runtime) registers frames. LLVM 19 only: from
// LLVM 21 on, LLVM's own EHFrameRegistrationPlugin does exactly this (jitslab/OrcCompat.h picks).
//
// LLVM's plugin registers each graph's frames with its own synchronous call to the executor,
// made after the graph is emitted (EPCEHFrameRegistrar), and deregisters them with another
// when the graph's resources go: out of process, every object costs one more round trip.
// This plugin adds the same two calls to the graph as an allocation action pair instead:
//
//   finalize:   llvm_orc_registerEHFrameSectionWrapper(.eh_frame range)    SPSError(SPSExecutorAddrRange)
//   deallocate: llvm_orc_deregisterEHFrameSectionWrapper(.eh_frame range)
//
// so the memory manager runs them in the executor with the graph's finalize, after the bytes
// are in place and protected, and with its deallocation. With jitslab's native protocol the
// finalizes of a group-commit round travel in one call, so N objects cost O(rounds) calls,
// not N. Every JITLinkMemoryManager runs allocation actions (LLVM's in-process, mapper,
// shared-memory and EPC managers as well as jitslab's), so the plugin works with any of them.
//
// Do not use it together with EHFrameRegistrationPlugin or a platform that registers frames
// itself (ELFNixPlatform, with the ORC runtime): frames registered twice are wrong.
//
// The wrapper addresses are the executor's bootstrap symbols (rt::RegisterEHFrameSectionWrapperName
// and rt::DeregisterEHFrameSectionWrapperName in OrcRTBridge.h), which SelfExecutorProcessControl,
// llvm-jitlink-executor and jitslab-executor all publish; they are looked up once, by Create.
//
// Concurrency: the plugin holds two addresses set at creation and nothing else; its pass may
// run on any number of graphs at once.
//
//===--------------------------------------------------------------------------------===//

#ifndef JITSLAB_EHFRAMEACTIONS_H
#define JITSLAB_EHFRAMEACTIONS_H

#include "jitslab/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#if LLVM_VERSION_MAJOR >= 22
#error                                                                                             \
    "EHFrameActionsPlugin is for LLVM 19; LLVM 22's EHFrameRegistrationPlugin adds allocation actions itself (see jitslab/OrcCompat.h)"
#endif
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"

namespace jitslab {

class EHFrameActionsPlugin : public PassPlugin {
public:
  /// Looks the registration wrappers up in `EPC`'s bootstrap symbols; fails, naming the
  /// missing symbol, when the executor does not publish them.
  static llvm::Expected<std::shared_ptr<EHFrameActionsPlugin>>
  Create(llvm::orc::ExecutorProcessControl &EPC);

  EHFrameActionsPlugin(llvm::orc::ExecutorAddr RegisterWrapper,
                       llvm::orc::ExecutorAddr DeregisterWrapper)
      : RegisterWrapper(RegisterWrapper), DeregisterWrapper(DeregisterWrapper) {}

  /// Adds addActions as a post-fixup pass: by then the section's blocks have their final
  /// addresses and dead-stripping is over.
  void modifyPassConfig(llvm::orc::MaterializationResponsibility &MR, llvm::jitlink::LinkGraph &G,
                        llvm::jitlink::PassConfiguration &Config) override;

  /// The pass itself, for pipelines outside ObjectLinkingLayer: for a graph whose .eh_frame
  /// (ELF) or __TEXT,__eh_frame (MachO) section is non-empty, appends the action pair to
  /// G.allocActions(); otherwise leaves the graph alone. Must run after allocation.
  llvm::Error addActions(llvm::jitlink::LinkGraph &G) const;

private:
  llvm::orc::ExecutorAddr RegisterWrapper;
  llvm::orc::ExecutorAddr DeregisterWrapper;
};

} // namespace jitslab

#endif // JITSLAB_EHFRAMEACTIONS_H
