// A host that does not link jitslab: it dlopens the installed shim (JITSLAB_ORC_LIBRARY, from
// find_package(jitslab)) and asks its factory for a JITLinkMemoryManager.
#include "Program.h"

#include "jitslab/orc.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"

#include <dlfcn.h>

int main() {
  void *Lib = dlopen(JITSLAB_ORC_LIBRARY, RTLD_NOW);
  if (!Lib) {
    llvm::errs() << "plugin-host: " << dlerror() << "\n";
    return 1;
  }
  auto Create = reinterpret_cast<JitslabOrcPluginCreate>(dlsym(Lib, JITSLAB_ORC_PLUGIN_SYMBOL));
  if (!Create) {
    llvm::errs() << "plugin-host: " << dlerror() << "\n";
    return 1;
  }
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  // One creator for LLVM 19 (which also passes the target triple) and 22 (which does not).
  auto Layer = [Create](llvm::orc::ExecutionSession &ES,
                        auto &&...) -> llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
    const char *Error = nullptr;
    void *MM = Create(JITSLAB_ORC_PLUGIN_VERSION, LLVM_VERSION_MAJOR, nullptr, &Error);
    if (!MM)
      return llvm::createStringError(llvm::inconvertibleErrorCode(), Error);
    return std::make_unique<llvm::orc::ObjectLinkingLayer>(
        ES, std::unique_ptr<llvm::jitlink::JITLinkMemoryManager>(
                static_cast<llvm::jitlink::JITLinkMemoryManager *>(MM)));
  };
  auto J = llvm::orc::LLJITBuilder().setObjectLinkingLayerCreator(Layer).create();
  if (!J) {
    llvm::errs() << "plugin-host: " << llvm::toString(J.takeError()) << "\n";
    return 1;
  }
  return consumer::run(**J, "plugin-host");
}
