//===- EHFrameActions.cpp - eh-frames registered by finalize ----------------===//
//
// See jitslab/EHFrameActions.h.
//
//===----------------------------------------------------------------------===//

#include "jitslab/EHFrameActions.h"

#include "llvm/ExecutionEngine/Orc/ExecutorProcessControl.h"
#include "llvm/ExecutionEngine/Orc/Shared/OrcRTBridge.h"
#include "llvm/ExecutionEngine/Orc/Shared/WrapperFunctionUtils.h"

using namespace llvm;
using namespace llvm::jitlink;
using namespace llvm::orc;

namespace jitslab {

Expected<std::shared_ptr<EHFrameActionsPlugin>>
EHFrameActionsPlugin::Create(ExecutorProcessControl &EPC) {
  ExecutorAddr Register, Deregister;
  if (Error Err = EPC.getBootstrapSymbols({{Register, rt::RegisterEHFrameSectionWrapperName},
                                           {Deregister, rt::DeregisterEHFrameSectionWrapperName}}))
    return joinErrors(make_error<StringError>("jitslab: eh-frame registration by allocation "
                                              "actions needs the executor's bootstrap symbols " +
                                                  Twine(rt::RegisterEHFrameSectionWrapperName) +
                                                  " and " + rt::DeregisterEHFrameSectionWrapperName,
                                              inconvertibleErrorCode()),
                      std::move(Err));
  return std::make_shared<EHFrameActionsPlugin>(Register, Deregister);
}

Error EHFrameActionsPlugin::addActions(LinkGraph &G) const {
  StringRef Name = G.getTargetTriple().isOSBinFormatMachO() ? "__TEXT,__eh_frame" : ".eh_frame";
  Section *EHFrame = G.findSectionByName(Name);
  if (!EHFrame)
    return Error::success();
  SectionRange R(*EHFrame);
  if (R.empty())
    return Error::success();
  if (!R.getStart())
    return make_error<JITLinkError>("jitslab: " + Name + " of " + G.getName() + " (" +
                                    Twine(R.getSize()) +
                                    " bytes) has no address yet: the "
                                    "eh-frame action pass must run after allocation");
  using Sig = shared::SPSArgList<shared::SPSExecutorAddrRange>;
  auto Reg = shared::WrapperFunctionCall::Create<Sig>(RegisterWrapper, R.getRange());
  if (!Reg)
    return Reg.takeError();
  auto Dereg = shared::WrapperFunctionCall::Create<Sig>(DeregisterWrapper, R.getRange());
  if (!Dereg)
    return Dereg.takeError();
  G.allocActions().push_back({std::move(*Reg), std::move(*Dereg)});
  return Error::success();
}

void EHFrameActionsPlugin::modifyPassConfig(MaterializationResponsibility &, LinkGraph &,
                                            PassConfiguration &Config) {
  Config.PostFixupPasses.push_back([this](LinkGraph &G) { return addActions(G); });
}

} // namespace jitslab
