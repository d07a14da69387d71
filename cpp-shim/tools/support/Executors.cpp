//===- Executors.cpp - start or attach to an out-of-process ORC executor ---===//

#include "Executors.h"
#include "CheckedTransport.h"
#include "WarmTaskDispatcher.h"
#include "jitslab.h"
#include "jitslab/OrcCompat.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/TaskDispatch.h"
#include "llvm/Support/FormatVariadic.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
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

std::mutex LostMutex;
std::function<void(const std::string &)> LostHandler;

std::function<void(const std::string &)> connectionLostHandler() {
  std::lock_guard<std::mutex> Lock(LostMutex);
  return LostHandler;
}

/// Set by the reading thread once it is out of the handler of the executor's Setup message, or
/// once the connection has ended without one.
///
/// SimpleRemoteEPC::setup starts the transport, then waits on a std::promise that the Setup's
/// handler fulfils on the reading thread, and reads what the handler stored (the executor's
/// bootstrap symbols). Both sides of that hand-off are inside libLLVM, which is not
/// instrumented under -DJITSLAB_SANITIZE=thread, so ThreadSanitizer saw the reads as racing
/// with the writes in every out-of-process run. CountingTransport::start waits on this latch
/// before it returns to setup, which orders the two threads with a lock TSan sees; setup would
/// have waited for the same message anyway.
class SetupHandled {
public:
  void set() {
    std::lock_guard<std::mutex> Lock(M);
    Done = true;
    CV.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> Lock(M);
    CV.wait(Lock, [this] { return Done; });
  }

private:
  std::mutex M;
  std::condition_variable CV;
  bool Done = false;
};

/// The controller's transport: jitslab's checked one (CheckedTransport.h: a frame with a bad
/// header ends the session with an error naming it, where LLVM's transport would allocate
/// whatever size the header says, or pass an unknown opcode on), with every message counted on
/// the way through. It sits between SimpleRemoteEPC (its client) and the real transport
/// (whose client it is).
class CountingTransport final : public SimpleRemoteEPCTransport,
                                public SimpleRemoteEPCTransportClient {
public:
  static Expected<std::unique_ptr<CountingTransport>>
  Create(SimpleRemoteEPCTransportClient &C, int InFD, int OutFD,
         std::shared_ptr<TransportCounts> Counts) {
    std::unique_ptr<CountingTransport> T(new CountingTransport(C, std::move(Counts)));
    auto Inner = CheckedFDTransport::Create(*T, InFD, OutFD, CheckedFDTransport::DefaultMaxFrame,
                                            CheckedFDTransport::Side::Controller);
    if (!Inner)
      return Inner.takeError();
    T->Inner = std::move(*Inner);
    return std::move(T);
  }

  /// Returns once the executor's Setup has been handled or the connection has ended (SetupHandled
  /// says why it waits).
  Error start() override {
    if (Error E = Inner->start())
      return E;
    Setup.wait();
    return Error::success();
  }
  Error sendMessage(SimpleRemoteEPCOpcode OpC, uint64_t SeqNo, ExecutorAddr TagAddr,
                    ArrayRef<char> ArgBytes) override {
    if (OpC == SimpleRemoteEPCOpcode::CallWrapper)
      ++Counts->CallsToExecutor;
    Counts->BytesSent += FrameHeaderBytes + ArgBytes.size();
    Error E = Inner->sendMessage(OpC, SeqNo, TagAddr, ArgBytes);
    if (E && !Closing) {
      // The writer can learn of a dead executor before the reading thread does: the handler
      // hears of it from here too, before the error reaches ORC (whose error paths are what
      // the handler exists to pre-empt).
      std::string Reason = toString(std::move(E));
      if (auto Lost = connectionLostHandler())
        Lost(Reason);
      E = make_error<StringError>(Reason, inconvertibleErrorCode());
    }
    return E;
  }
  void disconnect() override {
    Closing = true;
    Inner->disconnect();
  }

  Expected<HandleMessageAction> handleMessage(SimpleRemoteEPCOpcode OpC, uint64_t SeqNo,
                                              ExecutorAddr TagAddr,
                                              compat::MessageBytes ArgBytes) override {
    Counts->BytesReceived += FrameHeaderBytes + ArgBytes.size();
    auto Action = Client.handleMessage(OpC, SeqNo, TagAddr, std::move(ArgBytes));
    if (OpC == SimpleRemoteEPCOpcode::Setup)
      Setup.set();
    return Action;
  }
  void handleDisconnect(Error Err) override {
    if (!Closing) {
      // ORC gets what it would have got from LLVM's transport: an end of input between frames
      // is a clean end, a refused frame an error.
      std::string Reason = "the executor closed the connection";
      if (Err) {
        Reason = toString(std::move(Err));
        Err = make_error<StringError>(Reason, inconvertibleErrorCode());
      }
      if (auto Lost = connectionLostHandler())
        Lost(Reason);
    }
    Client.handleDisconnect(std::move(Err));
    Setup.set();
  }

private:
  /// Every message starts with four u64 fields: size, opcode, sequence number, tag address.
  static constexpr uint64_t FrameHeaderBytes = 32;

  CountingTransport(SimpleRemoteEPCTransportClient &C, std::shared_ptr<TransportCounts> Counts)
      : Client(C), Counts(std::move(Counts)) {}

  SimpleRemoteEPCTransportClient &Client;
  std::shared_ptr<TransportCounts> Counts;
  SetupHandled Setup;
  std::atomic<bool> Closing{false}; // this side asked for the end
  std::unique_ptr<CheckedFDTransport> Inner;
};

