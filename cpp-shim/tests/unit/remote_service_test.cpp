//===- remote_service_test.cpp - jitslab's wire protocol against LLVM's own code -===//
//
// jitslab speaks LLVM 19's ExecutorSharedMemoryMapperService protocol with its own SPS encoder
// and decoder (src/protocol/sps.rs, src/protocol/stock.rs). This suite checks them against LLVM's
// code, with no executor process:
//
//  - Golden bytes: every message jitslab sends or reads, encoded and decoded by LLVM's SPS
//    templates through the service's own signatures (OrcRTBridge.h), compared with the same hex
//    strings as the Rust golden tests. Both sides: the client side (WrapperFunction::call, as
//    SharedMemoryMapper uses it) and the service side (WrapperFunction::handle).
//  - A round trip with LLVM's real service, created in this process: a JitslabTransport whose
//    `call` runs the service's wrapper function at the address on a thread of its own (as
//    llvm-jitlink-executor does) drives jitslab's C API through reserve, allocate, finalize
//    (real allocation actions defined here, which read the executing view), an action that
//    fails, a batched deallocate and release; the requests jitslab sent are decoded again with
//    LLVM's templates.
//  - The same through jitslab::MemoryManager and jitlink::SimpleSegmentAlloc, over an
//    ExecutorProcessControl that publishes the service's bootstrap symbols and answers calls
//    on threads of their own (the shim's Transport.cpp, not a test transport).
//
// After every test, /dev/shm holds no object of this process (the service names them
// /jitlink_<pid>_<n>; jitslab must unlink each at once).
//
//===----------------------------------------------------------------------===//

#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/ExecutorProcessControl.h"
#include "llvm/ExecutionEngine/Orc/Shared/OrcRTBridge.h"
#include "llvm/ExecutionEngine/Orc/Shared/SimplePackedSerialization.h"
#include "llvm/ExecutionEngine/Orc/Shared/TargetProcessControlTypes.h"
#include "llvm/ExecutionEngine/Orc/Shared/WrapperFunctionUtils.h"
#include "llvm/ExecutionEngine/Orc/TargetProcess/ExecutorSharedMemoryMapperService.h"
#include "llvm/ExecutionEngine/Orc/TaskDispatch.h"
#include "llvm/Support/Process.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <gtest/gtest.h>

#include "test_support.h"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace llvm;
using namespace llvm::orc;
using namespace llvm::orc::shared;

