//===- Session.h - jitslab-run's process-wide state and its one way to fail -===//
//
// The executor this process started and the first error ORC reported on its own channel; and
// fail(), which every error of the tool goes through: one line, `jitslab-run: error: ...`,
// naming the executor if it died, then exit status 1 (the executor killed and reaped).
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_RUN_SESSION_H
#define JITSLAB_RUN_SESSION_H

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <sys/types.h>

#include <string>

namespace jitslab::run {

/// The executor this program started, if any (-1 once it has been reaped): killed and reaped
/// on the way out.
extern pid_t ExecutorPid;

/// Keeps `Msg` if it is the first error ORC reported on its own channel (a failed link reports
/// its cause there and only "failed to materialize" through the lookup): fail() shows it
/// instead of the lookup's summary.
void keepSessionError(std::string Msg);

/// Prints `Msg` (or the kept session error), prefixed with how the executor ended if it did,
/// as one line on stderr, and exits with status 1.
[[noreturn]] void fail(const llvm::Twine &Msg);

/// fail() with `Err`'s message, after `Context`, if `Err` is a failure.
void failOn(llvm::Error Err, const llvm::Twine &Context = "");

/// The value, or fail() with the error's message after `Context`.
template <typename T> T failOn(llvm::Expected<T> V, const llvm::Twine &Context = "") {
  if (!V)
    failOn(V.takeError(), Context);
  return std::move(*V);
}

} // namespace jitslab::run

#endif
