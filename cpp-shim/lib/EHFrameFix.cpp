//===- EHFrameFix.cpp - keep .eh_frame records contiguous -------------------===//
//
// See jitslab/EHFrameFix.h for why.
//
//===----------------------------------------------------------------------===//

#include "jitslab/EHFrameFix.h"

using namespace llvm;
using namespace llvm::jitlink;

namespace jitslab {

Error ContiguousEHFramePlugin::packEHFrameRecords(LinkGraph &G) {
  if (Section *EHFrame = G.findSectionByName(".eh_frame"))
    for (Block *B : EHFrame->blocks()) {
      if (B->getSize() % 4 != 0)
        return make_error<JITLinkError>("jitslab: .eh_frame record of " + Twine(B->getSize()) +
                                        " bytes in " + G.getName() + " is not padded to 4 bytes");
      B->setAlignment(4);
      B->setAlignmentOffset(0);
    }
  return Error::success();
}

void ContiguousEHFramePlugin::modifyPassConfig(orc::MaterializationResponsibility &, LinkGraph &,
                                               PassConfiguration &Config) {
  Config.PostPrunePasses.push_back(packEHFrameRecords);
}

} // namespace jitslab