namespace {

// --- bytes --------------------------------------------------------------------------------

/// Bytes from hex digits; whitespace is ignored.
std::string hex(const char *S) {
  std::string Digits;
  for (; *S; ++S)
    if (!std::isspace(static_cast<unsigned char>(*S)))
      Digits += *S;
  std::string Out;
  for (size_t I = 0; I + 1 < Digits.size(); I += 2)
    Out += static_cast<char>(std::stoi(Digits.substr(I, 2), nullptr, 16));
  return Out;
}

std::string toHex(StringRef Bytes) {
  static const char *Digits = "0123456789abcdef";
  std::string Out;
  for (unsigned char C : Bytes) {
    Out += Digits[C >> 4];
    Out += Digits[C & 15];
  }
  return Out;
}

#define EXPECT_BYTES(Expected, Actual) EXPECT_EQ(toHex(Expected), toHex(Actual))

// The golden byte strings, identical to those of the Rust tests in src/protocol/stock.rs
// (made by LLVM 19's serializers; reference notes §5.3, whose Initialize reply has one 00 too
// many: a 9-byte value printed as 10).
const uint64_t Inst = 0x1122334455667788;
const char *ReserveArgs = "8877665544332211 0000010000000000";
const char *ReserveOk = "01 00000000007f0000 0d00000000000000 2f6a69746c696e6b5f34325f31";
const char *ExpectedBad = "00 0300000000000000 626164";
const char *InitializeArgs =
    "8877665544332211 00000000007f0000 0200000000000000 05 00000000007f0000 0010000000000000\n"
    "             0b 00100000007f0000 0010000000000000 0100000000000000 aaaa000000000000 "
    "0200000000000000 7879\n"
    "             0000000000000000 0000000000000000";
const char *InitializeOk = "01 00100000007f0000";
const char *AddrsArgs = "8877665544332211 0100000000000000 00000000007f0000";
const char *ErrorOk = "00";
const char *ErrorOops = "01 0400000000000000 6f6f7073";

Error fail(const char *Msg) { return createStringError(inconvertibleErrorCode(), Msg); }

/// Calls through LLVM's client side with signature `SigT`: the argument bytes it sends go to
/// `Sent`, and `Reply` is what it reads back into `Result`.
template <typename SigT, typename RetT, typename... ArgTs>
Error callWith(const std::string &Reply, std::string &Sent, RetT &Result, const ArgTs &...Args) {
  return WrapperFunction<SigT>::call(
      [&](const char *Data, size_t Size) {
        Sent.assign(Data, Size);
        return jitslab::compat::WrapperResult::copyFrom(Reply.data(), Reply.size());
      },
      Result, Args...);
}

/// Runs LLVM's service side with signature `SigT` on `Args`; the reply bytes.
template <typename SigT, typename HandlerT>
std::string handle(const std::string &Args, HandlerT &&H) {
  jitslab::compat::WrapperResult R =
      WrapperFunction<SigT>::handle(Args.data(), Args.size(), std::forward<HandlerT>(H));
  if (const char *Err = R.getOutOfBandError()) {
    ADD_FAILURE() << "LLVM could not decode the arguments: " << Err;
    return "";
  }
  return std::string(R.data(), R.size());
}

TEST(RemoteGolden, ReserveMatchesLLVMsSerializer) {
  using Sig = rt::SPSExecutorSharedMemoryMapperServiceReserveSignature;
  using Reply = Expected<std::pair<ExecutorAddr, std::string>>;
  // Client side: the call LLVM's SharedMemoryMapper makes, and the reply it reads.
  std::string Sent;
  Reply Got((std::pair<ExecutorAddr, std::string>()));
  ASSERT_NO_ERROR(callWith<Sig>(hex(ReserveOk), Sent, Got, ExecutorAddr(Inst), uint64_t(0x10000)));
  EXPECT_BYTES(hex(ReserveArgs), Sent);
  ASSERT_EXPECTED(Got);
  EXPECT_EQ(Got->first, ExecutorAddr(0x7f0000000000));
  EXPECT_EQ(Got->second, "/jitlink_42_1");
  Reply Bad((std::pair<ExecutorAddr, std::string>()));
  ASSERT_NO_ERROR(
      callWith<Sig>(hex(ExpectedBad), Sent, Bad, ExecutorAddr(Inst), uint64_t(0x10000)));
  ASSERT_FALSE(static_cast<bool>(Bad));
  EXPECT_EQ(toString(Bad.takeError()), "bad");

  // Service side: the same arguments decoded, the same replies encoded.
  std::string Ok = handle<Sig>(hex(ReserveArgs), [](ExecutorAddr I, uint64_t Size) -> Reply {
    EXPECT_EQ(I, ExecutorAddr(Inst));
    EXPECT_EQ(Size, 0x10000u);
    return std::make_pair(ExecutorAddr(0x7f0000000000), std::string("/jitlink_42_1"));
  });
  EXPECT_BYTES(hex(ReserveOk), Ok);
  std::string Err =
      handle<Sig>(hex(ReserveArgs), [](ExecutorAddr, uint64_t) -> Reply { return fail("bad"); });
  EXPECT_BYTES(hex(ExpectedBad), Err);
}

TEST(RemoteGolden, InitializeMatchesLLVMsSerializer) {
  using Sig = rt::SPSExecutorSharedMemoryMapperServiceInitializeSignature;
  tpctypes::SharedMemoryFinalizeRequest FR;
  FR.Segments.push_back({tpctypes::RemoteAllocGroup(MemProt::Read | MemProt::Exec),
                         ExecutorAddr(0x7f0000000000), 0x1000});
  FR.Segments.push_back({tpctypes::RemoteAllocGroup(MemProt::Read | MemProt::Write, true),
                         ExecutorAddr(0x7f0000001000), 0x1000});
  FR.Actions.push_back(
      {WrapperFunctionCall(ExecutorAddr(0xaaaa), {'x', 'y'}), WrapperFunctionCall()});

  std::string Sent;
  Expected<ExecutorAddr> Key((ExecutorAddr()));
  ASSERT_NO_ERROR(callWith<Sig>(hex(InitializeOk), Sent, Key, ExecutorAddr(Inst),
                                ExecutorAddr(0x7f0000000000), FR));
  EXPECT_EQ(Sent.size(), 100u);
  EXPECT_BYTES(hex(InitializeArgs), Sent);
  ASSERT_EXPECTED(Key);
  EXPECT_EQ(*Key, ExecutorAddr(0x7f0000001000));
  Expected<ExecutorAddr> Bad((ExecutorAddr()));
  ASSERT_NO_ERROR(callWith<Sig>(hex(ExpectedBad), Sent, Bad, ExecutorAddr(Inst),
                                ExecutorAddr(0x7f0000000000), FR));
  ASSERT_FALSE(static_cast<bool>(Bad));
  EXPECT_EQ(toString(Bad.takeError()), "bad");

  std::string Ok =
      handle<Sig>(hex(InitializeArgs),
                  [](ExecutorAddr I, ExecutorAddr Resv,
                     tpctypes::SharedMemoryFinalizeRequest R) -> Expected<ExecutorAddr> {
                    EXPECT_EQ(I, ExecutorAddr(Inst));
                    EXPECT_EQ(Resv, ExecutorAddr(0x7f0000000000));
                    EXPECT_EQ(R.Segments.size(), 2u);
                    EXPECT_EQ(R.Segments[0].RAG.Prot, MemProt::Read | MemProt::Exec);
                    EXPECT_EQ(R.Segments[1].RAG.Prot, MemProt::Read | MemProt::Write);
                    EXPECT_TRUE(R.Segments[1].RAG.FinalizeLifetime);
                    EXPECT_EQ(R.Segments[1].Addr, ExecutorAddr(0x7f0000001000));
                    EXPECT_EQ(R.Segments[1].Size, 0x1000u);
                    EXPECT_EQ(R.Actions.size(), 1u);
                    EXPECT_EQ(R.Actions[0].Finalize.getCallee(), ExecutorAddr(0xaaaa));
                    EXPECT_EQ(StringRef(R.Actions[0].Finalize.getArgData().data(), 2), "xy");
                    EXPECT_FALSE(R.Actions[0].Dealloc.getCallee());
                    return ExecutorAddr(0x7f0000001000);
                  });
  EXPECT_BYTES(hex(InitializeOk), Ok);
  std::string Err = handle<Sig>(
      hex(InitializeArgs),
      [](ExecutorAddr, ExecutorAddr,
         tpctypes::SharedMemoryFinalizeRequest) -> Expected<ExecutorAddr> { return fail("bad"); });
  EXPECT_BYTES(hex(ExpectedBad), Err);
}

TEST(RemoteGolden, DeinitializeAndReleaseMatchLLVMsSerializer) {
  // One layout for both calls (a list of addresses in, an Error out): one check covers both.
  using Sig = rt::SPSExecutorSharedMemoryMapperServiceDeinitializeSignature;
  static_assert(std::is_same_v<Sig, rt::SPSExecutorSharedMemoryMapperServiceReleaseSignature>);
  std::vector<ExecutorAddr> Addrs = {ExecutorAddr(0x7f0000000000)};
  std::string Sent;
  Error Ok = Error::success();
  ASSERT_NO_ERROR(callWith<Sig>(hex(ErrorOk), Sent, Ok, ExecutorAddr(Inst), Addrs));
  EXPECT_BYTES(hex(AddrsArgs), Sent);
  ASSERT_NO_ERROR(std::move(Ok));
  Error Oops = Error::success();
  ASSERT_NO_ERROR(callWith<Sig>(hex(ErrorOops), Sent, Oops, ExecutorAddr(Inst), Addrs));
  EXPECT_EQ(toString(std::move(Oops)), "oops");

  std::string OkReply =
      handle<Sig>(hex(AddrsArgs), [](ExecutorAddr I, std::vector<ExecutorAddr> A) {
        EXPECT_EQ(I, ExecutorAddr(Inst));
        EXPECT_EQ(A, std::vector<ExecutorAddr>{ExecutorAddr(0x7f0000000000)});
        return Error::success();
      });
  EXPECT_BYTES(hex(ErrorOk), OkReply);
  std::string OopsReply = handle<Sig>(
      hex(AddrsArgs), [](ExecutorAddr, std::vector<ExecutorAddr>) { return fail("oops"); });
  EXPECT_BYTES(hex(ErrorOops), OopsReply);
}

// --- allocation actions, run by LLVM's service in "the executor" (this process) -------------

std::mutex LogMutex;
std::vector<std::string> ActionLog;

void logAction(std::string S) {
  std::lock_guard<std::mutex> Lock(LogMutex);
  ActionLog.push_back(std::move(S));
}

std::vector<std::string> takeLog() {
  std::lock_guard<std::mutex> Lock(LogMutex);
  return std::exchange(ActionLog, {});
}

} // namespace

