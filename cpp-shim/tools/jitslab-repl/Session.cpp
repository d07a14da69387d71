//===- Session.cpp - jitslab-repl's process-wide state and its one way to fail -===//
//
// See Session.h.
//
//===----------------------------------------------------------------------===//

#include "Session.h"

#include "Executors.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace llvm;

namespace jitslab::repl {

std::atomic<bool> ShuttingDown{false};
std::atomic<bool> ExecutorGone{false};
pid_t ExecutorPid = -1;
ContextGuard SharedContext;

void fail(const Twine &Msg) {
  jitslab::discardEarlyExecutor(); // not connected yet: say nothing after this error
  errs() << "jitslab-repl: " << Msg << "\n";
  // A child executor is stopped, as jitslab-run's is: one that no longer reads (hung, or
  // broken) would not notice this process's end.
  if (ExecutorPid > 0)
    jitslab::reapExecutor(ExecutorPid, 0);
  std::exit(1);
}

} // namespace jitslab::repl
