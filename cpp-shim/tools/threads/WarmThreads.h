//===- WarmThreads.h - run each job at once, on a thread that is already up -===//
//
// ORC's dispatchers give every task a thread of its own at once, because a task may wait for
// another one (LLVM's DynamicThreadPoolTaskDispatcher, and SimpleRemoteEPCServer's
// ThreadDispatcher for each call an executor serves). They start a new thread for it, and the
// thread exits as soon as it runs out of work: out of process, a 222-input jitslab-repl session
// started 1914 threads in the two processes (strace), where in process it started none.
//
// WarmThreads keeps that promise (every job starts at once, none waits for another to finish)
// without the thread's creation and exit: a job goes to a thread that finished its last job
// less than `IdleLimit` ago, else to a new thread. An idle thread lives at most that long.
//
// Used by the controllers (WarmTaskDispatcher, for ORC's ExecutionSession) and by
// jitslab-executor (for the calls it serves); only the C++ standard library and LLVM's
// unique_function, so that the executor can link it without ORC.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_TOOLS_WARMTHREADS_H
#define JITSLAB_TOOLS_WARMTHREADS_H

#include "llvm/ADT/FunctionExtras.h"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

namespace jitslab {

class WarmThreads {
public:
  using Job = llvm::unique_function<void()>;

  explicit WarmThreads(std::chrono::milliseconds IdleLimit = std::chrono::seconds(1))
      : IdleLimit(IdleLimit) {}
  /// Waits for the jobs still running (stop()): the threads use this object.
  ~WarmThreads() { stop(); }
  WarmThreads(const WarmThreads &) = delete;
  WarmThreads &operator=(const WarmThreads &) = delete;

  /// Starts `J` at once: on an idle thread if there is one, else on a new thread.
  void run(Job J);

  /// Returns once every job has finished and every thread has exited. Jobs run after this
  /// start new threads that exit when done, so this can be called again.
  void stop();

  /// Threads alive now, running a job or idle, and of those the idle ones (for tests).
  size_t threads();
  size_t idleThreads();

private:
  /// An idle thread, waiting for its next job (its stack holds it).
  struct Parked {
    std::condition_variable Wake;
    Job Next;
  };

  void loop(Job J);

  const std::chrono::milliseconds IdleLimit;
  std::mutex M;
  std::condition_variable AllExited;
  std::vector<Parked *> Idle; // the most recently parked last: it is the warmest
  size_t Alive = 0;
  bool Stopping = false;
};

} // namespace jitslab

#endif
