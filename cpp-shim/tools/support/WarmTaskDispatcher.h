//===- WarmTaskDispatcher.h - ORC's task dispatcher on warm threads --------===//
//
// What DynamicThreadPoolTaskDispatcher does (every task starts at once, on a thread of its
// own; at most MaxMaterializationThreads materializations at a time, the rest queued), on
// WarmThreads, which reuse a thread that has just finished instead of starting one for each
// task. The tools' sessions use it, in process and out of process. (LLVM 22's IdleTasks,
// which nothing in ORC or these tools creates, run here as ordinary tasks.)
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
  std::mutex M;
  size_t Materializing = 0;
  std::deque<std::unique_ptr<llvm::orc::Task>> Queued;
  WarmThreads Threads; // last: destroyed first, once no task runs
};

} // namespace jitslab

#endif
