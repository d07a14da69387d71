//===- segment_alloc_test.cpp - jitslab::MemoryManager under JITLink's interface -===//
//
// Drives jitslab::MemoryManager the way JITLink does, with no JIT: through
// jitlink::SimpleSegmentAlloc, and through small hand-made LinkGraphs where a test needs
// allocation actions, an explicit abandon, or a NoAlloc section (SimpleSegmentAlloc offers
// none of those). Each test runs once per mapper (single view, dual view).
//
// What is checked: reuse of freed memory and its zeroing, coalescing of adjacent free ranges,
// abandon of the first allocation of a slab, rollback on a failing finalize action, the order
// of dealloc actions, Finalize and NoAlloc lifetimes, alignment, destruction of a manager that
// still has allocations, and errors that carry the library's message.
//
//===----------------------------------------------------------------------===//

#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ExecutionEngine/JITLink/JITLink.h"
#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/Shared/AllocationActions.h"
#include "llvm/ExecutionEngine/Orc/Shared/WrapperFunctionUtils.h"
#include "llvm/TargetParser/Triple.h"

#include <gtest/gtest.h>

#include "test_support.h"

#include <atomic>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

using namespace llvm;
using namespace llvm::jitlink;
using orc::ExecutorAddr;
using orc::MemLifetime;
using orc::MemProt;

// Readable gtest output for the types the assertions compare.
namespace llvm::orc {
void PrintTo(const ExecutorAddr &A, std::ostream *OS) { *OS << "0x" << utohexstr(A.getValue()); }
} // namespace llvm::orc
namespace jitslab {
void PrintTo(Mapper M, std::ostream *OS) {
  *OS << (M == Mapper::SingleView ? "single view" : M == Mapper::DualView ? "dual view" : "auto");
}
} // namespace jitslab

// --- allocation actions ---------------------------------------------------------------------
//
// Wrapper functions with ORC's C signature. jitslab calls them in this process (the executor is
// this process); each records its tag, in call order, so a test can check which actions ran.

namespace {
std::vector<std::string> ActionLog;
} // namespace

/// Records `Tag`; fails with "action <Tag> refused" when `Fail` is set.
extern "C" jitslab::compat::CWrapperResult jitslabUnitAction(const char *Data, size_t Size) {
  using namespace orc::shared;
  return WrapperFunction<SPSError(SPSString, bool)>::handle(
             Data, Size,
             [](std::string Tag, bool Fail) -> Error {
               ActionLog.push_back(Tag);
               if (Fail)
                 return createStringError(inconvertibleErrorCode(), "action %s refused",
                                          Tag.c_str());
               return Error::success();
             })
      .release();
}

/// Records "peek:" followed by the `Len` bytes found at executor address `Addr`.
extern "C" jitslab::compat::CWrapperResult jitslabUnitPeek(const char *Data, size_t Size) {
  using namespace orc::shared;
  return WrapperFunction<SPSError(SPSExecutorAddr, uint64_t)>::handle(
             Data, Size,
             [](ExecutorAddr Addr, uint64_t Len) -> Error {
               ActionLog.push_back("peek:" + std::string(Addr.toPtr<const char *>(), Len));
               return Error::success();
             })
      .release();
}

