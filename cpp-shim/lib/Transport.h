//===- Transport.h - jitslab's remote transport over ORC's EPC -*- C++ -*-===//
#ifndef JITSLAB_LIB_TRANSPORT_H
#define JITSLAB_LIB_TRANSPORT_H

#include "jitslab.h"

namespace llvm::orc {
class ExecutorProcessControl;
}

namespace jitslab {

/// What a transport keeps: the EPC it borrows, and whether its connection is known to be
/// closed. Owned by the transport (its destroy function deletes it).
struct TransportLink;

/// A transport that borrows `EPC`, which must outlive the manager that uses it. `Link` is set
/// to the transport's state, for closeTransport; valid until the manager frees the transport.
JitslabTransport makeTransport(llvm::orc::ExecutorProcessControl &EPC, TransportLink *&Link);

/// From now on, calls through the transport fail at once with an error saying that the
/// executor session has ended, without reaching the EPC. For an EPC that has disconnected:
/// a call would only make it report an error of its own, through an ExecutionSession that may
/// be in its destructor already.
void closeTransport(TransportLink &Link);

} // namespace jitslab

#endif