/// Records `Tag`; fails with "action <Tag> refused" when `Fail` is set.
extern "C" jitslab::compat::CWrapperResult jitslabRemoteTestRecord(const char *Data, size_t Size) {
  return WrapperFunction<SPSError(SPSString, bool)>::handle(
             Data, Size,
             [](std::string Tag, bool Fail) -> Error {
               logAction(Tag);
               if (Fail)
                 return createStringError(inconvertibleErrorCode(), "action %s refused",
                                          Tag.c_str());
               return Error::success();
             })
      .release();
}

/// Records "peek:" and the `Len` bytes at executor address `Addr` (read in the executing view).
extern "C" jitslab::compat::CWrapperResult jitslabRemoteTestPeek(const char *Data, size_t Size) {
  return WrapperFunction<SPSError(SPSExecutorAddr, uint64_t)>::handle(
             Data, Size,
             [](ExecutorAddr Addr, uint64_t Len) -> Error {
               logAction("peek:" + std::string(Addr.toPtr<const char *>(), Len));
               return Error::success();
             })
      .release();
}

namespace {

WrapperFunctionCall record(StringRef Tag, bool Fail = false) {
  return cantFail(WrapperFunctionCall::Create<SPSArgList<SPSString, bool>>(
      ExecutorAddr::fromPtr(&jitslabRemoteTestRecord), Tag, Fail));
}

WrapperFunctionCall peek(uint64_t Addr, uint64_t Len) {
  return cantFail(WrapperFunctionCall::Create<SPSArgList<SPSExecutorAddr, uint64_t>>(
      ExecutorAddr::fromPtr(&jitslabRemoteTestPeek), ExecutorAddr(Addr), Len));
}

JitslabWrapperCall toC(const WrapperFunctionCall &C) {
  const auto &Args = C.getArgData();
  return {C.getCallee().getValue(), reinterpret_cast<const uint8_t *>(Args.data()), Args.size()};
}

/// push rbp; mov rbp, rsp; pop rbp; ret
const char *Code() { return "\x55\x48\x89\xe5\x5d\xc3"; }

// --- LLVM's service in this process -------------------------------------------------------

/// LLVM 19's ExecutorSharedMemoryMapperService, with its bootstrap symbols, answering each call
/// on a thread of its own as llvm-jitlink-executor does. Calls go straight to the wrapper
/// function at the address; every call is logged.
class InProcessExecutor {
public:
  struct Call {
    uint64_t Fn;
    std::string Args;
    size_t ReplySize;
  };