namespace {

/// The message of an error that must be a failure ("" if it was a success).
std::string failureText(Error Err) { return Err ? toString(std::move(Err)) : std::string(); }

orc::shared::WrapperFunctionCall action(StringRef Tag, bool Fail = false) {
  using namespace orc::shared;
  return cantFail(WrapperFunctionCall::Create<SPSArgList<SPSString, bool>>(
      ExecutorAddr::fromPtr(&jitslabUnitAction), Tag, Fail));
}

orc::shared::WrapperFunctionCall peek(ExecutorAddr Addr, uint64_t Len) {
  using namespace orc::shared;
  return cantFail(WrapperFunctionCall::Create<SPSArgList<SPSExecutorAddr, uint64_t>>(
      ExecutorAddr::fromPtr(&jitslabUnitPeek), Addr, Len));
}

// --- hand-made link graphs ------------------------------------------------------------------

const MemProt R = MemProt::Read;
const MemProt RW = MemProt::Read | MemProt::Write;
const MemProt RX = MemProt::Read | MemProt::Exec;

/// One section of a test graph, holding one block.
struct SectionSpec {
  const char *Name;
  MemProt Prot;
  uint64_t Size = 64;
  MemLifetime Lifetime = MemLifetime::Standard;
  bool ZeroFill = false;
  uint64_t Align = 16;
};

std::unique_ptr<LinkGraph> makeGraph(StringRef Name, std::initializer_list<SectionSpec> Specs) {
  auto G = jitslab::compat::createEmptyGraph(Name);
  // Addresses before layout are placeholders; give each block its own aligned range.
  uint64_t Placeholder = 0x100000;
  for (const SectionSpec &S : Specs) {
    Section &Sec = G->createSection(S.Name, S.Prot);
    Sec.setMemLifetime(S.Lifetime);
    if (S.ZeroFill)
      G->createZeroFillBlock(Sec, S.Size, ExecutorAddr(Placeholder), S.Align, 0);
    else
      G->createMutableContentBlock(Sec, S.Size, ExecutorAddr(Placeholder), S.Align, 0);
    Placeholder += alignTo(S.Size, 0x100000);
  }
  return G;
}

Block &blockOf(LinkGraph &G, StringRef SectionName) {
  Section *Sec = G.findSectionByName(SectionName);
  assert(Sec && "no such section in the test graph");
  return **Sec->blocks().begin();
}

/// Where the linker writes a content block (valid after allocation).
char *workingMem(LinkGraph &G, StringRef SectionName) {
  return blockOf(G, SectionName).getAlreadyMutableContent().data();
}

ExecutorAddr addrOf(LinkGraph &G, StringRef SectionName) {
  return blockOf(G, SectionName).getAddress();
}

/// x86-64 `mov eax, Value; ret`.
void writeReturnConstant(char *Code, uint32_t Value) {
  const unsigned char Bytes[] = {
      0xb8, uint8_t(Value), uint8_t(Value >> 8), uint8_t(Value >> 16), uint8_t(Value >> 24), 0xc3};
  std::memcpy(Code, Bytes, sizeof(Bytes));
}

int callAt(ExecutorAddr A) { return A.toPtr<int (*)()>()(); }

/// Abandons an allocation and returns the error its continuation got. The shim promises the
/// continuation runs before abandon returns; that is checked too.
Error abandonNow(JITLinkMemoryManager::InFlightAlloc &A) {
  std::optional<Error> Result;
  A.abandon([&](Error E) { Result.emplace(std::move(E)); });
  if (!Result)
    return createStringError(inconvertibleErrorCode(),
                             "abandon returned before calling its continuation");
  return std::move(*Result);
}

// --- statistics -----------------------------------------------------------------------------

enum PoolIndex {
  CodePool = JITSLAB_POOL_CODE,
  ReadOnlyPool = JITSLAB_POOL_READ_ONLY,
  ReadWritePool = JITSLAB_POOL_READ_WRITE
};

// --- the fixture ----------------------------------------------------------------------------

/// A fresh manager for each test: a 4 MiB slab in 64 KiB chunks, with the mapper under test.
class SegmentAllocTest : public ::testing::TestWithParam<jitslab::Mapper> {
protected:
  static constexpr uint64_t Span = 4 << 20;
  static constexpr uint64_t Chunk = 64 << 10;

  jitslab::Config config() const {
    return jitslab::Config()
        .setSlabSize(Span)
        .setChunkSize(Chunk)
        .setMapper(GetParam())
        .setLogFallback(false);
  }

  void SetUp() override {
    ActionLog.clear();
    auto Created = jitslab::MemoryManager::Create(config());
    if (!Created) {
      std::string Why = toString(Created.takeError());
      if (GetParam() == jitslab::Mapper::DualView)
        GTEST_SKIP() << "the dual view is refused on this system: " << Why;
      FAIL() << Why;
    }
    MM = std::move(*Created);
    Base = stats();
    Page = Base.page_size;
  }

  JitslabStats stats() const {
    auto S = MM->stats();
    if (!S) {
      ADD_FAILURE() << toString(S.takeError());
      return JitslabStats{};
    }
    return *S;
  }

  Expected<SimpleSegmentAlloc> segments(SimpleSegmentAlloc::SegmentMap Map) {
    return jitslab::compat::createSegmentAlloc(*MM, std::move(Map));
  }

