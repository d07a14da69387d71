//===- Transport.h - jitslab's remote transport over ORC's EPC -*- C++ -*-===//
#ifndef JITSLAB_LIB_TRANSPORT_H
#define JITSLAB_LIB_TRANSPORT_H

#include "jitslab.h"

namespace llvm::orc {
class ExecutorProcessControl;
}

namespace jitslab {

/// A transport that borrows `EPC`, which must outlive the manager that uses it.
JitslabTransport makeTransport(llvm::orc::ExecutorProcessControl &EPC);

} // namespace jitslab

#endif