  InProcessExecutor() { Service.addBootstrapSymbols(Symbols); }
  ~InProcessExecutor() {
    EXPECT_TRUE(waitIdle()) << "a call to the executor never finished";
    if (Error E = Service.shutdown())
      ADD_FAILURE() << toString(std::move(E));
  }

  /// Runs the wrapper function at `Fn` on a new thread, then `Reply` with its result (which
  /// frees the C result as ORC's rules say when it goes).
  void run(ExecutorAddr Fn, ArrayRef<char> Args,
           unique_function<void(jitslab::compat::WrapperResult)> Reply) {
    {
      std::lock_guard<std::mutex> Lock(M);
      ++Running;
    }
    std::thread([this, Fn, Bytes = std::string(Args.data(), Args.size()),
                 Reply = std::move(Reply)]() mutable {
      using WrapperFnTy = jitslab::compat::CWrapperResult (*)(const char *, size_t);
      jitslab::compat::WrapperResult R(Fn.toPtr<WrapperFnTy>()(Bytes.data(), Bytes.size()));
      {
        std::lock_guard<std::mutex> Lock(M);
        Calls.push_back({Fn.getValue(), Bytes, R.size()});
      }
      Reply(std::move(R));
      std::lock_guard<std::mutex> Lock(M);
      --Running;
      Idle.notify_all();
    }).detach();
  }

  /// The C transport jitslab owns: borrows this object; `destroy` only counts.
  JitslabTransport transport() { return {this, call, lookup, destroy}; }

  bool waitIdle() {
    std::unique_lock<std::mutex> Lock(M);
    return Idle.wait_for(Lock, std::chrono::seconds(10), [&] { return Running == 0; });
  }

  std::vector<Call> calls() {
    std::lock_guard<std::mutex> Lock(M);
    return Calls;
  }

  uint64_t addr(const char *Name) const {
    auto I = Symbols.find(Name);
    return I == Symbols.end() ? 0 : I->second.getValue();
  }

  std::vector<Call> callsOf(const char *Name) {
    std::vector<Call> Out;
    for (auto &C : calls())
      if (C.Fn == addr(Name))
        Out.push_back(C);
    return Out;
  }

  rt_bootstrap::ExecutorSharedMemoryMapperService Service;
  StringMap<ExecutorAddr> Symbols;
  std::atomic<int> Destroyed{0};

private:
  static void call(void *Ctx, uint64_t Fn, const uint8_t *Args, size_t Len, JitslabCallDone Done,
                   void *DoneCtx) {
    static_cast<InProcessExecutor *>(Ctx)->run(
        ExecutorAddr(Fn), ArrayRef<char>(reinterpret_cast<const char *>(Args), Len),
        [Done, DoneCtx](jitslab::compat::WrapperResult R) {
          if (const char *Err = R.getOutOfBandError())
            Done(DoneCtx, nullptr, 0, Err);
          else
            Done(DoneCtx, reinterpret_cast<const uint8_t *>(R.data()), R.size(), nullptr);
        });
  }

  static uint8_t lookup(void *Ctx, const char *Name, uint64_t *Out) {
    uint64_t A = static_cast<InProcessExecutor *>(Ctx)->addr(Name);
    if (!A)
      return 0;
    *Out = A;
    return 1;
  }

  static void destroy(void *Ctx) { ++static_cast<InProcessExecutor *>(Ctx)->Destroyed; }