/// The ORC handshake's error, with a hint when the executor lacks a bootstrap symbol this LLVM
/// expects: the usual cause is an executor built for another LLVM major (their bootstrap
/// symbols differ, e.g. 19's dylib lookup wrapper is 22's resolve wrapper).
Error explainHandshake(Error E) {
  std::string Msg = toString(std::move(E));
  if (StringRef(Msg).contains("not found in bootstrap symbols map"))
    Msg += " (an executor and its controller must be built for one LLVM major; this tool is "
           "built for LLVM " +
           std::to_string(LLVM_VERSION_MAJOR) + ")";
  // The usual cause is jitslab-executor's authentication challenge, read as an ORC frame;
  // an executor that sends garbage ends the same way, so the hint says "if".
  if (StringRef(Msg).contains("first message is not ORC's Setup"))
    Msg += " (if it is jitslab-executor asking for a shared secret, give --secret-file=PATH or "
           "set JITSLAB_EXECUTOR_SECRET_FILE)";
  return make_error<StringError>(Msg, inconvertibleErrorCode());
}

Expected<ExecutorConnection> connectFDs(int InFD, int OutFD, SimpleRemoteEPC::Setup S, pid_t Pid) {
  // As many materialization threads as cores (at least two); result handlers and other tasks
  // get threads of their own, warm ones (WarmTaskDispatcher.h: LLVM's dispatcher started a
  // thread for every task, about 6 per input of a REPL session).
  auto Threads = std::max(2u, std::thread::hardware_concurrency());
  auto Counts = std::make_shared<TransportCounts>();
  auto EPC = SimpleRemoteEPC::Create<CountingTransport>(
      std::make_unique<WarmTaskDispatcher>(Threads), std::move(S), InFD, OutFD, Counts);
  if (!EPC)
    return explainHandshake(EPC.takeError());
  return ExecutorConnection{std::move(*EPC), Pid, std::move(Counts)};
}

} // namespace

namespace {

/// A child executor with its two pipe ends in this process: `In` reads what it sends, `Out`
/// writes to it.
struct ChildPipes {
  pid_t Pid = -1;
  int In = -1, Out = -1;
};

/// Starts `Path filedescs=R,W` with a pipe each way and the environment `Envp`. C library
/// calls only, and nothing allocated: it may run before any static constructor
/// (startExecutorEarly). 0 or an errno.
int startChild(const char *Path, char *const *Envp, ChildPipes &C) {
  // [0] read end, [1] write end. Close-on-exec everywhere; the child clears it on its two ends.
  int ToExecutor[2], FromExecutor[2];
  if (pipe2(ToExecutor, O_CLOEXEC) != 0)
    return errno;
  if (pipe2(FromExecutor, O_CLOEXEC) != 0) {
    int E = errno;
    close(ToExecutor[0]);
    close(ToExecutor[1]);
    return E;
  }
  char FDs[64];
  snprintf(FDs, sizeof(FDs), "filedescs=%d,%d", ToExecutor[0], FromExecutor[1]);
  char *const Argv[] = {const_cast<char *>(Path), FDs, nullptr};
  // vfork: this process is suspended until the child has exec'd, and its page tables are not
  // copied (fork copied those of a linker that has LLVM loaded: about 0.3 ms, and copy-on-write
  // faults until the exec).
  pid_t Pid = vfork();
  if (Pid == 0) {
    // The child shares this process's memory until it execs: fcntl, execve and _exit only.
    fcntl(ToExecutor[0], F_SETFD, 0);
    fcntl(FromExecutor[1], F_SETFD, 0);
    execve(Path, Argv, Envp);
    _exit(127);
  }
  int E = Pid < 0 ? errno : 0;
  close(ToExecutor[0]);
  close(FromExecutor[1]);
  if (E) {
    close(ToExecutor[1]);
    close(FromExecutor[0]);
    return E;
  }
  C = {Pid, FromExecutor[0], ToExecutor[1]};
  return 0;
}

/// The executor startExecutorEarly started, until spawnExecutor takes it. Plain data: it is
/// set before static constructors run.
const char *EarlyPath = nullptr;
ChildPipes Early;

} // namespace

