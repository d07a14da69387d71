//===- Session.cpp - jitslab-run's process-wide state and its one way to fail -===//
//
// See Session.h.
//
//===----------------------------------------------------------------------===//

#include "Session.h"

#include "Executors.h"

#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <unistd.h>

using namespace llvm;

namespace jitslab::run {

pid_t ExecutorPid = -1;

namespace {

/// Why the executor is gone, if it is: "the executor (pid N) was killed by signal 9; ". A
/// connection error can arrive a moment before the dying process can be waited for, so this
/// waits up to half a second for a verdict.
std::string executorDeath() {
  std::string Fate = jitslab::executorFate(ExecutorPid, 500);
  return Fate.empty() ? Fate : Fate + "; ";
}

std::mutex SessionErrorMutex;
std::string SessionError; // see keepSessionError

void oneLine(std::string &Msg) {
  for (char &C : Msg)
    if (C == '\n')
      C = ' ';
}

} // namespace

void keepSessionError(std::string Msg) {
  std::lock_guard<std::mutex> Lock(SessionErrorMutex);
  if (SessionError.empty())
    SessionError = std::move(Msg);
}

[[noreturn]] void fail(const Twine &Msg) {
  // One failure speaks: a second thread failing meanwhile (a lost connection seen by both the
  // reader and the main thread) waits for the first to end the process.
  static std::atomic<bool> Failing{false};
  if (Failing.exchange(true))
    for (;;)
      pause();
  std::fflush(stdout);
  jitslab::discardEarlyExecutor(); // not connected yet: say nothing after this error
  std::string Text = Msg.str();
  {
    std::lock_guard<std::mutex> Lock(SessionErrorMutex);
    if (!SessionError.empty())
      Text = SessionError;
  }
  Text = executorDeath() + Text;
  oneLine(Text);
  errs() << "jitslab-run: error: " << Text << "\n";
  if (ExecutorPid > 0)
    jitslab::reapExecutor(ExecutorPid, 0);
  // Not exit(): ORC's threads may still be running (a link the failure cut short, a
  // connection's reader), and static destructors would pull their state from under them; the
  // kill trials saw it abort that way. Nothing at exit is ours to run: the output is flushed,
  // the executor reaped, and no name of the session outlives it in /dev/shm.
  std::fflush(nullptr);
  std::_Exit(1);
}

void failOn(Error Err, const Twine &Context) {
  if (!Err)
    return;
  std::string Msg = toString(std::move(Err));
  fail(Context.isTriviallyEmpty() ? Twine(Msg) : Context + ": " + Msg);
}

} // namespace jitslab::run