  std::mutex M;
  std::condition_variable Idle;
  int Running = 0;
  std::vector<Call> Calls;
};

/// Entries of /dev/shm named like the service's objects in this process.
std::vector<std::string> shmEntries() {
  std::vector<std::string> Out;
  std::string Prefix = "jitlink_" + std::to_string(getpid()) + "_";
  if (DIR *D = opendir("/dev/shm")) {
    while (dirent *E = readdir(D))
      if (StringRef(E->d_name).starts_with(Prefix))
        Out.push_back(E->d_name);
    closedir(D);
  }
  return Out;
}

/// The permissions /proc/self/maps shows for the page at `Addr` ("r-xs"), or "" if unmapped.
std::string permsAt(uint64_t Addr) {
  std::ifstream Maps("/proc/self/maps");
  std::string Line;
  while (std::getline(Maps, Line)) {
    std::istringstream In(Line);
    std::string Range, Perms;
    In >> Range >> Perms;
    auto Dash = Range.find('-');
    uint64_t Lo = std::stoull(Range.substr(0, Dash), nullptr, 16);
    uint64_t Hi = std::stoull(Range.substr(Dash + 1), nullptr, 16);
    if (Lo <= Addr && Addr < Hi)
      return Perms;
  }
  return "";
}

/// The outcome of an `_async` call, waited for.
class Outcome {
public:
  static void done(void *Ctx, JitslabStatus S, const char *Msg) {
    auto *O = static_cast<Outcome *>(Ctx);
    O->Calls.fetch_add(1);
    O->P.set_value({S, Msg ? Msg : ""});
  }
  /// The status and message; fails the test if the callback does not come within 5 s.
  std::pair<JitslabStatus, std::string> get() {
    auto F = P.get_future();
    if (F.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      ADD_FAILURE() << "no completion within 5 s";
      return {JITSLAB_ERR_EXECUTOR, "timeout"};
    }
    return F.get();
  }
  std::atomic<int> Calls{0};

private:
  std::promise<std::pair<JitslabStatus, std::string>> P;
};

uint64_t liveTotal(JitslabManager *M) {
  JitslabStats S{};
  EXPECT_EQ(jitslab_stats(M, &S), JITSLAB_OK);
  return liveBytes(S);
}

class RemoteService : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_EQ(shmEntries(), std::vector<std::string>{}) << "left over from an earlier run";
    takeLog();
  }
  void TearDown() override {
    EXPECT_TRUE(Exec.waitIdle());
    EXPECT_EQ(shmEntries(), std::vector<std::string>{}) << "a shared-memory object was left behind";
  }
  InProcessExecutor Exec;
};

const uint32_t RX = JITSLAB_PROT_READ | JITSLAB_PROT_EXEC;
const uint32_t R = JITSLAB_PROT_READ;
const uint32_t RW = JITSLAB_PROT_READ | JITSLAB_PROT_WRITE;

