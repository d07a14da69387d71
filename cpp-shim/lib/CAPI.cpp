//===- CAPI.cpp - C entry points of the shim --------------------------------===//
//
// The LLJIT creator for LLVM's C API and the dlopen plugin factory (jitslab/orc.h).
//
//===----------------------------------------------------------------------===//

#include "jitslab/MemoryManager.h"
#include "jitslab/orc.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"

#include <cstdio>
#include <string>

using namespace llvm;
using namespace llvm::jitlink;

namespace {

/// The memory manager of a layer whose jitslab manager could not be created: it fails every
/// allocation with the reason, so the error reaches the program at its first lookup.
class RefusingMemoryManager final : public JITLinkMemoryManager {
public:
  explicit RefusingMemoryManager(std::string Why) : Why(std::move(Why)) {}
  void allocate(const JITLinkDylib *, LinkGraph &, OnAllocatedFunction OnAllocated) override {
    OnAllocated(createStringError(inconvertibleErrorCode(), "%s", Why.c_str()));
  }
  void deallocate(std::vector<FinalizedAlloc> Allocs, OnDeallocatedFunction Done) override {
    // Nothing was ever allocated, so nothing can be handed back.
    for (auto &A : Allocs)
      A.release();
    Done(Error::success());
  }

private:
  std::string Why;
};

jitslab::Config configFrom(const JitslabConfig *Raw) {
  return Raw ? jitslab::Config(*Raw) : jitslab::Config();
}

} // namespace

extern "C" void *jitslab_orc_plugin_create(uint32_t PluginVersion, uint32_t LLVMMajor,
                                           const JitslabConfig *Config, const char **ErrOut) {
  static thread_local std::string LastError;
  auto Fail = [&](std::string Msg) -> void * {
    LastError = std::move(Msg);
    if (ErrOut)
      *ErrOut = LastError.c_str();
    return nullptr;
  };
  if (PluginVersion != JITSLAB_ORC_PLUGIN_VERSION)
    return Fail("jitslab plugin: the host asks for plugin version " +
                std::to_string(PluginVersion) + ", this shim implements version " +
                std::to_string(JITSLAB_ORC_PLUGIN_VERSION));
  if (LLVMMajor != LLVM_VERSION_MAJOR)
    return Fail("jitslab plugin: the host uses LLVM " + std::to_string(LLVMMajor) +
                ", this shim was built for LLVM " + std::to_string(LLVM_VERSION_MAJOR));
  auto MM = jitslab::MemoryManager::Create(configFrom(Config));
  if (!MM)
    return Fail(toString(MM.takeError()));
  return static_cast<JITLinkMemoryManager *>(MM->release());
}

extern "C" LLVMOrcObjectLayerRef
jitslab_orc_create_object_linking_layer(void *Ctx, LLVMOrcExecutionSessionRef ES,
                                        const char *TripleStr) {
  // LLVM's C API passes sessions and layers as plain casts of the C++ pointers.
  auto &Session = *reinterpret_cast<orc::ExecutionSession *>(ES);
  auto Layer = jitslab::createObjectLinkingLayer(
      Session, configFrom(static_cast<const JitslabConfig *>(Ctx)));
  if (!Layer) {
    std::string Why = toString(Layer.takeError());
    std::fprintf(stderr, "jitslab: %s\n", Why.c_str());
    auto Refusing = std::make_unique<orc::ObjectLinkingLayer>(
        Session, std::make_unique<RefusingMemoryManager>(std::move(Why)));
    return reinterpret_cast<LLVMOrcObjectLayerRef>(
        static_cast<orc::ObjectLayer *>(Refusing.release()));
  }
  return reinterpret_cast<LLVMOrcObjectLayerRef>(Layer->release());
}
