//===- native_executor_test.cpp - jitslab-executor and its native service -------===//
//
// Spawns jitslab-executor as jitslab-run does and checks, across the process boundary:
//  - it publishes every bootstrap symbol of jitslab's native service (the names this process's
//    libjitslab lists) and LLVM's standard services;
//  - the native protocol, encoded with LLVM's own SPS templates (so the Rust layouts are
//    checked against LLVM's serializer): a linker of another version is refused with both
//    versions named; setup gives a memfd that this process takes with pidfd_getfd and through
//    /proc/PID/fd; code written through this process's view runs in the executor from its
//    r-x view; no page of the executor is writable and executable; no /dev/shm name exists;
//    teardown unmaps the region.
//
//===----------------------------------------------------------------------===//

#include "Executors.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ExecutionEngine/Orc/Shared/AllocationActions.h"
#include "llvm/ExecutionEngine/Orc/Shared/OrcRTBridge.h"
#include "llvm/ExecutionEngine/Orc/Shared/SimplePackedSerialization.h"

#include <gtest/gtest.h>

#include "test_support.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

using namespace llvm;
using namespace llvm::orc;
using namespace llvm::orc::shared;

namespace {

using SPSExtent = SPSTuple<uint64_t, uint64_t, uint8_t>;
using SPSSetupSig = SPSExpected<SPSTuple<uint64_t, uint64_t, uint32_t, int32_t, SPSString>>(
    uint32_t, uint64_t, uint8_t);
using SPSAllocation =
    SPSTuple<uint64_t, SPSSequence<SPSExtent>, SPSSequence<SPSAllocActionCallPair>>;
using SPSFinalizeArgs = SPSArgList<uint64_t, SPSSequence<SPSExtent>, SPSSequence<SPSAllocation>>;
using SPSDeallocateSig = SPSError(uint64_t, SPSSequence<uint64_t>);
using SPSTeardownSig = SPSError(uint64_t);

using Extent = std::tuple<uint64_t, uint64_t, uint8_t>;
using Allocation = std::tuple<uint64_t, std::vector<Extent>, std::vector<AllocActionCallPair>>;
using SetupReply = std::tuple<uint64_t, uint64_t, uint32_t, int32_t, std::string>;

constexpr uint8_t RW = 3, RX = 5;
constexpr uint64_t Span = 1 << 20;

/// The native service's addresses in the executor, by bootstrap name.
std::map<std::string, ExecutorAddr> lookUpNative(ExecutorProcessControl &EPC) {
  const JitslabBootstrapSymbol *Syms = nullptr;
  size_t N = 0;
  EXPECT_EQ(jitslab_executor_bootstrap_symbols(&Syms, &N), JITSLAB_OK);
  std::map<std::string, ExecutorAddr> Out;
  for (size_t I = 0; I < N; ++I) {
    ExecutorAddr A;
    if (Error E = EPC.getBootstrapSymbols({{A, Syms[I].name}}))
      ADD_FAILURE() << toString(std::move(E));
    Out[Syms[I].name] = A;
  }
  return Out;
}

template <typename SPSSig, typename... ArgTs>
Error callForError(ExecutorProcessControl &EPC, ExecutorAddr Fn, const ArgTs &...Args) {
  Error Result = Error::success();
  if (Error E = EPC.callSPSWrapper<SPSSig>(Fn, Result, Args...)) {
    consumeError(std::move(Result));
    return E;
  }
  return Result;
}

/// The raw reply (SPS `Expected<[Error]>`) of the native finalize: `Protect` extents first,
/// then `Batch`.
std::string finalizeReply(ExecutorProcessControl &EPC, ExecutorAddr Fn, uint64_t Handle,
                          const std::vector<Extent> &Protect,
                          const std::vector<Allocation> &Batch) {
  auto Args =
      jitslab::compat::WrapperResult::allocate(SPSFinalizeArgs::size(Handle, Protect, Batch));
  SPSOutputBuffer OB(Args.data(), Args.size());
  if (!SPSFinalizeArgs::serialize(OB, Handle, Protect, Batch))
    return "<the arguments do not serialize>";
  auto Reply = EPC.callWrapper(Fn, ArrayRef<char>(Args.data(), Args.size()));
  if (const char *E = Reply.getOutOfBandError())
    return std::string("<out-of-band error: ") + E + ">";
  return std::string(Reply.data(), Reply.size());
}

std::string readFile(const std::string &Path) {
  std::ifstream In(Path);
  std::stringstream SS;
  SS << In.rdbuf();
  return SS.str();
}

/// The lines of /proc/PID/maps whose mapping is writable and executable.
std::vector<std::string> writableAndExecutable(pid_t Pid) {
  std::vector<std::string> Out;
  std::istringstream Maps(readFile("/proc/" + std::to_string(Pid) + "/maps"));
  for (std::string Line; std::getline(Maps, Line);) {
    std::istringstream W(Line);
    std::string Range, Perms;
    W >> Range >> Perms;
    if (Perms.size() >= 3 && Perms[1] == 'w' && Perms[2] == 'x')
      Out.push_back(Line);
  }
  return Out;
}

/// The permissions of the executor's mapping that holds `Addr`, or "" if none does.
std::string permsAt(pid_t Pid, uint64_t Addr) {
  std::istringstream Maps(readFile("/proc/" + std::to_string(Pid) + "/maps"));
  for (std::string Line; std::getline(Maps, Line);) {
    uint64_t Lo = 0, Hi = 0;
    char Perms[8] = {};
    if (sscanf(Line.c_str(), "%lx-%lx %7s", &Lo, &Hi, Perms) == 3 && Lo <= Addr && Addr < Hi)
      return Perms;
  }
  return "";
}

TEST(NativeExecutorTest, PublishesTheNativeServiceAndLLVMsStandardServices) {
  auto Conn = jitslab::spawnExecutor(JITSLAB_NATIVE_EXECUTOR);
  ASSERT_EXPECTED(Conn);
  AtScopeExit Reap([&] { jitslab::reapExecutor(Conn->Pid, 5000); });
  auto Native = lookUpNative(*Conn->EPC);
  EXPECT_EQ(Native.size(), 4u);
  for (auto &[Name, Addr] : Native)
    EXPECT_TRUE(Addr) << Name;
  ExecutorAddr A;
  // What LLVM's own executor of this major publishes (names differ between 19 and 22).
  std::vector<const char *> Stock = jitslab::compat::simpleExecutorMemoryManagerSymbolNames();
  auto [RegisterEH, DeregisterEH] = jitslab::compat::ehFrameRegistrationSymbolNames();
  Stock.insert(Stock.end(), {rt::ExecutorSharedMemoryMapperServiceReserveWrapperName,
                             rt::ExecutorSharedMemoryMapperServiceInitializeWrapperName,
                             rt::SimpleExecutorDylibManagerOpenWrapperName, RegisterEH,
                             DeregisterEH, rt::RunAsMainWrapperName});
  for (const char *Name : Stock)
    EXPECT_FALSE(static_cast<bool>(Conn->EPC->getBootstrapSymbols({{A, Name}}))) << Name;
  ASSERT_NO_ERROR(Conn->EPC->disconnect());
}

TEST(NativeExecutorTest, CodeWrittenThroughTheMemfdRunsInTheExecutor) {
  auto Conn = jitslab::spawnExecutor(JITSLAB_NATIVE_EXECUTOR);
  ASSERT_EXPECTED(Conn);
  AtScopeExit Reap([&] { jitslab::reapExecutor(Conn->Pid, 5000); });
  ExecutorProcessControl &EPC = *Conn->EPC;
  auto Native = lookUpNative(EPC);
  const uint64_t Page = EPC.getPageSize();

  // Another version is refused, and the message names both.
  Expected<SetupReply> Setup((SetupReply()));
  ASSERT_NO_ERROR(EPC.callSPSWrapper<SPSSetupSig>(Native["__jitslab_executor_setup"], Setup,
                                                  uint32_t(JITSLAB_EXECUTOR_PROTOCOL_VERSION + 1),
                                                  Span, uint8_t(0)));
  ASSERT_FALSE(static_cast<bool>(Setup));
  std::string Msg = toString(Setup.takeError());
  EXPECT_NE(
      Msg.find("linker speaks version " + std::to_string(JITSLAB_EXECUTOR_PROTOCOL_VERSION + 1)),
      std::string::npos)
      << Msg;
  EXPECT_NE(
      Msg.find("executor speaks version " + std::to_string(JITSLAB_EXECUTOR_PROTOCOL_VERSION)),
      std::string::npos)
      << Msg;

  Setup = SetupReply();
  ASSERT_NO_ERROR(EPC.callSPSWrapper<SPSSetupSig>(Native["__jitslab_executor_setup"], Setup,
                                                  uint32_t(JITSLAB_EXECUTOR_PROTOCOL_VERSION), Span,
                                                  uint8_t(0)));
  ASSERT_EXPECTED(Setup);
  auto [Handle, Base, Pid, FD, Name] = *Setup;
  EXPECT_EQ(Pid, uint32_t(Conn->Pid));
  EXPECT_EQ(Name, "");
  ASSERT_GE(FD, 0);

  // The linker's two ways to take the memfd: pidfd_getfd, and /proc/PID/fd/FD.
  int PidFD = syscall(SYS_pidfd_open, Pid, 0);
  ASSERT_GE(PidFD, 0) << strerror(errno);
  int Taken = syscall(SYS_pidfd_getfd, PidFD, FD, 0);
  ASSERT_GE(Taken, 0) << strerror(errno);
  close(PidFD);
  std::string ProcPath = "/proc/" + std::to_string(Pid) + "/fd/" + std::to_string(FD);
  int Opened = open(ProcPath.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(Opened, 0) << ProcPath << ": " << strerror(errno);
  struct stat A, B;
  ASSERT_EQ(fstat(Taken, &A), 0);
  ASSERT_EQ(fstat(Opened, &B), 0);
  EXPECT_EQ(A.st_ino, B.st_ino) << "both ways give the same file";
  EXPECT_EQ(uint64_t(A.st_size), Span);
  char Link[256] = {};
  ASSERT_GT(readlink(ProcPath.c_str(), Link, sizeof(Link) - 1), 0);
  EXPECT_EQ(std::string(Link).rfind("/memfd:", 0), 0u) << Link;
  close(Opened);
  auto *Work =
      static_cast<uint8_t *>(mmap(nullptr, Span, PROT_READ | PROT_WRITE, MAP_SHARED, Taken, 0));
  ASSERT_NE(Work, MAP_FAILED);
  close(Taken);
  AtScopeExit Unmap([&] { munmap(Work, Span); });

  // Pools: code in page 0, data in page 1, given their access by a finalize with no allocation.
  ExecutorAddr Finalize = Native["__jitslab_executor_finalize"];
  // Expected<[Error]> holding no result: 01, count 0.
  const char NoResults[] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(finalizeReply(EPC, Finalize, Handle, {{0, Page, RX}, {Page, Page, RW}}, {}),
            std::string(NoResults, sizeof(NoResults)));
  EXPECT_EQ(permsAt(Conn->Pid, Base), "r-xs");
  EXPECT_EQ(permsAt(Conn->Pid, Base + Page), "rw-s");
  // W^X is refused across the wire too: an Expected holding an error (00, then its message).
  std::string WX = finalizeReply(EPC, Finalize, Handle, {{2 * Page, Page, 7}}, {});
  ASSERT_FALSE(WX.empty());
  EXPECT_EQ(WX[0], 0) << WX;
  EXPECT_NE(WX.find("writable and executable"), std::string::npos) << WX;

  const uint8_t Return42[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3}; // mov eax, 42; ret
  std::memcpy(Work + 16, Return42, sizeof(Return42));
  std::vector<Allocation> Batch{{7, {{16, sizeof(Return42), RX}, {Page, 8, RW}}, {}}};
  // Expected<[Error]> holding one success: 01, count 1, 00.
  const char OneSuccess[] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(finalizeReply(EPC, Finalize, Handle, {}, Batch),
            std::string(OneSuccess, sizeof(OneSuccess)));

  auto Result = EPC.runAsIntFunction(ExecutorAddr(Base + 16), 0);
  ASSERT_EXPECTED(Result);
  EXPECT_EQ(*Result, 42);
  EXPECT_EQ(writableAndExecutable(Conn->Pid), std::vector<std::string>());
  // No name in /dev/shm holds the executor's file.
  if (DIR *D = opendir("/dev/shm")) {
    while (dirent *E = readdir(D)) {
      struct stat S;
      std::string P = std::string("/dev/shm/") + E->d_name;
      if (stat(P.c_str(), &S) == 0)
        EXPECT_FALSE(S.st_ino == A.st_ino && S.st_dev == A.st_dev) << P;
    }
    closedir(D);
  }

  ASSERT_NO_ERROR(callForError<SPSDeallocateSig>(EPC, Native["__jitslab_executor_deallocate"],
                                                 Handle, std::vector<uint64_t>{7}));
  Error Again = callForError<SPSDeallocateSig>(EPC, Native["__jitslab_executor_deallocate"], Handle,
                                               std::vector<uint64_t>{7});
  ASSERT_TRUE(static_cast<bool>(Again));
  EXPECT_NE(toString(std::move(Again)).find("unknown allocation key 0x7"), std::string::npos);
  ASSERT_NO_ERROR(callForError<SPSTeardownSig>(EPC, Native["__jitslab_executor_teardown"], Handle));
  EXPECT_EQ(permsAt(Conn->Pid, Base), "") << "teardown unmaps the region";
  ASSERT_NO_ERROR(EPC.disconnect());
}

} // namespace