// The whole protocol with LLVM's service: jitslab's requests decoded by LLVM's templates, its
// replies decoded by jitslab, memory shared between the two views, protections, actions (one
// that fails), a batched deallocate and the release.
TEST_F(RemoteService, CApiRoundTripWithLLVMsService) {
  JitslabConfig C = jitslab_config_default();
  C.span_bytes = 64 << 20;
  JitslabManager *M = nullptr;
  ASSERT_EQ(jitslab_manager_new_remote(&C, Exec.transport(), &M), JITSLAB_OK)
      << jitslab_last_error();
  EXPECT_EQ(shmEntries(), std::vector<std::string>{})
      << "the object's name must be unlinked at once";
  JitslabStats S{};
  ASSERT_EQ(jitslab_stats(M, &S), JITSLAB_OK);
  EXPECT_EQ(S.mapper, JITSLAB_MAPPER_REMOTE);
  ASSERT_EQ(Exec.callsOf(rt::ExecutorSharedMemoryMapperServiceReserveWrapperName).size(), 1u);
  uint64_t Base = S.base;
  EXPECT_NE(permsAt(Base), "") << "the service mapped the reservation in this process";

  // Allocate; write through the working view.
  JitslabSegmentRequest Req[3] = {{RX, JITSLAB_LIFETIME_STANDARD, 100, 16},
                                  {R, JITSLAB_LIFETIME_STANDARD, 40, 8},
                                  {RW, JITSLAB_LIFETIME_STANDARD, 16, 8}};
  JitslabSegment A[3];
  uint64_t IdA = 0;
  ASSERT_EQ(jitslab_allocate(M, Req, 3, A, &IdA), JITSLAB_OK) << jitslab_last_error();
  std::memcpy(A[0].working, Code(), 6);
  std::memcpy(A[1].working, "konst", 5);
  std::memcpy(A[2].working, "data", 4);
  for (auto &Seg : A)
    EXPECT_NE(Seg.working, reinterpret_cast<uint8_t *>(Seg.addr)) << "two views, two addresses";

  // Finalize asynchronously, with actions that read the executing view.
  auto FinA = record("fin-a"), DeallocA = record("dealloc-a");
  auto Peek0 = peek(A[0].addr, 6), Peek1 = peek(A[1].addr, 5);
  JitslabAction ActsA[3] = {{toC(FinA), toC(DeallocA)}, {toC(Peek0), {}}, {toC(Peek1), {}}};
  Outcome FA;
  ASSERT_EQ(jitslab_finalize_async(M, IdA, ActsA, 3, Outcome::done, &FA), JITSLAB_OK);
  auto [SA, MsgA] = FA.get();
  ASSERT_EQ(SA, JITSLAB_OK) << MsgA;
  EXPECT_EQ(takeLog(),
            (std::vector<std::string>{"fin-a", "peek:" + std::string(Code(), 6), "peek:konst"}));
  EXPECT_EQ(permsAt(A[0].addr), "r-xs");
  EXPECT_EQ(permsAt(A[1].addr), "r--s");
  EXPECT_EQ(permsAt(A[2].addr), "rw-s");
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(A[2].addr), 4), "data");

  // The Initialize jitslab sent, decoded by LLVM's templates: what was asked for.
  auto Inits = Exec.callsOf(rt::ExecutorSharedMemoryMapperServiceInitializeWrapperName);
  ASSERT_GE(Inits.size(), 1u);
  {
    ExecutorAddr I, Resv;
    tpctypes::SharedMemoryFinalizeRequest FR;
    SPSInputBuffer IB(Inits.back().Args.data(), Inits.back().Args.size());
    ASSERT_TRUE(
        (SPSArgList<SPSExecutorAddr, SPSExecutorAddr, SPSSharedMemoryFinalizeRequest>::deserialize(
            IB, I, Resv, FR)));
    EXPECT_EQ(I.getValue(), Exec.addr(rt::ExecutorSharedMemoryMapperServiceInstanceName));
    EXPECT_EQ(Resv.getValue(), Base);
    ASSERT_EQ(FR.Segments.size(), 3u);
    MemProt Want[3] = {MemProt::Read | MemProt::Exec, MemProt::Read,
                       MemProt::Read | MemProt::Write};
    for (unsigned K = 0; K < 3; ++K) {
      EXPECT_EQ(FR.Segments[K].Addr.getValue(), A[K].addr);
      EXPECT_EQ(FR.Segments[K].RAG.Prot, Want[K]);
      EXPECT_FALSE(FR.Segments[K].RAG.FinalizeLifetime);
      EXPECT_EQ(FR.Segments[K].Size % S.page_size, 0u) << "the service protects whole pages";
    }
    ASSERT_EQ(FR.Actions.size(), 3u);
    EXPECT_EQ(FR.Actions[0].Finalize.getCallee(), FinA.getCallee());
    EXPECT_EQ(FR.Actions[0].Finalize.getArgData(), FinA.getArgData());
    EXPECT_EQ(FR.Actions[0].Dealloc.getArgData(), DeallocA.getArgData());
    EXPECT_EQ(FR.Actions[2].Finalize.getArgData(), Peek1.getArgData());
    EXPECT_FALSE(FR.Actions[2].Dealloc.getCallee());
  }

  // A second allocation, finalized with the blocking call.
  JitslabSegment B[1];
  uint64_t IdB = 0;
  ASSERT_EQ(jitslab_allocate(M, &Req[2], 1, B, &IdB), JITSLAB_OK) << jitslab_last_error();
  auto FinB = record("fin-b"), DeallocB = record("dealloc-b");
  JitslabAction ActB = {toC(FinB), toC(DeallocB)};
  ASSERT_EQ(jitslab_finalize(M, IdB, &ActB, 1), JITSLAB_OK) << jitslab_last_error();
  EXPECT_EQ(takeLog(), std::vector<std::string>{"fin-b"});

  // An action the service runs fails: its message comes back, the allocation is rolled back
  // (the earlier action's dealloc runs there) and its memory is reused.
  JitslabSegment F[1];
  uint64_t IdF = 0;
  ASSERT_EQ(jitslab_allocate(M, &Req[0], 1, F, &IdF), JITSLAB_OK);
  uint64_t LiveBefore = liveTotal(M);
  auto FinOk = record("fin-ok"), UndoOk = record("undo-ok"), Boom = record("boom", true);
  JitslabAction ActsF[2] = {{toC(FinOk), toC(UndoOk)}, {toC(Boom), {}}};
  Outcome FF;
  ASSERT_EQ(jitslab_finalize_async(M, IdF, ActsF, 2, Outcome::done, &FF), JITSLAB_OK);
  auto [SF, MsgF] = FF.get();
  EXPECT_EQ(SF, JITSLAB_ERR_ACTION_FAILED);
  EXPECT_NE(MsgF.find("action boom refused"), std::string::npos) << MsgF;
  EXPECT_EQ(takeLog(), (std::vector<std::string>{"fin-ok", "boom", "undo-ok"}));
  EXPECT_LT(liveTotal(M), LiveBefore);
  JitslabSegment F2[1];
  uint64_t IdF2 = 0;
  ASSERT_EQ(jitslab_allocate(M, &Req[0], 1, F2, &IdF2), JITSLAB_OK);
  EXPECT_EQ(F2[0].addr, F[0].addr) << "the rolled-back memory is reused";
  ASSERT_EQ(jitslab_abandon(M, IdF2), JITSLAB_OK);

  // One Deinitialize for the batch; the service runs the dealloc actions last first, once.
  size_t DeinitsBefore =
      Exec.callsOf(rt::ExecutorSharedMemoryMapperServiceDeinitializeWrapperName).size();
  uint64_t Batch[2] = {IdA, IdB};
  Outcome D;
  ASSERT_EQ(jitslab_deallocate_async(M, Batch, 2, Outcome::done, &D), JITSLAB_OK);
  auto [SD, MsgD] = D.get();
  ASSERT_EQ(SD, JITSLAB_OK) << MsgD;
  EXPECT_EQ(takeLog(), (std::vector<std::string>{"dealloc-b", "dealloc-a"}));
  EXPECT_EQ(Exec.callsOf(rt::ExecutorSharedMemoryMapperServiceDeinitializeWrapperName).size(),
            DeinitsBefore + 1);

  // Statistics: nothing live; the calls and bytes are those the service saw.
  ASSERT_EQ(jitslab_stats(M, &S), JITSLAB_OK);
  EXPECT_EQ(liveBytes(S), 0u);
  EXPECT_EQ(S.live_allocations, 0u);
  EXPECT_EQ(S.failed_finalizes, 1u);
  auto All = Exec.calls();
  uint64_t Sent = 0, Received = 0;
  for (auto &Call : All) {
    Sent += Call.Args.size();
    Received += Call.ReplySize;
  }
  EXPECT_EQ(S.rpc_calls, All.size());
  EXPECT_EQ(S.rpc_bytes_sent, Sent);
  EXPECT_EQ(S.rpc_bytes_received, Received);
  EXPECT_EQ(FA.Calls.load() + FF.Calls.load() + D.Calls.load(), 3);

  // Freeing the manager releases the reservation in the executor, and the transport.
  ASSERT_EQ(jitslab_manager_free(M), JITSLAB_OK);
  ASSERT_TRUE(Exec.waitIdle());
  auto Releases = Exec.callsOf(rt::ExecutorSharedMemoryMapperServiceReleaseWrapperName);
  ASSERT_EQ(Releases.size(), 1u);
  EXPECT_EQ(Exec.Destroyed.load(), 1);
  EXPECT_EQ(permsAt(Base), "") << "the service unmapped the reservation";
  EXPECT_TRUE(takeLog().empty()) << "no dealloc action left to run";
}