  std::unique_ptr<jitslab::MemoryManager> MM;
  JitslabStats Base{};
  uint64_t Page = 0;
};

// --- reuse ----------------------------------------------------------------------------------

TEST_P(SegmentAllocTest, FreedMemoryIsReusedAndLiveBytesReturnToBaseline) {
  SimpleSegmentAlloc::SegmentMap Shape = {
      {RX, {100, Align(16)}}, {R, {50, Align(8)}}, {RW, {300, Align(8)}}};
  auto First = segments(Shape);
  ASSERT_EXPECTED(First);
  ExecutorAddr Code = First->getSegInfo(RX).Addr;
  ExecutorAddr ReadOnly = First->getSegInfo(R).Addr;
  ExecutorAddr Data = First->getSegInfo(RW).Addr;
  std::strcpy(First->getSegInfo(RW).WorkingMem.data(), "written before finalize");
  EXPECT_GT(liveBytes(stats()), liveBytes(Base));
  EXPECT_EQ(stats().live_allocations, Base.live_allocations + 1);

  auto FA = First->finalize();
  ASSERT_EXPECTED(FA);
  EXPECT_STREQ(Data.toPtr<const char *>(), "written before finalize");
  ASSERT_NO_ERROR(MM->deallocate(std::move(*FA)));
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
  EXPECT_EQ(stats().live_allocations, Base.live_allocations);

  auto Second = segments(Shape);
  ASSERT_EXPECTED(Second);
  EXPECT_EQ(Second->getSegInfo(RX).Addr, Code);
  EXPECT_EQ(Second->getSegInfo(R).Addr, ReadOnly);
  EXPECT_EQ(Second->getSegInfo(RW).Addr, Data);
  auto FA2 = Second->finalize();
  ASSERT_EXPECTED(FA2);
  ASSERT_NO_ERROR(MM->deallocate(std::move(*FA2)));
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
  EXPECT_EQ(stats().live_allocations, Base.live_allocations);
}

// Zero-fill blocks (.bss) are not copied by the layout: the manager alone makes them zero. A
// reused range must read as zero even after the previous owner dirtied it.
TEST_P(SegmentAllocTest, ReusedZeroFillMemoryReadsAsZero) {
  const uint64_t Size = 3 * Page + 100;
  auto Dirty = makeGraph("dirty", {{"bss", RW, Size, MemLifetime::Standard, true}});
  auto A = MM->allocate(nullptr, *Dirty);
  ASSERT_EXPECTED(A);
  auto FA = (*A)->finalize();
  ASSERT_EXPECTED(FA);
  ExecutorAddr Bss = addrOf(*Dirty, "bss");
  std::memset(Bss.toPtr<char *>(), 0xab, Size);
  ASSERT_NO_ERROR(MM->deallocate(std::move(*FA)));

  auto Clean = makeGraph("clean", {{"bss", RW, Size, MemLifetime::Standard, true}});
  auto B = MM->allocate(nullptr, *Clean);
  ASSERT_EXPECTED(B);
  ASSERT_EQ(addrOf(*Clean, "bss"), Bss) << "the range was not reused; the test proves nothing";
  auto FB = (*B)->finalize();
  ASSERT_EXPECTED(FB);
  const unsigned char *Bytes = Bss.toPtr<const unsigned char *>();
  uint64_t NonZero = 0;
  for (uint64_t I = 0; I < Size; ++I)
    NonZero += Bytes[I] != 0;
  EXPECT_EQ(NonZero, 0u) << "bytes of the previous owner survived into a new allocation";
  ASSERT_NO_ERROR(MM->deallocate(std::move(*FB)));
}

// A batch with one id the library does not know must not strand the good ones: the
// FinalizedAllocs are already released when the library refuses the batch.
TEST_P(SegmentAllocTest, BatchWithAnUnknownIdStillFreesTheGoodAllocations) {
  auto Good = segments({{RW, {300, Align(8)}}});
  ASSERT_EXPECTED(Good);
  auto FA = Good->finalize();
  ASSERT_EXPECTED(FA);
  EXPECT_EQ(stats().live_allocations, Base.live_allocations + 1);
  std::vector<JITLinkMemoryManager::FinalizedAlloc> Batch;
  Batch.push_back(std::move(*FA));
  Batch.push_back(JITLinkMemoryManager::FinalizedAlloc(ExecutorAddr(0x7fff0000dead)));
  Error Err = MM->deallocate(std::move(Batch));
  ASSERT_TRUE(!!Err) << "an unknown id was accepted";
  EXPECT_NE(toString(std::move(Err)).find("JITSLAB_ERR_UNKNOWN_ALLOCATION"), std::string::npos);
  EXPECT_EQ(stats().live_allocations, Base.live_allocations) << "the good allocation leaked";
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
}

// --- coalescing -----------------------------------------------------------------------------

// Fills one chunk of the read-write pool with A, B, C (each two pages) and D (the rest), frees
// A and C, then B. Only if B's range merges with both neighbours is there a free range of
// three times the size; a request of that size must then land at A, inside the chunk the pool
// already owns. Without coalescing the pool has three separate holes and must grow instead.
TEST_P(SegmentAllocTest, AdjacentFreeRangesAreCoalesced) {
  const uint64_t Piece = 2 * Page;
  ASSERT_GT(Chunk, 3 * Piece);
  std::vector<SimpleSegmentAlloc> Allocs;
  std::vector<JITLinkMemoryManager::FinalizedAlloc> Finalized;
  std::vector<ExecutorAddr> Addrs;
  for (uint64_t Size : {Piece, Piece, Piece, Chunk - 3 * Piece}) {
    auto S = segments({{RW, {Size, Align(16)}}});
    ASSERT_EXPECTED(S);
    Addrs.push_back(S->getSegInfo(RW).Addr);
    auto FA = S->finalize();
    ASSERT_EXPECTED(FA);
    Finalized.push_back(std::move(*FA));
    Allocs.push_back(std::move(*S));
  }
  // Preconditions: the four are adjacent and fill the pool's only chunk.
  for (size_t I = 1; I < Addrs.size(); ++I)
    ASSERT_EQ(Addrs[I], Addrs[0] + I * Piece) << "segment " << I << " is not adjacent";
  JitslabStats Full = stats();
  ASSERT_EQ(Full.pools[ReadWritePool].reserved, Chunk);
  ASSERT_EQ(Full.pools[ReadWritePool].free_ranges, 0u);

  ASSERT_NO_ERROR(MM->deallocate(std::move(Finalized[0])));
  ASSERT_NO_ERROR(MM->deallocate(std::move(Finalized[2])));
  EXPECT_EQ(stats().pools[ReadWritePool].free_ranges, 2u);
  EXPECT_EQ(stats().pools[ReadWritePool].largest_free, Piece);

  ASSERT_NO_ERROR(MM->deallocate(std::move(Finalized[1])));
  JitslabStats Merged = stats();
  EXPECT_EQ(Merged.pools[ReadWritePool].free_ranges, 1u);
  EXPECT_EQ(Merged.pools[ReadWritePool].largest_free, 3 * Piece);

  auto Big = segments({{RW, {3 * Piece, Align(16)}}});
  ASSERT_EXPECTED(Big);
  EXPECT_EQ(Big->getSegInfo(RW).Addr, Addrs[0]);
  EXPECT_EQ(stats().pools[ReadWritePool].reserved, Chunk) << "the pool grew instead";

  auto FBig = Big->finalize();
  ASSERT_EXPECTED(FBig);
  ASSERT_NO_ERROR(MM->deallocate(std::move(*FBig)));
  ASSERT_NO_ERROR(MM->deallocate(std::move(Finalized[3])));
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
}

// --- abandon --------------------------------------------------------------------------------

// LLVM 19's MapperJITLinkMemoryManager unmaps the whole slab when the first allocation in it
// is abandoned. Here the first allocation is abandoned while a finalized one and an in-flight
// one share its pools (and, with the dual view, its pages); both must stay usable.
TEST_P(SegmentAllocTest, AbandoningTheFirstAllocationLeavesTheOthersUsable) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the test writes x86-64 machine code";
#endif
  auto Shape = [](StringRef Name) {
    return makeGraph(Name, {{"text", RX, 16}, {"rodata", R, 32}, {"data", RW, 64}});
  };
  ASSERT_EQ(Base.allocations, 0u);
  auto GX = Shape("first");
  auto X = MM->allocate(nullptr, *GX);
  ASSERT_EXPECTED(X);
  uint64_t XLive = liveBytes(stats()) - liveBytes(Base);
  std::strcpy(workingMem(*GX, "data"), "data of the first allocation");