void startExecutorEarly(const char *Path, char *const *Envp) {
  if (EarlyPath || !Path || !Envp || access(Path, X_OK) != 0)
    return;
  if (startChild(Path, Envp, Early) == 0)
    EarlyPath = Path;
}

void discardEarlyExecutor() {
  if (!EarlyPath)
    return;
  EarlyPath = nullptr;
  // Killed (reapExecutor with no wait) before its pipes close: seeing them close, it would say
  // so on stderr (LLVM's executor prints "FD-transport disconnected") after this program's own
  // error.
  reapExecutor(Early.Pid, 0);
  close(Early.In);
  close(Early.Out);
}

Expected<ExecutorConnection> spawnExecutor(const std::string &Path, SimpleRemoteEPC::Setup S) {
  ignoreSigpipeOnce();
  ChildPipes C;
  const bool Taken = EarlyPath && Path == EarlyPath;
  if (Taken) {
    C = Early;
    EarlyPath = nullptr;
  } else {
    discardEarlyExecutor(); // if one was started for another path: not ours to use
    if (access(Path.c_str(), X_OK) != 0)
      return osError("cannot run executor '" + Path + "'");
    if (int E = startChild(Path.c_str(), environ, C)) {
      errno = E;
      return osError("starting executor '" + Path + "'");
    }
  }
  pid_t Pid = C.Pid;
  auto Conn = connectFDs(C.In, C.Out, std::move(S), Pid);
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
  Conn->StartedEarly = Taken;
  return Conn;
}

