//===- WarmThreads.cpp - run each job at once, on a thread that is already up --===//

#include "WarmThreads.h"

#include <algorithm>
#include <thread>

namespace jitslab {

void WarmThreads::run(Job J) {
  std::unique_lock<std::mutex> Lock(M);
  if (!Idle.empty()) {
    Parked *P = Idle.back();
    Idle.pop_back();
    P->Next = std::move(J);
    P->Wake.notify_one();
    return;
  }
  ++Alive;
  Lock.unlock();
  std::thread([this, J = std::move(J)]() mutable { loop(std::move(J)); }).detach();
}

void WarmThreads::loop(Job J) {
  Parked Self;
  for (;;) {
    J();
    J = Job(); // what the job captured goes now, not when the next one comes
    std::unique_lock<std::mutex> Lock(M);
    if (!Stopping) {
      Idle.push_back(&Self);
      Self.Wake.wait_for(Lock, IdleLimit, [&] { return bool(Self.Next) || Stopping; });
      // run() takes a thread out of Idle as it hands it a job; otherwise it is still there.
      if (Self.Next) {
        J = std::move(Self.Next);
        continue;
      }
      Idle.erase(std::find(Idle.begin(), Idle.end(), &Self));
    }
    if (--Alive == 0)
      AllExited.notify_all();
    return; // nothing of this object is touched once the lock is released
  }
}

void WarmThreads::stop() {
  std::unique_lock<std::mutex> Lock(M);
  Stopping = true;
  for (Parked *P : Idle)
    P->Wake.notify_one();
  AllExited.wait(Lock, [this] { return Alive == 0; });
  Stopping = false;
}

size_t WarmThreads::threads() {
  std::lock_guard<std::mutex> Lock(M);
  return Alive;
}

size_t WarmThreads::idleThreads() {
  std::lock_guard<std::mutex> Lock(M);
  return Idle.size();
}

} // namespace jitslab
