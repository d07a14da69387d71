//===- resource_tracker_test.cpp - jitslab under ObjectLinkingLayer and RTs ------===//
//
// Links a real object (jit_payload.c, compiled by clang 19 at build time) with an
// ObjectLinkingLayer that uses jitslab::MemoryManager, in this process and with no platform,
// under a ResourceTracker; runs its code; removes the tracker. Checks that the link takes
// memory, that removing the tracker gives all of it back, and that fifty rounds of this leave
// the slab exactly as one round does (no growth, no lost range). The second test does the same
// out of process, with Debian's llvm-jitlink-executor.
//
//===----------------------------------------------------------------------===//

#include "Executors.h"
#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ExecutionEngine/Orc/Core.h"
#include "llvm/ExecutionEngine/Orc/ExecutorProcessControl.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include "test_support.h"

#include <cstring>
#include <fstream>

using namespace llvm;
using namespace llvm::orc;

namespace {

/// What must come back to the same value after each round.
void expectSameFootprint(const JitslabStats &A, const JitslabStats &B, int Round) {
  EXPECT_EQ(A.unassigned, B.unassigned) << "round " << Round;
  EXPECT_EQ(A.largest_free, B.largest_free) << "round " << Round;
  for (int P = 0; P < 3; ++P) {
    EXPECT_EQ(A.pools[P].reserved, B.pools[P].reserved) << "round " << Round << ", pool " << P;
    EXPECT_EQ(A.pools[P].committed, B.pools[P].committed) << "round " << Round << ", pool " << P;
    EXPECT_EQ(A.pools[P].free_ranges, B.pools[P].free_ranges)
        << "round " << Round << ", pool " << P;
  }
}

TEST(ResourceTrackerTest, RemovingTheTrackerGivesTheMemoryBack) {
  auto MMOr = jitslab::MemoryManager::Create(jitslab::Config().setLogFallback(false));
  ASSERT_EXPECTED(MMOr);
  jitslab::MemoryManager *MM = MMOr->get(); // owned by the layer below
  auto EPC = SelfExecutorProcessControl::Create();
  ASSERT_EXPECTED(EPC);
  ExecutionSession ES(std::move(*EPC));
  {
    ObjectLinkingLayer Layer(ES, std::move(*MMOr));
    // The session ends before the layer goes, on every path out of this scope.
    bool Ended = false;
    AtScopeExit EndSession([&] {
      if (!Ended)
        consumeError(ES.endSession());
    });
    JITDylib &JD = ES.createBareJITDylib("payload");
    const JitslabStats Base = cantFail(MM->stats());
    JitslabStats AfterFirst{};

    const int Rounds = 50;
    for (int Round = 0; Round < Rounds; ++Round) {
      ResourceTrackerSP RT = JD.createResourceTracker();
      auto Obj = MemoryBuffer::getFile(JITSLAB_UNIT_PAYLOAD);
      ASSERT_TRUE(static_cast<bool>(Obj))
          << JITSLAB_UNIT_PAYLOAD << ": " << Obj.getError().message();
      ASSERT_NO_ERROR(Layer.add(RT, std::move(*Obj)));

      auto Step = ES.lookup({&JD}, ES.intern("jitslab_payload_step"));
      ASSERT_EXPECTED(Step);
      auto Greeting = ES.lookup({&JD}, ES.intern("jitslab_payload_greeting"));
      ASSERT_EXPECTED(Greeting);
      // Fresh data and zero-fill each round: the object's state starts over.
      auto *StepFn = Step->getAddress().toPtr<int (*)()>();
      EXPECT_EQ(StepFn(), 141) << "round " << Round;
      EXPECT_EQ(StepFn(), 242) << "round " << Round;
      EXPECT_STREQ(Greeting->getAddress().toPtr<const char *(*)()>()(),
                   "hello from a JIT'd object");

      JitslabStats Linked = cantFail(MM->stats());
      EXPECT_GT(liveBytes(Linked), liveBytes(Base)) << "round " << Round;
      EXPECT_EQ(Linked.live_allocations, Base.live_allocations + 1) << "round " << Round;

      ASSERT_NO_ERROR(RT->remove());
      JitslabStats Removed = cantFail(MM->stats());
      EXPECT_EQ(liveBytes(Removed), liveBytes(Base)) << "round " << Round;
      EXPECT_EQ(Removed.live_allocations, Base.live_allocations) << "round " << Round;
      if (Round == 0)
        AfterFirst = Removed;
      else
        expectSameFootprint(AfterFirst, Removed, Round);
      if (HasFailure())
        break; // one round's report is enough
    }
    JitslabStats End = cantFail(MM->stats());
    EXPECT_EQ(End.allocations, Base.allocations + Rounds);
    EXPECT_EQ(End.deallocations, Base.deallocations + Rounds);
    EXPECT_EQ(End.leaked_bytes, 0u);
    Ended = true;
    ASSERT_NO_ERROR(ES.endSession());
    EXPECT_EQ(cantFail(MM->stats()).live_allocations, 0u);
  }
}

} // namespace

