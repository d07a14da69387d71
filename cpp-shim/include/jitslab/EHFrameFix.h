//===- jitslab/EHFrameFix.h - keep .eh_frame records contiguous -*- C++ -*-===//
//
// A workaround for LLVM JITLink on ELF (19, and still 22.1.8), independent of the memory manager.
//
// JITLink splits .eh_frame into one block per CIE/FDE record and keeps each block's original
// address modulo its alignment. When dead-stripping removes a record (the FDE of an inline
// function that another object already defines, for one), the next record can no longer sit
// right after the previous one: layout pads the hole with zero bytes. A zero length word is
// the end-of-section marker, so libgcc's unwinder stops reading the section there and never
// sees the FDEs behind it; an exception thrown through those functions ends in
// std::terminate. Every memory manager is affected (tests/workloads/cxx reproduces it with
// LLVM's InProcessMemoryManager too).
//
// The plugin lays the records out back to back: after dead-stripping, every .eh_frame block
// gets 4-byte alignment and no alignment offset. DWARF pads each record to a multiple of
// 4 bytes, so no gap is left.
//
//===--------------------------------------------------------------------------===//

#ifndef JITSLAB_EHFRAMEFIX_H
#define JITSLAB_EHFRAMEFIX_H

#include "jitslab/PassPlugin.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"

namespace jitslab {

class ContiguousEHFramePlugin : public PassPlugin {
public:
  void modifyPassConfig(llvm::orc::MaterializationResponsibility &MR, llvm::jitlink::LinkGraph &G,
                        llvm::jitlink::PassConfiguration &Config) override;

  /// The pass itself, for pipelines outside ObjectLinkingLayer.
  static llvm::Error packEHFrameRecords(llvm::jitlink::LinkGraph &G);
};

} // namespace jitslab

#endif // JITSLAB_EHFRAMEFIX_H
