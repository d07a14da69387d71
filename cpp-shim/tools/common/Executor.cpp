//===- Executor.cpp - start or attach to an out-of-process ORC executor ---===//

#include "Executor.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ADT/StringExtras.h"

#include "llvm/ExecutionEngine/Orc/MapperJITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/MemoryMapper.h"
#include "llvm/ExecutionEngine/Orc/Shared/OrcRTBridge.h"
#include "llvm/ExecutionEngine/Orc/Shared/TargetProcessControlTypes.h"
#include "llvm/ExecutionEngine/Orc/TaskDispatch.h"
#include "llvm/Support/FormatVariadic.h"

#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

using namespace llvm;
using namespace llvm::orc;

namespace jitslab {
namespace {

Error osError(const Twine &What) {
  return make_error<StringError>(What + ": " + std::strerror(errno), inconvertibleErrorCode());
}

void ignoreSigpipeOnce() {
  static const bool Done = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)Done;
}

/// LLVM's file-descriptor transport with every message counted on the way through: it sits
/// between SimpleRemoteEPC (its client) and the real transport (whose client it is).
class CountingTransport final : public SimpleRemoteEPCTransport,
                                public SimpleRemoteEPCTransportClient {
public:
  static Expected<std::unique_ptr<CountingTransport>>
  Create(SimpleRemoteEPCTransportClient &C, int InFD, int OutFD,
         std::shared_ptr<TransportCounts> Counts) {
    std::unique_ptr<CountingTransport> T(new CountingTransport(C, std::move(Counts)));
    auto Inner = FDSimpleRemoteEPCTransport::Create(*T, InFD, OutFD);
    if (!Inner)
      return Inner.takeError();
    T->Inner = std::move(*Inner);
    return std::move(T);
  }

  Error start() override { return Inner->start(); }
  Error sendMessage(SimpleRemoteEPCOpcode OpC, uint64_t SeqNo, ExecutorAddr TagAddr,
                    ArrayRef<char> ArgBytes) override {
    if (OpC == SimpleRemoteEPCOpcode::CallWrapper)
      ++Counts->CallsToExecutor;
    Counts->BytesSent += FrameHeaderBytes + ArgBytes.size();
    return Inner->sendMessage(OpC, SeqNo, TagAddr, ArgBytes);
  }
  void disconnect() override { Inner->disconnect(); }

  Expected<HandleMessageAction> handleMessage(SimpleRemoteEPCOpcode OpC, uint64_t SeqNo,
                                              ExecutorAddr TagAddr,
                                              compat::MessageBytes ArgBytes) override {
    Counts->BytesReceived += FrameHeaderBytes + ArgBytes.size();
    return Client.handleMessage(OpC, SeqNo, TagAddr, std::move(ArgBytes));
  }
  void handleDisconnect(Error Err) override { Client.handleDisconnect(std::move(Err)); }

private:
  /// Every message starts with four u64 fields: size, opcode, sequence number, tag address.
  static constexpr uint64_t FrameHeaderBytes = 32;

  CountingTransport(SimpleRemoteEPCTransportClient &C, std::shared_ptr<TransportCounts> Counts)
      : Client(C), Counts(std::move(Counts)) {}

  SimpleRemoteEPCTransportClient &Client;
  std::shared_ptr<TransportCounts> Counts;
  std::unique_ptr<FDSimpleRemoteEPCTransport> Inner;
};

/// The ORC handshake's error, with a hint when the executor lacks a bootstrap symbol this LLVM
/// expects: the usual cause is an executor built for another LLVM major (their bootstrap
/// symbols differ, e.g. 19's dylib lookup wrapper is 22's resolve wrapper).
Error explainHandshake(Error E) {
  std::string Msg = toString(std::move(E));
  if (StringRef(Msg).contains("not found in bootstrap symbols map"))
    Msg += " (an executor and its controller must be built for one LLVM major; this tool is "
           "built for LLVM " + std::to_string(LLVM_VERSION_MAJOR) + ")";
  return make_error<StringError>(Msg, inconvertibleErrorCode());
}

Expected<ExecutorConnection> connectFDs(int InFD, int OutFD, SimpleRemoteEPC::Setup S, pid_t Pid) {
  // As many materialization threads as cores (at least two); result handlers and other tasks
  // get threads of their own.
  auto Threads = std::max(2u, std::thread::hardware_concurrency());
  auto Counts = std::make_shared<TransportCounts>();
  auto EPC = SimpleRemoteEPC::Create<CountingTransport>(
      std::make_unique<DynamicThreadPoolTaskDispatcher>(Threads), std::move(S), InFD, OutFD, Counts);
  if (!EPC)
    return explainHandshake(EPC.takeError());
  return ExecutorConnection{std::move(*EPC), Pid, std::move(Counts)};
}

/// LLVM's SharedMemoryMapper, plus one call after each reservation that makes the executor's
/// view of it readable. The stock service maps a reservation with no access, and LLVM 19's ORC
/// has the executor read a graph's .eh_frame (ELFNixPlatform's registration, libgcc's
/// __register_frame) before the graph is finalized: with the ORC runtime, the unmodified
/// llvm-shm setup kills llvm-jitlink-executor with SIGSEGV (so does `llvm-jitlink
/// -use-shared-memory -orc-runtime=...`). jitslab makes the same call for its own slab.
class ReadableSharedMemoryMapper final : public compat::ForwardingMemoryMapper {
public:
  ReadableSharedMemoryMapper(ExecutorProcessControl &EPC, SharedMemoryMapper::SymbolAddrs SAs,
                             std::unique_ptr<SharedMemoryMapper> Inner)
      : ForwardingMemoryMapper(std::move(Inner)), EPC(EPC), SAs(SAs) {}

