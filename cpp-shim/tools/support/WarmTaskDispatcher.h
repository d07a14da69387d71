//===- WarmTaskDispatcher.h - ORC's task dispatcher on warm threads --------===//
//
// What DynamicThreadPoolTaskDispatcher does (every task starts at once, on a thread of its
// own; at most MaxMaterializationThreads materializations at a time, the rest queued), on
// WarmThreads, which reuse a thread that has just finished instead of starting one for each
// task. The tools' sessions use it, in process and out of process. (LLVM 22's IdleTasks,
// which nothing in ORC or these tools creates, run here as ordinary tasks.)
//
// One exception: a materialization dispatched by the thread that created the dispatcher (the
// tool's main thread, which asked for the symbols and only waits) runs there and then, as ORC's
// in-process default, InPlaceTaskDispatcher, runs every task, and outside the limit. A
// materialization dispatched while one runs so, and any dispatched by another thread, goes to a
// warm thread: the nesting stays one deep, and the transport's reading thread, which must not
// block on the executor's answers, never runs one. Out of process a REPL input is compiled and
// linked on the thread that parsed it (its memory and caches are there), as in process: a
// 222-input jitslab-repl session's time out of process fell from 1.16x its in-process time to
// 1.11x (LLVM 22, native protocol, interleaved runs; README "Where a call's time goes").
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_TOOLS_WARMTASKDISPATCHER_H
#define JITSLAB_TOOLS_WARMTASKDISPATCHER_H

#include "WarmThreads.h"

#include "llvm/ExecutionEngine/Orc/TaskDispatch.h"

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace jitslab {

class WarmTaskDispatcher final : public llvm::orc::TaskDispatcher {
public:
  explicit WarmTaskDispatcher(std::optional<size_t> MaxMaterializationThreads)
      : MaxMaterializations(MaxMaterializationThreads) {}

  void dispatch(std::unique_ptr<llvm::orc::Task> T) override;
  /// Returns once every task dispatched so far has run.
  void shutdown() override { Threads.stop(); }

private:
  /// Runs `T`; a materialization's thread then runs the queued materializations, if any.
  void runTasks(std::unique_ptr<llvm::orc::Task> T, bool Materialization);

  const std::optional<size_t> MaxMaterializations;
  const std::thread::id Creator = std::this_thread::get_id();
  std::mutex M;
  size_t Materializing = 0;
  std::deque<std::unique_ptr<llvm::orc::Task>> Queued;
  WarmThreads Threads; // last: destroyed first, once no task runs
};

} // namespace jitslab

#endif
