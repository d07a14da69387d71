//===- Preload.cpp - libjitslab-preload-impl-MAJOR.so: jitslab in a stock tool's LLJIT ------===//
//
// The implementation behind the stub (Stub.c), loaded only into a process that calls one of
// the stub's hooks with this LLVM major. This file: the hook for tools that build an LLJIT,
// clang-repl (in and out of process) and lli: LLJITBuilderState::prepareForConstruction()
// (LLLazyJITBuilderState's for lli, which reaches the former inside libLLVM, where calls cannot
// be interposed). Tools that hand a manager to their ExecutorProcessControl themselves
// (llvm-jitlink) are covered in ProcessControl.cpp.
//
// Why there, rather than at the ObjectLinkingLayer constructor or the memory managers LLVM
// builds: prepareForConstruction is where LLVM itself decides the JIT's linking layer when the
// tool's author did not, and it is a stable, exported, non-inline member that every
// LLJITBuilder::create() calls exactly once through the PLT. The hook lets LLVM decide first
// (code model, relocation model, the triple's JIT linker) and only replaces the layer creator
// that LLVM has just installed as its default. So a tool whose author chose a creator keeps
// it, a target where LLVM would use RuntimeDyld is left to it, and nothing else of the
// builder changes. The layer jitslab makes is the one LLVM's default would make (an
// ObjectLinkingLayer that registers exception frames), with jitslab's manager: in this
// process, or in the executor when the session's EPC is out of process (clang-repl
// --oop-executor), through the stock or native protocol (MemoryManager::CreateFor). When the
// EPC already owns a jitslab manager (clang-repl-22 --oop-executor builds its EPC through
// SimpleRemoteEPC::setup, whose hook gave it one) the layer uses that one.
//
// Failures never end the tool: a bad setting leaves LLVM's creator in place (Settings.cpp);
// a manager that cannot be created falls back, with one line, to the creator LLVM chose.
//
//===----------------------------------------------------------------------------------===//
#include "Interface.h"
#include "Report.h"
#include "Settings.h"

#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"

using namespace llvm;
using namespace llvm::orc;

namespace jitslab::preload {
namespace {

using Creator = LLJITBuilderState::ObjectLinkingLayerCreator;

/// An ObjectLinkingLayer like LLVM's default one, on a jitslab manager: the session's own when
/// a hook of ProcessControl.cpp gave its EPC one (clang-repl-22 --oop-executor goes through
/// SimpleRemoteEPC::setup too), so that a session has one reservation; else a new one.
Expected<std::unique_ptr<ObjectLayer>> createLayer(ExecutionSession &ES, const Settings &S) {
  auto &EPC = ES.getExecutorProcessControl();
  std::unique_ptr<ObjectLinkingLayer> Layer;
  if (ReportingManager::madeByPreload(EPC.getMemMgr())) {
    Layer = std::make_unique<ObjectLinkingLayer>(ES, EPC.getMemMgr());
  } else {
    auto MM = ReportingManager::create(&EPC, S);
    if (!MM)
      return MM.takeError();
    Layer = std::make_unique<ObjectLinkingLayer>(ES, std::move(*MM));
  }
  if (auto Err = addLayerPlugins(*Layer, ES))
    return std::move(Err);
  return std::move(Layer);
}

/// Jitslab's creator, falling back to `Default` (LLVM's) when jitslab cannot serve.
Creator jitslabCreator(Creator Default) {
  return compat::layerCreator([Default = std::move(Default)](
                                  ExecutionSession &ES) -> Expected<std::unique_ptr<ObjectLayer>> {
    auto Layer = createLayer(ES, settings());
    if (Layer)
      return Layer;
    sayKept(Layer.takeError());
    return compat::callLayerCreator(Default, ES);
  });
}

} // namespace
} // namespace jitslab::preload

extern "C" __attribute__((visibility("default"))) void
jitslab_preload_prepare(void *Ret, void *Builder, JitslabPrepareFn Real) {
  using namespace jitslab::preload;
  auto &B = *static_cast<LLJITBuilderState *>(Builder);
  bool AuthorChose = static_cast<bool>(B.CreateObjectLinkingLayer);
  Real(Ret, Builder);
  auto &Result = *static_cast<Error *>(Ret);
  // Result stays the caller's to check; this only asks whether it holds an error.
  if (Result || AuthorChose || !B.CreateObjectLinkingLayer || !settings().Use)
    return;
  B.CreateObjectLinkingLayer = jitslabCreator(std::move(B.CreateObjectLinkingLayer));
}