  auto GY = Shape("finalized");
  auto Y = MM->allocate(nullptr, *GY);
  ASSERT_EXPECTED(Y);
  writeReturnConstant(workingMem(*GY, "text"), 0x1111);
  std::strcpy(workingMem(*GY, "rodata"), "rodata of Y");
  std::strcpy(workingMem(*GY, "data"), "data of Y");
  auto FY = (*Y)->finalize();
  ASSERT_EXPECTED(FY);

  auto GZ = Shape("in flight");
  auto Z = MM->allocate(nullptr, *GZ);
  ASSERT_EXPECTED(Z);

  JitslabStats Before = stats();
  ASSERT_NO_ERROR(abandonNow(**X));
  JitslabStats After = stats();
  EXPECT_EQ(liveBytes(After), liveBytes(Before) - XLive);
  EXPECT_EQ(After.live_allocations, Before.live_allocations - 1);
  EXPECT_EQ(After.abandons, Before.abandons + 1);

  // The finalized allocation: code runs, data reads back and can be written.
  EXPECT_EQ(callAt(addrOf(*GY, "text")), 0x1111);
  EXPECT_STREQ(addrOf(*GY, "rodata").toPtr<const char *>(), "rodata of Y");
  char *YData = addrOf(*GY, "data").toPtr<char *>();
  EXPECT_STREQ(YData, "data of Y");
  std::strcpy(YData, "Y written after the abandon");
  EXPECT_STREQ(YData, "Y written after the abandon");

  // The in-flight allocation: its working memory is still there to be written and finalized.
  writeReturnConstant(workingMem(*GZ, "text"), 0x2222);
  std::strcpy(workingMem(*GZ, "data"), "data of Z");
  auto FZ = (*Z)->finalize();
  ASSERT_EXPECTED(FZ);
  EXPECT_EQ(callAt(addrOf(*GZ, "text")), 0x2222);
  EXPECT_STREQ(addrOf(*GZ, "data").toPtr<const char *>(), "data of Z");
  EXPECT_EQ(callAt(addrOf(*GY, "text")), 0x1111);

  std::vector<JITLinkMemoryManager::FinalizedAlloc> Both;
  Both.push_back(std::move(*FY));
  Both.push_back(std::move(*FZ));
  ASSERT_NO_ERROR(MM->deallocate(std::move(Both)));
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
  EXPECT_EQ(stats().live_allocations, Base.live_allocations);
}