namespace {

Error connectError(const std::string &Where, const Twine &Why) {
  return make_error<StringError>("cannot connect to executor at " + Where + ": " + Why,
                                 inconvertibleErrorCode());
}

/// A stream socket connected to the Unix-domain socket at `Path`.
Expected<int> connectUnix(const std::string &Where, StringRef Path) {
  sockaddr_un Addr{};
  Addr.sun_family = AF_UNIX;
  if (Path.empty() || Path.size() >= sizeof(Addr.sun_path))
    return connectError(Where,
                        "a socket path has 1 to " + Twine(sizeof(Addr.sun_path) - 1) + " bytes");
  std::memcpy(Addr.sun_path, Path.data(), Path.size());
  int FD = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (FD < 0)
    return connectError(Where, std::strerror(errno));
  if (connect(FD, reinterpret_cast<sockaddr *>(&Addr), sizeof(Addr)) != 0) {
    Error E = connectError(Where, std::strerror(errno));
    close(FD);
    return std::move(E);
  }
  return FD;
}

/// A TCP socket connected to `Host`:`Port`, without Nagle's algorithm.
Expected<int> connectTCP(const std::string &Where) {
  auto Colon = Where.rfind(':');
  if (Colon == std::string::npos || Colon == 0 || Colon + 1 == Where.size())
    return make_error<StringError>("--connect wants HOST:PORT or unix:PATH, got '" + Where + "'",
                                   inconvertibleErrorCode());
  std::string Host = Where.substr(0, Colon), Port = Where.substr(Colon + 1);
  addrinfo Hints{};
  Hints.ai_family = AF_UNSPEC;
  Hints.ai_socktype = SOCK_STREAM;
  addrinfo *AI = nullptr;
  if (int RC = getaddrinfo(Host.c_str(), Port.c_str(), &Hints, &AI))
    return make_error<StringError>("cannot resolve '" + Where + "': " + gai_strerror(RC),
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
    return connectError(Where, Why);
  // Every ORC call is a small message that waits for its answer: without TCP_NODELAY, Nagle's
  // algorithm holds each one back for the previous one's ACK (a 222-input REPL session took
  // about 1 minute over loopback instead of 2 s).
  int One = 1;
  setsockopt(FD, IPPROTO_TCP, TCP_NODELAY, &One, sizeof(One));
  return FD;
}

} // namespace

std::string defaultSecretFile() {
  const char *Env = std::getenv("JITSLAB_EXECUTOR_SECRET_FILE");
  return Env ? Env : "";
}

Expected<ExecutorConnection>
connectExecutor(const std::string &Where, const std::string &SecretFile, SimpleRemoteEPC::Setup S) {
  ignoreSigpipeOnce();
  // A secret file we cannot use is refused before anything connects.
  if (!SecretFile.empty() && jitslab_secret_file_check(SecretFile.c_str()) != JITSLAB_OK)
    return make_error<StringError>(jitslab_last_error(), inconvertibleErrorCode());
  StringRef Path = Where;
  auto FD = Path.consume_front("unix:") ? connectUnix(Where, Path) : connectTCP(Where);
  if (!FD)
    return FD.takeError();
  if (!SecretFile.empty() &&
      jitslab_authenticate(*FD, JITSLAB_AUTH_CONTROLLER, SecretFile.c_str()) != JITSLAB_OK) {
    Error E = make_error<StringError>("executor at " + Where +
                                          ": authentication: " + jitslab_last_error(),
                                      inconvertibleErrorCode());
    close(*FD);
    return std::move(E);
  }
  return connectFDs(*FD, *FD, std::move(S), -1);
}

namespace {

enum class Wait { Exited, TimedOut, NotAChild };

/// Waits up to `TimeoutMs` for child `Pid` to exit and reaps it into `Status`. It sleeps on a
/// pidfd, which becomes readable the moment the process exits (Linux 5.3), so the caller learns
/// of the exit at once rather than at the next tick of a polling loop (a 10 ms tick showed in
/// every short out-of-process run); where pidfd_open is refused, it polls every millisecond.
Wait waitExited(pid_t Pid, unsigned TimeoutMs, int &Status) {
  auto Deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(TimeoutMs);
  int PidFD = static_cast<int>(syscall(SYS_pidfd_open, Pid, 0));
  Wait Result = Wait::TimedOut;
  for (;;) {
    pid_t R = waitpid(Pid, &Status, WNOHANG);
    if (R == Pid) {
      Result = Wait::Exited;
      break;
    }
    if (R < 0 && errno != EINTR) {
      Result = Wait::NotAChild;
      break;
    }
    auto Left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    Deadline - std::chrono::steady_clock::now())
                    .count();
    if (Left <= 0)
      break;
    if (PidFD >= 0) {
      pollfd P{PidFD, POLLIN, 0};
      poll(&P, 1, static_cast<int>(Left));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (PidFD >= 0)
    close(PidFD);
  return Result;
}

} // namespace

void setConnectionLostHandler(std::function<void(const std::string &)> Handler) {
  std::lock_guard<std::mutex> Lock(LostMutex);
  LostHandler = std::move(Handler);
}

int reapExecutor(pid_t Pid, unsigned TimeoutMs) {
  if (Pid <= 0)
    return -1;
  int Status = 0;
  switch (waitExited(Pid, TimeoutMs, Status)) {
  case Wait::Exited:
    return Status;
  case Wait::NotAChild:
    return -1;
  case Wait::TimedOut:
    break;
  }
  kill(Pid, SIGKILL);
  while (waitpid(Pid, &Status, 0) < 0 && errno == EINTR) {
  }
  return Status;
}
std::string executorFate(pid_t &Pid, unsigned WaitMs, int *StatusOut) {
  if (Pid <= 0)
    return "";
  int Status = 0;
  if (waitExited(Pid, WaitMs, Status) != Wait::Exited)
    return "";
  pid_t Was = std::exchange(Pid, -1);
  if (StatusOut)
    *StatusOut = Status;
  if (WIFSIGNALED(Status))
    return llvm::formatv("the executor (pid {0}) was killed by signal {1}", Was, WTERMSIG(Status));
  return llvm::formatv("the executor (pid {0}) exited with status {1}", Was, WEXITSTATUS(Status));
}

} // namespace jitslab