  static Expected<std::unique_ptr<ReadableSharedMemoryMapper>>
  Create(ExecutorProcessControl &EPC, SharedMemoryMapper::SymbolAddrs SAs) {
    auto Inner = SharedMemoryMapper::Create(EPC, SAs);
    if (!Inner)
      return Inner.takeError();
    return std::make_unique<ReadableSharedMemoryMapper>(EPC, SAs, std::move(*Inner));
  }

  void reserve(size_t NumBytes, OnReservedFunction OnReserved) override {
    inner().reserve(NumBytes, [this, OnReserved = std::move(OnReserved)](
                                  Expected<ExecutorAddrRange> R) mutable {
      if (!R)
        return OnReserved(R.takeError());
      tpctypes::SharedMemoryFinalizeRequest FR;
      FR.Segments.push_back({tpctypes::RemoteAllocGroup(MemProt::Read), R->Start, R->size()});
      Expected<ExecutorAddr> Key((ExecutorAddr()));
      Error E = EPC.callSPSWrapper<rt::SPSExecutorSharedMemoryMapperServiceInitializeSignature>(
          SAs.Initialize, Key, SAs.Instance, R->Start, FR);
      if (!E && !Key)
        E = Key.takeError();
      else if (!E)
        return OnReserved(std::move(*R));
      // Not usable: give the reservation back rather than leave it to the executor's exit.
      inner().release({R->Start}, [](Error Ignored) { consumeError(std::move(Ignored)); });
      OnReserved(std::move(E));
    });
  }

private:
  ExecutorProcessControl &EPC;
  SharedMemoryMapper::SymbolAddrs SAs;
};

} // namespace

Expected<ExecutorConnection> spawnExecutor(const std::string &Path, SimpleRemoteEPC::Setup S) {
  ignoreSigpipeOnce();
  if (access(Path.c_str(), X_OK) != 0)
    return osError("cannot run executor '" + Path + "'");
  // [0] read end, [1] write end. Close-on-exec everywhere; the child clears it on its two ends.
  int ToExecutor[2], FromExecutor[2];
  if (pipe2(ToExecutor, O_CLOEXEC) != 0)
    return osError("pipe");
  if (pipe2(FromExecutor, O_CLOEXEC) != 0) {
    Error E = osError("pipe");
    close(ToExecutor[0]);
    close(ToExecutor[1]);
    return std::move(E);
  }
  std::string FDs = "filedescs=" + std::to_string(ToExecutor[0]) + "," + std::to_string(FromExecutor[1]);
  pid_t Pid = fork();
  if (Pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    fcntl(ToExecutor[0], F_SETFD, 0);
    fcntl(FromExecutor[1], F_SETFD, 0);
    char *const Argv[] = {const_cast<char *>(Path.c_str()), const_cast<char *>(FDs.c_str()), nullptr};
    execv(Path.c_str(), Argv);
    _exit(127);
  }
  Error ForkErr = Pid < 0 ? osError("fork") : Error::success();
  close(ToExecutor[0]);
  close(FromExecutor[1]);
  if (ForkErr) {
    close(ToExecutor[1]);
    close(FromExecutor[0]);
    return std::move(ForkErr);
  }
  auto Conn = connectFDs(FromExecutor[0], ToExecutor[1], std::move(S), Pid);
  if (!Conn) {
    // Say how the executor ended if it did (killed, or exited at once), else stop it.
    pid_t Child = Pid;
    std::string Fate = executorFate(Child, 500);
    if (Child > 0)
      reapExecutor(Child, 0);
    std::string Msg = "executor '" + Path + "' did not complete the ORC handshake";
    if (!Fate.empty())
      Msg = Fate + ": " + Msg;
    return joinErrors(make_error<StringError>(Msg, inconvertibleErrorCode()), Conn.takeError());
  }
  return Conn;
}