// JITLink drops an InFlightAlloc without abandoning it when a link fails before finalize; the
// shim must give the memory back then.
TEST_P(SegmentAllocTest, DroppedInFlightAllocationIsAbandoned) {
  {
    auto S = segments({{RX, {64, Align(16)}}, {RW, {3 * Page, Align(16)}}});
    ASSERT_EXPECTED(S);
    EXPECT_EQ(stats().live_allocations, Base.live_allocations + 1);
  }
  JitslabStats After = stats();
  EXPECT_EQ(liveBytes(After), liveBytes(Base));
  EXPECT_EQ(After.live_allocations, Base.live_allocations);
  EXPECT_EQ(After.abandons, Base.abandons + 1);
}

// --- allocation actions ---------------------------------------------------------------------

// Finalize action 2 of 4 fails: the dealloc actions of 1 and 0 run, in that order; neither
// action 2's own dealloc nor anything of action 3 runs; finalize fails with the action's
// message and every byte of the allocation is given back.
TEST_P(SegmentAllocTest, FailingFinalizeActionRollsBack) {
  auto G = makeGraph("rollback", {{"text", RX, 16}, {"data", RW, 2 * Page}});
  auto &AAs = G->allocActions();
  AAs.push_back({action("f0"), action("d0")});
  AAs.push_back({action("f1"), action("d1")});
  AAs.push_back({action("f2", /*Fail=*/true), action("d2")});
  AAs.push_back({action("f3"), action("d3")});
  auto A = MM->allocate(nullptr, *G);
  ASSERT_EXPECTED(A);
  EXPECT_GT(liveBytes(stats()), liveBytes(Base));

  auto FA = (*A)->finalize();
  ASSERT_FALSE(static_cast<bool>(FA)) << "finalize succeeded despite a failing action";
  std::string Msg = toString(FA.takeError());
  EXPECT_NE(Msg.find("action f2 refused"), std::string::npos) << Msg;
  EXPECT_NE(Msg.find("JITSLAB_ERR_ACTION_FAILED"), std::string::npos) << Msg;
  EXPECT_EQ(ActionLog, (std::vector<std::string>{"f0", "f1", "f2", "d1", "d0"}));

  JitslabStats After = stats();
  EXPECT_EQ(liveBytes(After), liveBytes(Base));
  EXPECT_EQ(After.live_allocations, Base.live_allocations);
  EXPECT_EQ(After.failed_finalizes, Base.failed_finalizes + 1);

  // The rolled-back ranges are free again: the same graph shape gets them back.
  ExecutorAddr OldText = addrOf(*G, "text");
  auto Again = makeGraph("again", {{"text", RX, 16}, {"data", RW, 2 * Page}});
  auto B = MM->allocate(nullptr, *Again);
  ASSERT_EXPECTED(B);
  EXPECT_EQ(addrOf(*Again, "text"), OldText);
  ASSERT_NO_ERROR(abandonNow(**B));
}

// One deallocate call with two allocations: dealloc actions run from the last allocation to
// the first, each one's from last to first; a failing one does not stop the others and the
// memory is returned anyway.
TEST_P(SegmentAllocTest, DeallocateRunsDeallocActionsInReverseAcrossTheBatch) {
  auto GP = makeGraph("P", {{"data", RW, 64}});
  GP->allocActions().push_back({action("P.f0"), action("P.d0")});
  GP->allocActions().push_back({action("P.f1"), action("P.d1")});
  auto GQ = makeGraph("Q", {{"data", RW, 64}});
  GQ->allocActions().push_back({action("Q.f0"), action("Q.d0", /*Fail=*/true)});
  GQ->allocActions().push_back({action("Q.f1"), action("Q.d1")});

  std::vector<JITLinkMemoryManager::FinalizedAlloc> Batch;
  for (LinkGraph *G : {GP.get(), GQ.get()}) {
    auto A = MM->allocate(nullptr, *G);
    ASSERT_EXPECTED(A);
    auto FA = (*A)->finalize();
    ASSERT_EXPECTED(FA);
    Batch.push_back(std::move(*FA));
  }
  EXPECT_EQ(ActionLog, (std::vector<std::string>{"P.f0", "P.f1", "Q.f0", "Q.f1"}));
  ActionLog.clear();

  std::string Msg = failureText(MM->deallocate(std::move(Batch)));
  EXPECT_NE(Msg.find("action Q.d0 refused"), std::string::npos) << "got: '" << Msg << "'";
  EXPECT_EQ(ActionLog, (std::vector<std::string>{"Q.d1", "Q.d0", "P.d1", "P.d0"}));
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
  EXPECT_EQ(stats().live_allocations, Base.live_allocations);
}

// --- lifetimes ------------------------------------------------------------------------------

