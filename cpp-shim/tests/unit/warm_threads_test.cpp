//===- warm_threads_test.cpp - WarmThreads and WarmTaskDispatcher -----------===//
//
// What the tools' dispatchers promise ORC (tools/threads/WarmThreads.h): every job starts at
// once, even while all the others wait for each other; a thread that has finished a job takes
// the next one instead of a new thread starting; idle threads leave after the idle limit; stop()
// waits for running jobs. And WarmTaskDispatcher runs at most its limit of materializations at
// a time, every other task at once, and its creator's materializations in place.
//
//===----------------------------------------------------------------------===//

#include "WarmTaskDispatcher.h"
#include "WarmThreads.h"

#include "llvm/ExecutionEngine/Orc/Core.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

using namespace std::chrono_literals;

namespace {

/// A count that jobs raise and wait on: `waitFor(N)` returns once N have arrived or after 10 s.
class Rendezvous {
public:
  void arrive() {
    std::lock_guard<std::mutex> Lock(M);
    ++Count;
    CV.notify_all();
  }
  bool waitFor(int N) {
    std::unique_lock<std::mutex> Lock(M);
    return CV.wait_for(Lock, 10s, [&] { return Count >= N; });
  }

private:
  std::mutex M;
  std::condition_variable CV;
  int Count = 0;
};

TEST(WarmThreads, EveryJobStartsAtOnceEvenWhenTheOthersWaitForIt) {
  // Eight jobs, each waiting until all eight run: queued behind one another, they would time
  // out instead.
  jitslab::WarmThreads Threads;
  Rendezvous AllStarted;
  std::atomic<int> Met{0};
  for (int I = 0; I < 8; ++I)
    Threads.run([&] {
      AllStarted.arrive();
      if (AllStarted.waitFor(8))
        ++Met;
    });
  Threads.stop();
  EXPECT_EQ(Met.load(), 8);
}

TEST(WarmThreads, AFinishedThreadTakesTheNextJob) {
  jitslab::WarmThreads Threads(10s);
  std::set<std::thread::id> Ids;
  std::mutex M;
  for (int I = 0; I < 50; ++I) {
    std::promise<void> Done;
    Threads.run([&] {
      {
        std::lock_guard<std::mutex> Lock(M);
        Ids.insert(std::this_thread::get_id());
      }
      Done.set_value();
    });
    Done.get_future().wait();
    // Let the thread park before the next job comes, so that it is the idle one.
    for (int Wait = 0; Wait < 10000 && Threads.idleThreads() != 1; ++Wait)
      std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(Ids.size(), 1u) << "50 jobs one after the other should share one thread";
  EXPECT_EQ(Threads.threads(), 1u);
}

TEST(WarmThreads, IdleThreadsLeaveAfterTheIdleLimit) {
  jitslab::WarmThreads Threads(20ms);
  Rendezvous Started;
  for (int I = 0; I < 3; ++I)
    Threads.run([&] {
      Started.arrive();
      Started.waitFor(3);
    });
  ASSERT_TRUE(Started.waitFor(3));
  for (int Wait = 0; Wait < 5000 && Threads.threads() != 0; ++Wait)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(Threads.threads(), 0u);
}

TEST(WarmThreads, StopWaitsForRunningJobs) {
  jitslab::WarmThreads Threads;
  std::atomic<bool> Finished{false};
  Threads.run([&] {
    std::this_thread::sleep_for(50ms);
    Finished = true;
  });
  Threads.stop();
  EXPECT_TRUE(Finished.load());
  EXPECT_EQ(Threads.threads(), 0u);
  // Usable again after stop().
  std::promise<int> Again;
  Threads.run([&] { Again.set_value(7); });
  EXPECT_EQ(Again.get_future().get(), 7);
}

/// A MaterializationTask that runs a function.
class FunctionMaterialization final : public llvm::orc::MaterializationTask {
public:
  explicit FunctionMaterialization(std::function<void()> F)
      : MaterializationTask(nullptr, nullptr), F(std::move(F)) {}
  void printDescription(llvm::raw_ostream &OS) override { OS << "function materialization"; }
  void run() override { F(); }

private:
  std::function<void()> F;
};

/// A materialization that records how many of its kind run at once.
std::unique_ptr<FunctionMaterialization>
countingMaterialization(std::atomic<int> &Now, std::atomic<int> &Peak, Rendezvous &Done) {
  return std::make_unique<FunctionMaterialization>([&] {
    int N = ++Now;
    for (int P = Peak.load(); N > P && !Peak.compare_exchange_weak(P, N);)
      ;
    std::this_thread::sleep_for(5ms);
    --Now;
    Done.arrive();
  });
}

TEST(WarmTaskDispatcher, RunsAtMostItsLimitOfMaterializationsAndOtherTasksAtOnce) {
  jitslab::WarmTaskDispatcher D(2);
  std::atomic<int> Now{0}, Peak{0};
  Rendezvous MaterializationsDone, Other;
  // From a thread other than the dispatcher's creator, whose materializations would run in
  // place (the next test).
  std::thread([&] {
    for (int I = 0; I < 12; ++I)
      D.dispatch(countingMaterialization(Now, Peak, MaterializationsDone));
    // Other tasks are not held back by the queued materializations: these two wait for each
    // other.
    for (int I = 0; I < 2; ++I)
      D.dispatch(llvm::orc::makeGenericNamedTask([&] {
        Other.arrive();
        Other.waitFor(2);
      }));
  }).join();
  EXPECT_TRUE(Other.waitFor(2));
  EXPECT_TRUE(MaterializationsDone.waitFor(12));
  D.shutdown();
  EXPECT_EQ(Peak.load(), 2);
}

TEST(WarmTaskDispatcher, RunsItsCreatorsMaterializationInPlaceAndNoOtherOne) {
  jitslab::WarmTaskDispatcher D(2);
  const std::thread::id Creator = std::this_thread::get_id();
  std::thread::id Outer, Nested, FromOther;
  Rendezvous NestedRan, OtherRan;
  D.dispatch(std::make_unique<FunctionMaterialization>([&] {
    Outer = std::this_thread::get_id();
    // Dispatched while the creator's materialization runs in place: not nested in it.
    D.dispatch(std::make_unique<FunctionMaterialization>([&] {
      Nested = std::this_thread::get_id();
      NestedRan.arrive();
    }));
  }));
  // In place: it has run by the time dispatch returns, on this thread.
  EXPECT_EQ(Outer, Creator);
  EXPECT_TRUE(NestedRan.waitFor(1));
  EXPECT_NE(Nested, Creator);
  // Another thread's materialization goes to a warm thread, not that thread.
  std::thread::id Other;
  std::thread([&] {
    Other = std::this_thread::get_id();
    D.dispatch(std::make_unique<FunctionMaterialization>([&] {
      FromOther = std::this_thread::get_id();
      OtherRan.arrive();
    }));
  }).join();
  EXPECT_TRUE(OtherRan.waitFor(1));
  EXPECT_NE(FromOther, Other);
  EXPECT_NE(FromOther, Creator);
  D.shutdown();
}

} // namespace