Expected<ExecutorConnection> connectExecutor(const std::string &HostPort, SimpleRemoteEPC::Setup S) {
  ignoreSigpipeOnce();
  auto Colon = HostPort.rfind(':');
  if (Colon == std::string::npos || Colon == 0 || Colon + 1 == HostPort.size())
    return make_error<StringError>("--connect wants HOST:PORT, got '" + HostPort + "'", inconvertibleErrorCode());
  std::string Host = HostPort.substr(0, Colon), Port = HostPort.substr(Colon + 1);
  addrinfo Hints{};
  Hints.ai_family = AF_UNSPEC;
  Hints.ai_socktype = SOCK_STREAM;
  addrinfo *AI = nullptr;
  if (int RC = getaddrinfo(Host.c_str(), Port.c_str(), &Hints, &AI))
    return make_error<StringError>("cannot resolve '" + HostPort + "': " + gai_strerror(RC),
                                   inconvertibleErrorCode());
  int FD = -1;
  std::string Why = "no address";
  for (addrinfo *A = AI; A && FD < 0; A = A->ai_next) {
    FD = socket(A->ai_family, A->ai_socktype | SOCK_CLOEXEC, A->ai_protocol);
    if (FD < 0)
      Why = std::strerror(errno);
    else if (connect(FD, A->ai_addr, A->ai_addrlen) != 0) {
      Why = std::strerror(errno);
      close(FD);
      FD = -1;
    }
  }
  freeaddrinfo(AI);
  if (FD < 0)
    return make_error<StringError>("cannot connect to executor at " + HostPort + ": " + Why,
                                   inconvertibleErrorCode());
  return connectFDs(FD, FD, std::move(S), -1);
}