// LLVM's service keys an allocation by its lowest segment address, in a map that overwrites.
// A finalize-lifetime segment that jitslab gives back at finalize must not be that key, or the
// next allocation placed there takes over the first one's dealloc actions in the service.
TEST_F(RemoteService, EarlyFreedFinalizeSegmentNeverLendsItsKey) {
  JitslabManager *M = nullptr;
  ASSERT_EQ(jitslab_manager_new_remote(nullptr, Exec.transport(), &M), JITSLAB_OK)
      << jitslab_last_error();
  JitslabSegmentRequest ReqA[2] = {{RW, JITSLAB_LIFETIME_FINALIZE, 64, 8},
                                   {RX, JITSLAB_LIFETIME_STANDARD, 64, 16}};
  JitslabSegment A[2];
  uint64_t IdA = 0;
  ASSERT_EQ(jitslab_allocate(M, ReqA, 2, A, &IdA), JITSLAB_OK) << jitslab_last_error();
  ASSERT_LT(A[0].addr, A[1].addr) << "test setup: the finalize-lifetime segment must be the key";
  auto FinA = record("key-fa"), DeallocA = record("key-da");
  JitslabAction ActA = {toC(FinA), toC(DeallocA)};
  ASSERT_EQ(jitslab_finalize(M, IdA, &ActA, 1), JITSLAB_OK) << jitslab_last_error();

  JitslabSegmentRequest ReqB = {RW, JITSLAB_LIFETIME_STANDARD, 64, 8};
  JitslabSegment B[1];
  uint64_t IdB = 0;
  ASSERT_EQ(jitslab_allocate(M, &ReqB, 1, B, &IdB), JITSLAB_OK) << jitslab_last_error();
  EXPECT_NE(B[0].addr, A[0].addr) << "a's key segment must stay a's until a is deallocated";
  auto FinB = record("key-fb"), DeallocB = record("key-db");
  JitslabAction ActB = {toC(FinB), toC(DeallocB)};
  ASSERT_EQ(jitslab_finalize(M, IdB, &ActB, 1), JITSLAB_OK) << jitslab_last_error();
  EXPECT_EQ(takeLog(), (std::vector<std::string>{"key-fa", "key-fb"}));

  ASSERT_EQ(jitslab_deallocate(M, &IdA, 1), JITSLAB_OK) << jitslab_last_error();
  EXPECT_EQ(takeLog(), std::vector<std::string>{"key-da"}) << "a's own dealloc action, and only it";
  ASSERT_EQ(jitslab_deallocate(M, &IdB, 1), JITSLAB_OK) << jitslab_last_error();
  EXPECT_EQ(takeLog(), std::vector<std::string>{"key-db"});
  EXPECT_EQ(liveTotal(M), 0u);
  ASSERT_EQ(jitslab_manager_free(M), JITSLAB_OK);
}