// A Finalize-lifetime segment is readable while the finalize actions run, and given back as
// soon as they have run; the Standard segments stay.
TEST_P(SegmentAllocTest, FinalizeLifetimeMemoryIsReturnedAfterFinalize) {
  const uint64_t InitSize = 3 * Page;
  auto G = makeGraph("init", {{"text", RX, 16}, {"init", RW, InitSize, MemLifetime::Finalize}});
  auto A = MM->allocate(nullptr, *G);
  ASSERT_EXPECTED(A);
  ExecutorAddr Init = addrOf(*G, "init");
  std::strcpy(workingMem(*G, "init"), "finalize-lifetime bytes");
  G->allocActions().push_back({peek(Init, 23), {}});

  JitslabStats Allocated = stats();
  EXPECT_EQ(Allocated.pools[ReadWritePool].live, Base.pools[ReadWritePool].live + InitSize);
  uint64_t CodeLive = Allocated.pools[CodePool].live;
  EXPECT_GT(CodeLive, Base.pools[CodePool].live);

  auto FA = (*A)->finalize();
  ASSERT_EXPECTED(FA);
  EXPECT_EQ(ActionLog, (std::vector<std::string>{"peek:finalize-lifetime bytes"}));
  JitslabStats Finalized = stats();
  EXPECT_EQ(Finalized.pools[ReadWritePool].live, Base.pools[ReadWritePool].live);
  EXPECT_EQ(Finalized.pools[CodePool].live, CodeLive);
  EXPECT_EQ(Finalized.live_allocations, Base.live_allocations + 1);

  // The range is free for others while the allocation lives on.
  auto Next = segments({{RW, {InitSize, Align(16)}}});
  ASSERT_EXPECTED(Next);
  EXPECT_EQ(Next->getSegInfo(RW).Addr, Init);

  ASSERT_NO_ERROR(MM->deallocate(std::move(*FA)));
  EXPECT_EQ(stats().pools[CodePool].live, Base.pools[CodePool].live);
}

// A NoAlloc section takes no executor memory, even when it is larger than the whole slab; a
// graph with nothing but NoAlloc sections still gets an allocation whose actions run.
TEST_P(SegmentAllocTest, NoAllocSectionsTakeNoMemory) {
  // What the graph costs without its NoAlloc section.
  auto Plain = makeGraph("plain", {{"data", RW, 64}});
  auto P = MM->allocate(nullptr, *Plain);
  ASSERT_EXPECTED(P);
  uint64_t PlainLive = liveBytes(stats()) - liveBytes(Base);
  ASSERT_NO_ERROR(abandonNow(**P));

  auto G = makeGraph("debug info",
                     {{"debug", R, 4 * Span, MemLifetime::NoAlloc, true}, {"data", RW, 64}});
  auto A = MM->allocate(nullptr, *G);
  ASSERT_EXPECTED(A);
  JitslabStats Allocated = stats();
  EXPECT_EQ(liveBytes(Allocated) - liveBytes(Base), PlainLive);
  EXPECT_EQ(Allocated.pools[ReadOnlyPool].live, Base.pools[ReadOnlyPool].live);
  EXPECT_EQ(Allocated.pools[ReadOnlyPool].reserved, Base.pools[ReadOnlyPool].reserved);
  ASSERT_NO_ERROR(abandonNow(**A));

  auto Only = makeGraph("only debug info", {{"debug", R, 64, MemLifetime::NoAlloc}});
  Only->allocActions().push_back({action("f"), action("d")});
  auto B = MM->allocate(nullptr, *Only);
  ASSERT_EXPECTED(B);
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
  EXPECT_EQ(stats().live_allocations, Base.live_allocations + 1);
  auto FB = (*B)->finalize();
  ASSERT_EXPECTED(FB);
  ASSERT_NO_ERROR(MM->deallocate(std::move(*FB)));
  EXPECT_EQ(ActionLog, (std::vector<std::string>{"f", "d"}));
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
  EXPECT_EQ(stats().live_allocations, Base.live_allocations);
}

// --- alignment ------------------------------------------------------------------------------

// JITLink's layout aligns each block inside the segment it is given, assuming the segment start
// is aligned: if the manager ignored the alignment, the block would be pushed past its segment's
// end into the next allocation. So the test checks both the addresses and that no two live
// blocks overlap.
TEST_P(SegmentAllocTest, SegmentsComeBackAlignedAndDisjoint) {
  struct Placed {
    uint64_t Start, End, Align;
  };
  std::vector<Placed> Blocks;
  std::vector<SimpleSegmentAlloc> Live;
  auto Record = [&](SimpleSegmentAlloc &S, uint64_t Align) {
    for (auto [P, Size] : {std::pair{R, 24}, std::pair{RW, 40}, std::pair{RX, 8}}) {
      uint64_t Start = S.getSegInfo(P).Addr.getValue();
      for (const Placed &B : Blocks)
        EXPECT_TRUE(Start + Size <= B.Start || B.End <= Start)
            << "a block with alignment " << Align << " at 0x" << utohexstr(Start)
            << " overlaps one with alignment " << B.Align << " at 0x" << utohexstr(B.Start);
      Blocks.push_back({Start, Start + Size, Align});
    }
  };
  for (uint64_t A = 1; A <= Page; A *= 2) {
    // An odd-sized neighbour first, so each aligned request starts from a misaligned free range.
    auto Skew = segments({{R, {24, Align(1)}}, {RW, {40, Align(1)}}, {RX, {8, Align(1)}}});
    ASSERT_EXPECTED(Skew);
    Record(*Skew, 1);
    Live.push_back(std::move(*Skew));
    auto S = segments({{R, {24, Align(A)}}, {RW, {40, Align(A)}}, {RX, {8, Align(A)}}});
    ASSERT_EXPECTED(S);
    for (MemProt P : {R, RW, RX})
      EXPECT_EQ(S->getSegInfo(P).Addr.getValue() % A, 0u)
          << "alignment " << A << ", protection " << unsigned(P);
    Record(*S, A);
    Live.push_back(std::move(*S));
  }
}

