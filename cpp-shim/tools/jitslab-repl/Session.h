//===- Session.h - jitslab-repl's process-wide state and its one way to fail -===//
//
// What every part of the tool shares: whether the session is ending, whether the executor is
// gone, the executor this process started, the LLVMContext lock clang takes while it parses;
// and fail(), one line `jitslab-repl: ...` and exit status 1, for mistakes that end the tool
// before or outside the session (errors of an input are printed and the session goes on).
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_REPL_SESSION_H
#define JITSLAB_REPL_SESSION_H

#include "InterpreterCompat.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <sys/types.h>

#include <atomic>

namespace jitslab::repl {

/// Set once the session is over and the JIT is being torn down.
extern std::atomic<bool> ShuttingDown;
/// Set when the executor is gone: what fails after that only repeats it.
extern std::atomic<bool> ExecutorGone;
/// The executor this program started, if any (-1 once it has been reaped).
extern pid_t ExecutorPid;
/// The lock clang should take while it parses (see ContextGuard).
extern ContextGuard SharedContext;

/// Prints `jitslab-repl: Msg` on stderr and exits with status 1.
[[noreturn]] void fail(const llvm::Twine &Msg);

/// The value, or fail() with the error's message after `Context`.
template <typename T> T failOn(llvm::Expected<T> V, const llvm::Twine &Context) {
  if (!V)
    fail(Context + ": " + llvm::toString(V.takeError()));
  return std::move(*V);
}

} // namespace jitslab::repl

#endif