// An executor without the service: creation fails naming the missing bootstrap symbol, makes
// no call, and gives the transport back.
TEST_F(RemoteService, MissingServiceSymbolIsNamed) {
  Exec.Symbols.erase(rt::ExecutorSharedMemoryMapperServiceDeinitializeWrapperName);
  JitslabManager *M = nullptr;
  EXPECT_EQ(jitslab_manager_new_remote(nullptr, Exec.transport(), &M), JITSLAB_ERR_EXECUTOR);
  EXPECT_NE(std::string(jitslab_last_error())
                .find(rt::ExecutorSharedMemoryMapperServiceDeinitializeWrapperName),
            std::string::npos)
      << jitslab_last_error();
  EXPECT_EQ(M, nullptr);
  EXPECT_TRUE(Exec.calls().empty());
  EXPECT_EQ(Exec.Destroyed.load(), 1);
}

// --- through the shim: jitslab::MemoryManager over an ExecutorProcessControl ---------------

/// An EPC of this process that publishes the service's bootstrap symbols and answers each
/// call on a thread of its own (as SimpleRemoteEPC's executor does), so the shim builds a
/// remote manager over it with its own transport (Transport.cpp).
class ServiceEPC : public SelfExecutorProcessControl {
public:
  explicit ServiceEPC(InProcessExecutor &E)
      : SelfExecutorProcessControl(std::make_shared<SymbolStringPool>(),
                                   std::make_unique<DynamicThreadPoolTaskDispatcher>(std::nullopt),
                                   Triple(sys::getProcessTriple()),
                                   sys::Process::getPageSizeEstimate(), nullptr),
        E(E) {
    for (auto &KV : E.Symbols)
      BootstrapSymbols[KV.first()] = KV.second;
  }

  void callWrapperAsync(ExecutorAddr WrapperFnAddr, IncomingWFRHandler OnComplete,
                        ArrayRef<char> ArgBuffer) override {
    E.run(WrapperFnAddr, ArgBuffer,
          [OnComplete = std::move(OnComplete)](jitslab::compat::WrapperResult R) mutable {
            OnComplete(std::move(R));
          });
  }

private:
  InProcessExecutor &E;
};

TEST_F(RemoteService, SimpleSegmentAllocThroughTheShimsRemoteManager) {
  using namespace llvm::jitlink;
  ServiceEPC EPC(Exec);
  {
    auto MM = jitslab::MemoryManager::Create(EPC, jitslab::Config().setSlabSize(64 << 20));
    ASSERT_EXPECTED(MM);
    auto Stats = (*MM)->stats();
    ASSERT_EXPECTED(Stats);
    EXPECT_EQ(Stats->mapper, JITSLAB_MAPPER_REMOTE);
    uint64_t CallsAtStart = Stats->rpc_calls;

    const MemProt RXP = MemProt::Read | MemProt::Exec, RWP = MemProt::Read | MemProt::Write;
    auto Alloc =
        jitslab::compat::createSegmentAlloc(**MM, {{RXP, {100, Align(16)}}, {RWP, {64, Align(8)}}});
    ASSERT_EXPECTED(Alloc);
    ExecutorAddr CodeAddr = Alloc->getSegInfo(RXP).Addr, DataAddr = Alloc->getSegInfo(RWP).Addr;
    std::memcpy(Alloc->getSegInfo(RXP).WorkingMem.data(), Code(), 6);
    std::strcpy(Alloc->getSegInfo(RWP).WorkingMem.data(), "through the shim");
    Stats = (*MM)->stats();
    ASSERT_EXPECTED(Stats);
    EXPECT_EQ(Stats->rpc_calls, CallsAtStart) << "allocation makes no call";

    auto FA = Alloc->finalize();
    ASSERT_EXPECTED(FA);
    EXPECT_EQ(permsAt(CodeAddr.getValue()), "r-xs");
    EXPECT_EQ(permsAt(DataAddr.getValue()), "rw-s");
    EXPECT_EQ(std::memcmp(CodeAddr.toPtr<const char *>(), Code(), 6), 0);
    EXPECT_STREQ(DataAddr.toPtr<const char *>(), "through the shim");
    Stats = (*MM)->stats();
    ASSERT_EXPECTED(Stats);
    EXPECT_EQ(Stats->rpc_calls, CallsAtStart + 1) << "one Initialize per finalize";

    ASSERT_NO_ERROR((*MM)->deallocate(std::move(*FA)));
    Stats = (*MM)->stats();
    ASSERT_EXPECTED(Stats);
    EXPECT_EQ(Stats->rpc_calls, CallsAtStart + 2) << "one Deinitialize per deallocate";
    EXPECT_EQ(liveBytes(*Stats), 0u);
  }
  ASSERT_TRUE(Exec.waitIdle());
  EXPECT_EQ(Exec.callsOf(rt::ExecutorSharedMemoryMapperServiceReleaseWrapperName).size(), 1u);
  ASSERT_NO_ERROR(EPC.disconnect());
}

} // namespace
