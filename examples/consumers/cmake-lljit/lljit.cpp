// An LLJIT whose object linking layer is jitslab's (jitslab::orc from find_package(jitslab)).
#include "Program.h"

#include "jitslab/MemoryManager.h"

int main() {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto J = llvm::orc::LLJITBuilder()
               .setObjectLinkingLayerCreator(jitslab::objectLinkingLayerCreator())
               .create();
  if (!J) {
    llvm::errs() << "lljit-on-jitslab: " << llvm::toString(J.takeError()) << "\n";
    return 1;
  }
  return consumer::run(**J, "lljit-on-jitslab");
}
