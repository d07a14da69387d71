//===- jitslab/PassPlugin.h - a linking-layer plugin that only adds passes ---===//
//
// The base of jitslab's ObjectLinkingLayer plugins (and the tools'): each only adds JITLink
// passes and keeps no per-graph resources of its own, so a failed graph, a removed resource
// tracker and a transfer between trackers need nothing from it.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_PASSPLUGIN_H
#define JITSLAB_PASSPLUGIN_H

#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"

namespace jitslab {

class PassPlugin : public llvm::orc::ObjectLinkingLayer::Plugin {
public:
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility &) override {
    return llvm::Error::success();
  }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib &, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib &, llvm::orc::ResourceKey,
                                   llvm::orc::ResourceKey) override {}
};

} // namespace jitslab

#endif