TEST_P(SegmentAllocTest, AlignmentAboveThePageIsAnError) {
  // The read-only segment is placed before the over-aligned code segment fails: it must be
  // given back too.
  auto S = segments({{R, {64, Align(16)}}, {RX, {64, Align(2 * Page)}}});
  ASSERT_FALSE(static_cast<bool>(S)) << "an alignment of two pages was accepted";
  std::string Msg = toString(S.takeError());
  EXPECT_NE(Msg.find("JITSLAB_ERR_INVALID_ARGUMENT"), std::string::npos) << Msg;
  EXPECT_NE(Msg.find("alignment 0x" + utohexstr(2 * Page, /*LowerCase=*/true)), std::string::npos)
      << Msg;
  JitslabStats After = stats();
  EXPECT_EQ(liveBytes(After), liveBytes(Base));
  EXPECT_EQ(After.live_allocations, Base.live_allocations);
  for (int P : {CodePool, ReadOnlyPool, ReadWritePool})
    EXPECT_EQ(After.pools[P].reserved, Base.pools[P].reserved) << "pool " << P;
}

// --- destroying the manager -----------------------------------------------------------------

// As MemoryManager.h documents: destruction runs the dealloc actions of live finalized
// allocations, newest first; objects that outlive the manager get errors, never a crash.
TEST_P(SegmentAllocTest, DestroyingTheManagerRunsDeallocActionsAndRefusesLaterCalls) {
  auto GP = makeGraph("P", {{"data", RW, 64}});
  GP->allocActions().push_back({action("P.f0"), action("P.d0")});
  GP->allocActions().push_back({action("P.f1"), action("P.d1")});
  auto GQ = makeGraph("Q", {{"data", RW, 64}});
  GQ->allocActions().push_back({action("Q.f0"), action("Q.d0")});
  auto GR = makeGraph("R", {{"data", RW, 64}});
  GR->allocActions().push_back({action("R.f0"), action("R.d0")});
  auto GS = makeGraph("S", {{"data", RW, 64}});

  std::vector<JITLinkMemoryManager::FinalizedAlloc> Finalized;
  for (LinkGraph *G : {GP.get(), GQ.get()}) {
    auto A = MM->allocate(nullptr, *G);
    ASSERT_EXPECTED(A);
    auto FA = (*A)->finalize();
    ASSERT_EXPECTED(FA);
    Finalized.push_back(std::move(*FA));
  }
  auto InFlightR = MM->allocate(nullptr, *GR);
  ASSERT_EXPECTED(InFlightR);
  auto InFlightS = MM->allocate(nullptr, *GS);
  ASSERT_EXPECTED(InFlightS);
  ActionLog.clear();

  MM.reset();
  EXPECT_EQ(ActionLog, (std::vector<std::string>{"Q.d0", "P.d1", "P.d0"}));

  // A second manager exists now: stale objects must not be mistaken for its own.
  auto Other = jitslab::MemoryManager::Create(config());
  ASSERT_EXPECTED(Other);
  JitslabStats OtherBase = cantFail((*Other)->stats());

  auto FR = (*InFlightR)->finalize();
  ASSERT_FALSE(static_cast<bool>(FR)) << "finalize after the manager was destroyed succeeded";
  std::string Msg = toString(FR.takeError());
  EXPECT_NE(Msg.find("not a live jitslab manager"), std::string::npos) << Msg;
  EXPECT_FALSE(failureText(abandonNow(**InFlightS)).empty())
      << "abandon after the manager was destroyed succeeded";

  std::string DeallocMsg = failureText((*Other)->deallocate(std::move(Finalized)));
  EXPECT_NE(DeallocMsg.find("JITSLAB_ERR_UNKNOWN_ALLOCATION"), std::string::npos)
      << "got: '" << DeallocMsg << "'";

  EXPECT_EQ(ActionLog, (std::vector<std::string>{"Q.d0", "P.d1", "P.d0"}))
      << "an action ran after the manager was destroyed";
  JitslabStats OtherAfter = cantFail((*Other)->stats());
  EXPECT_EQ(liveBytes(OtherAfter), liveBytes(OtherBase));
  EXPECT_EQ(OtherAfter.live_allocations, OtherBase.live_allocations);
  InFlightR->reset(); // its destructor must not touch the dead manager either
  InFlightS->reset();
}

