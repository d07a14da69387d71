//===- ProcessControl.cpp - jitslab as the memory manager an EPC owns --------------------===//
//
// Part of libjitslab-preload-impl-MAJOR.so: the hooks for tools that build their memory
// manager themselves and hand it to the ExecutorProcessControl, rather than let an LLJIT
// choose a linking layer (Preload.cpp). llvm-jitlink is the one among Debian's tools: its
// Session links through `ObjectLinkingLayer(ES, EPC.getMemMgr())`, and the manager comes
//   - in process, from the tool itself: it constructs a SelfExecutorProcessControl with
//     LLVM's MapperJITLinkMemoryManager (InProcessMemoryMapper, 1 GiB slabs);
//   - out of process (-oop-executor, -oop-executor-connect), from SimpleRemoteEPC::setup,
//     which calls its Setup's CreateMemoryManager after the handshake, or makes LLVM's default
//     (EPCGenericJITLinkMemoryManager) when that is empty.
//
// Why there. `nm -D --undefined-only` on Debian's llvm-jitlink 19 and 22 shows both calls
// imported from libLLVM (through the PLT, so interposable): the constructor that takes the
// manager, and `setup(Setup)` (called by the inline SimpleRemoteEPC::Create template, so the
// call is compiled into the tool). They are the points where the manager is handed to its
// owner, with the same signatures in 19 and 22. The alternatives are worse: the tool's
// `createInProcessMemoryManager` is a static function of its own; MapperJITLinkMemoryManager's
// constructor and InProcessMemoryMapper::Create are imported too, but replacing what they
// build would mean building a different object in their place; the ObjectLinkingLayer (19) or
// LinkGraphLinkingLayer (22) constructor takes the manager by reference, owned by someone
// else, and is also how jitslab's own layers are made.
//
// What is replaced, so that a program's own choice is kept: in process, a manager of LLVM's
// own classes (MapperJITLinkMemoryManager, InProcessMemoryManager) or none (for which LLVM
// makes an InProcessMemoryManager); out of process, an empty CreateMemoryManager (LLVM's
// default; llvm-jitlink's --use-shared-memory on 19 and --use-memmgr=shared|simple-remote on
// 22 set one, and keep it). The EPC owns what it is given: jitslab's manager is destroyed with
// the EPC, after the session has ended (ExecutionSession::endSession deallocated every graph,
// then disconnected), which is when its JITSLAB_STATS report is written.
//
// Failures never end the tool: a bad setting leaves the tool's manager alone (Settings.cpp); a
// jitslab manager that cannot be made is named in one line and LLVM's is used.
//
//===-------------------------------------------------------------------------------------===//
#include "Interface.h"
#include "Report.h"
#include "Settings.h"

#include "jitslab/OrcCompat.h"

#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/MapperJITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/SimpleRemoteEPC.h"

using namespace llvm;
using namespace llvm::orc;

namespace jitslab::preload {
namespace {

/// Whether `MM` is what LLVM or a tool that takes LLVM's defaults would use: no manager (the
/// constructor then makes its default) or one of LLVM's own in-process classes.
bool isLLVMsOwn(jitlink::JITLinkMemoryManager *MM) {
  return !MM || dynamic_cast<MapperJITLinkMemoryManager *>(MM) ||
         dynamic_cast<jitlink::InProcessMemoryManager *>(MM);
}

/// Setup::CreateMemoryManager of jitslab: its manager in the executor, or LLVM's default when
/// it cannot be made.
Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>> createInExecutor(SimpleRemoteEPC &EPC) {
  auto MM = ReportingManager::create(&EPC, settings());
  if (MM)
    return std::move(*MM);
  sayKept(MM.takeError());
  return compat::createEPCGenericManager(EPC);
}

} // namespace
} // namespace jitslab::preload

extern "C" __attribute__((visibility("default"))) void jitslab_preload_self_epc(void *MemMgr) {
  using namespace jitslab::preload;
  auto &MM = *static_cast<std::unique_ptr<jitlink::JITLinkMemoryManager> *>(MemMgr);
  if (!settings().Use || !isLLVMsOwn(MM.get()))
    return;
  auto Jitslab = ReportingManager::create(nullptr, settings());
  if (!Jitslab) {
    sayKept(Jitslab.takeError());
    return;
  }
  MM = std::move(*Jitslab);
}

extern "C" __attribute__((visibility("default"))) void jitslab_preload_remote_setup(void *Setup) {
  using namespace jitslab::preload;
  auto &S = *static_cast<SimpleRemoteEPC::Setup *>(Setup);
  if (!settings().Use || S.CreateMemoryManager)
    return;
  S.CreateMemoryManager = createInExecutor;
}