namespace {

/// A field of /proc/PID/status in KiB ("VmRSS", "RssShmem"), or -1 if unreadable.
int64_t statusKiB(pid_t Pid, StringRef Field) {
  std::ifstream Status("/proc/" + std::to_string(Pid) + "/status");
  for (std::string Line; std::getline(Status, Line);)
    if (StringRef L = Line; L.consume_front(Field) && L.consume_front(":")) {
      uint64_t KiB = 0;
      if (L.trim().consumeInteger(10, KiB))
        return -1;
      return static_cast<int64_t>(KiB);
    }
  return -1;
}

// The same rounds with the code in Debian's llvm-jitlink-executor and jitslab's slab in its
// shared memory: removing the tracker frees the memory in the executor too. The statistics
// come back; the executor's resident shared memory (its JIT memory) rises while the object is
// linked and is back to where it started after each removal (so pages are really given back,
// not just reused); and its whole resident memory does not grow over the rounds.
TEST(ResourceTrackerTest, RemovingTheTrackerFreesExecutorMemory) {
  auto Conn = jitslab::spawnExecutor(JITSLAB_EXECUTOR);
  ASSERT_EXPECTED(Conn);
  pid_t Pid = Conn->Pid;
  AtScopeExit Reap([&] { jitslab::reapExecutor(Pid, 5000); });
  ExecutionSession ES(std::move(Conn->EPC));
  auto &EPC = ES.getExecutorProcessControl();
  auto MMOr = jitslab::MemoryManager::Create(EPC, jitslab::Config());
  ASSERT_EXPECTED(MMOr);
  jitslab::MemoryManager *MM = MMOr->get(); // owned by the layer below
  {
    ObjectLinkingLayer Layer(ES, std::move(*MMOr));
    bool Ended = false;
    AtScopeExit EndSession([&] {
      if (!Ended)
        consumeError(ES.endSession());
    });
    JITDylib &JD = ES.createBareJITDylib("payload");
    const JitslabStats Base = cantFail(MM->stats());
    EXPECT_EQ(Base.mapper, unsigned(JITSLAB_MAPPER_REMOTE));
    // The executor's JIT memory is the shared memory jitslab's slab lives in: RssShmem.
    const int64_t ShmemBase = statusKiB(Pid, "RssShmem");
    ASSERT_GE(ShmemBase, 0) << "no RssShmem in /proc/" << Pid << "/status";
    int64_t RssAfterFirst = -1;
    const int Rounds = 50;
    for (int Round = 0; Round < Rounds; ++Round) {
      ResourceTrackerSP RT = JD.createResourceTracker();
      auto Obj = MemoryBuffer::getFile(JITSLAB_UNIT_PAYLOAD);
      ASSERT_TRUE(static_cast<bool>(Obj)) << Obj.getError().message();
      ASSERT_NO_ERROR(Layer.add(RT, std::move(*Obj)));
      auto Step = ES.lookup({&JD}, ES.intern("jitslab_payload_step"));
      ASSERT_EXPECTED(Step);
      // int step(void), called in the executor (the extra int argument is ignored).
      auto First = EPC.runAsIntFunction(Step->getAddress(), 0);
      ASSERT_EXPECTED(First);
      EXPECT_EQ(*First, 141) << "round " << Round;
      const int64_t ShmemLinked = statusKiB(Pid, "RssShmem");
      EXPECT_GT(ShmemLinked, ShmemBase) << "round " << Round << ": the linked object is not "
                                        << "resident in the executor's shared memory";

      const uint64_t CallsBefore = cantFail(MM->stats()).rpc_calls;
      ASSERT_NO_ERROR(RT->remove());
      JitslabStats Removed = cantFail(MM->stats());
      EXPECT_EQ(Removed.rpc_calls, CallsBefore + 1) << "one Deinitialize per removal";
      EXPECT_EQ(liveBytes(Removed), liveBytes(Base)) << "round " << Round;
      EXPECT_EQ(Removed.live_allocations, 0u) << "round " << Round;
      EXPECT_EQ(statusKiB(Pid, "RssShmem"), ShmemBase)
          << "round " << Round << ": the executor still holds the removed object's pages ("
          << ShmemLinked << " KiB of shared memory while linked)";
      if (Round == 0)
        RssAfterFirst = statusKiB(Pid, "VmRSS");
      if (HasFailure())
        break;
    }
    const int64_t RssAtEnd = statusKiB(Pid, "VmRSS");
    ASSERT_GT(RssAfterFirst, 0);
    // The executor's heap (ORC's own bookkeeping) must not grow either: allow 1 MiB of noise.
    EXPECT_LT(RssAtEnd, RssAfterFirst + 1024)
        << "executor RSS grew from " << RssAfterFirst << " to " << RssAtEnd << " KiB";
    Ended = true;
    ASSERT_NO_ERROR(ES.endSession());
  }
}

} // namespace