// --- errors ---------------------------------------------------------------------------------

TEST_P(SegmentAllocTest, FullReservationErrorNamesTheSizes) {
  const uint64_t Asked = 2 * Span;
  auto S = segments({{RW, {Asked, Align(16)}}});
  ASSERT_FALSE(static_cast<bool>(S)) << "allocated more than the slab holds";
  std::string Msg = toString(S.takeError());
  EXPECT_NE(Msg.find("JITSLAB_ERR_RESERVATION_FULL"), std::string::npos) << Msg;
  EXPECT_NE(Msg.find("reservation full"), std::string::npos) << Msg;
  EXPECT_NE(Msg.find("0x" + utohexstr(Asked, true)), std::string::npos)
      << "the message does not say how much was asked: " << Msg;
  EXPECT_NE(Msg.find("0x" + utohexstr(Span, true)), std::string::npos)
      << "the message does not say how much is free: " << Msg;

  // The manager is unharmed.
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
  auto Small = segments({{RW, {64, Align(16)}}});
  EXPECT_TRUE(static_cast<bool>(Small)) << toString(Small.takeError());
}

TEST_P(SegmentAllocTest, RefusalsCarryTheLibraryMessage) {
  auto WX = segments({{MemProt::Read | MemProt::Write | MemProt::Exec, {64, Align(16)}}});
  ASSERT_FALSE(static_cast<bool>(WX)) << "a writable and executable segment was allocated";
  std::string Msg = toString(WX.takeError());
  EXPECT_NE(Msg.find("W^X"), std::string::npos) << Msg;

  auto Bad = jitslab::MemoryManager::Create(config().setChunkSize(3 * Page));
  ASSERT_FALSE(static_cast<bool>(Bad)) << "a chunk size that is not a power of two was accepted";
  Msg = toString(Bad.takeError());
  EXPECT_NE(Msg.find("JITSLAB_ERR_INVALID_ARGUMENT"), std::string::npos) << Msg;
  EXPECT_NE(Msg.find("chunk size 0x" + utohexstr(3 * Page, true)), std::string::npos) << Msg;
}

// Four threads allocate, write, finalize and free through one manager at once. Each
// allocation stamps its segments with its own byte and checks them after finalize: a range
// handed to two live allocations at once shows up as a foreign stamp.
TEST_P(SegmentAllocTest, ConcurrentAllocationsStayDisjoint) {
  constexpr int Threads = 4, Rounds = 300;
  std::atomic<int> Failures{0};
  std::vector<std::thread> Workers;
  for (int T = 0; T < Threads; ++T)
    Workers.emplace_back([&, T] {
      for (int Round = 0; Round < Rounds && Failures == 0; ++Round) {
        const size_t Size = 16 + (Round * 37 + T * 101) % 2000;
        auto A = jitslab::compat::createSegmentAlloc(
            *MM, {{R, {Size, Align(8)}}, {RW, {Size / 2 + 8, Align(8)}}});
        if (!A) {
          consumeError(A.takeError());
          ++Failures;
          return;
        }
        const char Stamp = static_cast<char>('A' + T);
        std::memset(A->getSegInfo(R).WorkingMem.data(), Stamp, Size);
        std::memset(A->getSegInfo(RW).WorkingMem.data(), Stamp, Size / 2 + 8);
        auto FA = A->finalize();
        if (!FA) {
          consumeError(FA.takeError());
          ++Failures;
          return;
        }
        const char *Ro = A->getSegInfo(R).Addr.toPtr<const char *>();
        const char *Rw = A->getSegInfo(RW).Addr.toPtr<const char *>();
        for (size_t I = 0; I < Size; ++I)
          Failures += Ro[I] != Stamp;
        for (size_t I = 0; I < Size / 2 + 8; ++I)
          Failures += Rw[I] != Stamp;
        if (Error Err = MM->deallocate(std::move(*FA))) {
          consumeError(std::move(Err));
          ++Failures;
        }
      }
    });
  for (auto &W : Workers)
    W.join();
  EXPECT_EQ(Failures.load(), 0);
  EXPECT_EQ(liveBytes(stats()), liveBytes(Base));
  EXPECT_EQ(stats().live_allocations, Base.live_allocations);
  EXPECT_EQ(stats().allocations, Base.allocations + Threads * Rounds);
}

INSTANTIATE_TEST_SUITE_P(Mappers, SegmentAllocTest,
                         ::testing::Values(jitslab::Mapper::SingleView, jitslab::Mapper::DualView),
                         [](const ::testing::TestParamInfo<jitslab::Mapper> &I) {
                           return I.param == jitslab::Mapper::SingleView ? "SingleView"
                                                                         : "DualView";
                         });

} // namespace