int reapExecutor(pid_t Pid, unsigned TimeoutMs) {
  if (Pid <= 0)
    return -1;
  auto Deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(TimeoutMs);
  int Status = 0;
  for (;;) {
    pid_t R = waitpid(Pid, &Status, WNOHANG);
    if (R == Pid)
      return Status;
    if (R < 0 && errno != EINTR)
      return -1;
    if (std::chrono::steady_clock::now() >= Deadline)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(Pid, SIGKILL);
  while (waitpid(Pid, &Status, 0) < 0 && errno == EINTR) {
  }
  return Status;
}

Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>> createLLVMSharedMemoryManager(ExecutorProcessControl &EPC,
                                                                                      uint64_t SlabSize) {
  SharedMemoryMapper::SymbolAddrs SAs;
  if (Error E = EPC.getBootstrapSymbols(
          {{SAs.Instance, rt::ExecutorSharedMemoryMapperServiceInstanceName},
           {SAs.Reserve, rt::ExecutorSharedMemoryMapperServiceReserveWrapperName},
           {SAs.Initialize, rt::ExecutorSharedMemoryMapperServiceInitializeWrapperName},
           {SAs.Deinitialize, rt::ExecutorSharedMemoryMapperServiceDeinitializeWrapperName},
           {SAs.Release, rt::ExecutorSharedMemoryMapperServiceReleaseWrapperName}}))
    return std::move(E);
  auto M = MapperJITLinkMemoryManager::CreateWithMapper<ReadableSharedMemoryMapper>(SlabSize, EPC, SAs);
  if (!M)
    return M.takeError();
  return std::unique_ptr<jitlink::JITLinkMemoryManager>(std::move(*M));
}

Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>> createLLVMEPCManager(ExecutorProcessControl &EPC) {
  return compat::createEPCGenericManager(EPC);
}

std::string executorFate(pid_t &Pid, unsigned WaitMs, int *StatusOut) {
  if (Pid <= 0)
    return "";
  int Status = 0;
  for (unsigned Waited = 0; waitpid(Pid, &Status, WNOHANG) != Pid; Waited += 10) {
    if (Waited >= WaitMs)
      return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_t Was = std::exchange(Pid, -1);
  if (StatusOut)
    *StatusOut = Status;
  if (WIFSIGNALED(Status))
    return llvm::formatv("the executor (pid {0}) was killed by signal {1}", Was,
                         WTERMSIG(Status));
  return llvm::formatv("the executor (pid {0}) exited with status {1}", Was, WEXITSTATUS(Status));
}

Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>>
createMemoryManagerByName(const std::string &Name, ExecutorProcessControl &EPC, bool OutOfProcess,
                          const Config &C, MemoryManager *&Slab) {
  // Each branch's Expected converts to the base class's on return.
  auto Upcast = [](auto M) -> Expected<std::unique_ptr<jitlink::JITLinkMemoryManager>> {
    if (!M)
      return M.takeError();
    return std::unique_ptr<jitlink::JITLinkMemoryManager>(std::move(*M));
  };
  if (Name == "jitslab") {
    auto J = OutOfProcess ? MemoryManager::Create(EPC, C) : MemoryManager::Create(C);
    if (J)
      Slab = J->get();
    return Upcast(std::move(J));
  }
  if (Name == "llvm-epc")
    return createLLVMEPCManager(EPC);
  if (Name == "llvm-shm")
    return createLLVMSharedMemoryManager(EPC, 1ULL << 30);
  if (Name == "llvm-inprocess")
    return Upcast(jitlink::InProcessMemoryManager::Create());
  if (Name == "llvm-mapper")
    return Upcast(MapperJITLinkMemoryManager::CreateWithMapper<InProcessMemoryMapper>(1ULL << 30));
  return make_error<StringError>("unknown memory manager '" + Name + "'", inconvertibleErrorCode());
}

uint64_t residentKiBIn(const std::string &Pid, uint64_t Base, uint64_t Size) {
  std::ifstream Smaps("/proc/" + Pid + "/smaps");
  uint64_t Total = 0;
  bool Inside = false;
  for (std::string Line; std::getline(Smaps, Line);) {
    llvm::StringRef L = Line;
    uint64_t Lo, Hi;
    // A mapping's header: "lo-hi perms offset dev inode [path]"; its fields follow.
    auto [Range, Rest] = L.split(' ');
    auto [LoText, HiText] = Range.split('-');
    if (!Rest.empty() && !LoText.getAsInteger(16, Lo) && !HiText.getAsInteger(16, Hi)) {
      Inside = Lo < Base + Size && Base < Hi;
      continue;
    }
    uint64_t KiB;
    if (Inside && L.consume_front("Rss:") && !L.trim().consumeInteger(10, KiB))
      Total += KiB;
  }
  return Total;
}

std::optional<uint64_t> parseSize(StringRef S) {
  uint64_t Mult = 1;
  if (!S.empty()) {
    switch (toLower(S.back())) {
    case 'k': Mult = 1ULL << 10; break;
    case 'm': Mult = 1ULL << 20; break;
    case 'g': Mult = 1ULL << 30; break;
    default: break;
    }
    if (Mult != 1)
      S = S.drop_back();
  }
  uint64_t V;
  if (S.getAsInteger(0, V) || V == 0 || V > UINT64_MAX / Mult)
    return std::nullopt;
  return V * Mult;
}

Footprint processFootprint(const std::string &Pid) {
  Footprint F;
  std::ifstream Maps("/proc/" + Pid + "/maps");
  for (std::string Line; std::getline(Maps, Line);)
    ++F.Mappings;
  std::ifstream Status("/proc/" + Pid + "/status");
  for (std::string Line; std::getline(Status, Line);) {
    llvm::StringRef L = Line;
    if (L.consume_front("VmHWM:"))
      L.trim().consumeInteger(10, F.PeakKiB);
    else if (L.consume_front("VmRSS:"))
      L.trim().consumeInteger(10, F.RssKiB);
    else if (L.consume_front("RssShmem:"))
      L.trim().consumeInteger(10, F.ShmemKiB);
  }
  return F;
}

} // namespace jitslab
