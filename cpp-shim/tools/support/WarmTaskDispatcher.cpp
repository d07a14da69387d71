//===- WarmTaskDispatcher.cpp - ORC's task dispatcher on warm threads ------===//

#include "WarmTaskDispatcher.h"

#include "llvm/ExecutionEngine/Orc/Core.h"

using namespace llvm;
using namespace llvm::orc;

namespace jitslab {

namespace {
/// Set while this thread runs a materialization in place (WarmTaskDispatcher.h).
thread_local bool RunningInPlace = false;
} // namespace

void WarmTaskDispatcher::dispatch(std::unique_ptr<Task> T) {
  bool Materialization = isa<MaterializationTask>(*T);
  if (Materialization && std::this_thread::get_id() == Creator && !RunningInPlace) {
    RunningInPlace = true;
    T->run();
    RunningInPlace = false;
    return;
  }
  if (Materialization) {
    std::lock_guard<std::mutex> Lock(M);
    if (MaxMaterializations && Materializing == *MaxMaterializations) {
      Queued.push_back(std::move(T));
      return;
    }
    ++Materializing;
  }
  Threads.run([this, T = std::move(T), Materialization]() mutable {
    runTasks(std::move(T), Materialization);
  });
}

void WarmTaskDispatcher::runTasks(std::unique_ptr<Task> T, bool Materialization) {
  for (;;) {
    T->run();
    T.reset();
    if (!Materialization)
      return;
    std::lock_guard<std::mutex> Lock(M);
    if (Queued.empty()) {
      --Materializing;
      return;
    }
    T = std::move(Queued.front());
    Queued.pop_front();
  }
}

} // namespace jitslab
