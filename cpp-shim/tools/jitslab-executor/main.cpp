//===- main.cpp - jitslab-executor: an ORC executor with jitslab's native service ===//
//
// An out-of-process executor for ORC, started the way llvm-jitlink and jitslab-run start
// Debian's llvm-jitlink-executor:
//
//   jitslab-executor filedescs=IN,OUT     talk over two inherited descriptors
//   jitslab-executor listen=HOST:PORT [allow-remote] [secret-file=PATH]
//                                         accept one TCP connection on HOST's address only,
//                                         then talk over it
//   jitslab-executor listen=unix:PATH [secret-file=PATH]
//                                         accept one connection on a new Unix-domain socket
//                                         (mode 0600), from this user only (SO_PEERCRED)
//   ... max-frame=BYTES                   refuse frames larger than BYTES (default 512 MiB)
//
// Whoever connects can run any code as this process's user. So HOST must be a loopback address
// unless `allow-remote` follows (a warning is printed), and with a secret file
// (`secret-file=PATH`, or the file named by JITSLAB_EXECUTOR_SECRET_FILE) the controller must
// prove it holds the secret before any ORC message (jitslab_authenticate); a controller that
// does not is turned away with one line on each side, nothing runs, and the status is 1.
// Debian's llvm-jitlink-executor listens on every address whatever HOST says; this one does
// not.
//
// It offers what LLVM 19's llvm-jitlink-executor offers (the default bootstrap symbols: memory
// writes, running main and other functions; SimpleExecutorMemoryManager;
// ExecutorSharedMemoryMapperService; SimpleExecutorDylibManager and the eh-frame registration
// wrappers, both added by SimpleRemoteEPCServer itself), so LLVM's out-of-process managers and
// jitslab's stock protocol work with it unchanged, plus jitslab's native shared-memory service
// (the wrapper functions that libjitslab lists with jitslab_executor_bootstrap_symbols; the
// protocol is documented in src/protocol/native.rs). It runs each incoming call on a thread of
// its own, as LLVM's does, and ends when the connection closes, after ending every jitslab
// region (their pending dealloc actions run).
//
// It trusts no frame: CheckedFDTransport (CheckedTransport.h) refuses oversized, truncated and
// malformed frames and unknown opcodes with a message naming the frame and the fault, and the
// session then ends as on a closed connection, with exit status 1 (LLVM's transport would
// allocate whatever size a header claims and abort).
//
// It links LLVM's static libraries (only the target-process side) and libjitslab.a, so it
// starts as fast as llvm-jitlink-executor and is about as small in memory (docs/design.md).
//
//===----------------------------------------------------------------------===//

#include "CheckedTransport.h"
#include "WarmThreads.h"
#include "jitslab.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/TargetProcess/ExecutorSharedMemoryMapperService.h"
#include "llvm/ExecutionEngine/Orc/TargetProcess/JITLoaderGDB.h"
#include "llvm/ExecutionEngine/Orc/TargetProcess/JITLoaderPerf.h"
#include "llvm/ExecutionEngine/Orc/TargetProcess/SimpleExecutorMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/TargetProcess/SimpleRemoteEPCServer.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

using namespace llvm;
using namespace llvm::orc;

namespace {

/// Functions that controllers find by name in the executor's process rather than among the
/// bootstrap symbols: the GDB JIT interface (llvm-jitlink --debugger-support, on by default)
/// and perf support. jitslab-executor links LLVM's static libraries, so a function nothing
/// references is not in it at all; this table references them, and the exported symbol table
/// then names them, as Debian's llvm-jitlink-executor does.
__attribute__((used)) const void *const LinkedForLookupByName[] = {
#if LLVM_VERSION_MAJOR < 21
    reinterpret_cast<const void *>(&llvm_orc_registerJITLoaderGDBWrapper),
#endif
    reinterpret_cast<const void *>(&llvm_orc_registerJITLoaderGDBAllocAction),
    reinterpret_cast<const void *>(&llvm_orc_registerJITLoaderPerfStart),
    reinterpret_cast<const void *>(&llvm_orc_registerJITLoaderPerfEnd),
    reinterpret_cast<const void *>(&llvm_orc_registerJITLoaderPerfImpl),
};

const char *Usage =
    "usage: jitslab-executor filedescs=<in-fd>,<out-fd> [max-frame=<bytes>]\n"
    "       jitslab-executor listen=<host>:<port> [allow-remote] [secret-file=<path>] "
    "[max-frame=<bytes>]\n"
    "       jitslab-executor listen=unix:<path> [secret-file=<path>] [max-frame=<bytes>]\n"
    "The secret file may also be named by JITSLAB_EXECUTOR_SECRET_FILE.";

/// The environment variable that names the secret file when no secret-file= is given.
const char *SecretFileVar = "JITSLAB_EXECUTOR_SECRET_FILE";

Error fail(const Twine &Msg) { return make_error<StringError>(Msg, inconvertibleErrorCode()); }

/// jitslab's native service as an ORC bootstrap service: publishes the wrapper functions the
/// Rust library lists, and ends every region when the server shuts down.
class JitslabNativeService final : public ExecutorBootstrapService {
public:
  static Expected<std::unique_ptr<JitslabNativeService>> Create() {
    const JitslabBootstrapSymbol *Syms = nullptr;
    size_t N = 0;
    if (jitslab_executor_bootstrap_symbols(&Syms, &N) != JITSLAB_OK)
      return fail(Twine("jitslab_executor_bootstrap_symbols: ") + jitslab_last_error());
    return std::unique_ptr<JitslabNativeService>(new JitslabNativeService(Syms, N));
  }

  void addBootstrapSymbols(StringMap<ExecutorAddr> &M) override {
    for (size_t I = 0; I < N; ++I)
      M[Syms[I].name] = ExecutorAddr(Syms[I].addr);
  }

  Error shutdown() override {
    if (jitslab_executor_shutdown() != JITSLAB_OK)
      return fail(Twine("jitslab executor service shutdown: ") + jitslab_last_error());
    return Error::success();
  }

private:
  JitslabNativeService(const JitslabBootstrapSymbol *Syms, size_t N) : Syms(Syms), N(N) {}
  const JitslabBootstrapSymbol *Syms;
  size_t N;
};

/// "IN,OUT" to two descriptors.
Expected<std::pair<int, int>> parseFDs(StringRef Spec) {
  auto [In, Out] = Spec.split(',');
  int InFD = -1, OutFD = -1;
  if (In.getAsInteger(10, InFD) || Out.getAsInteger(10, OutFD) || InFD < 0 || OutFD < 0)
    return fail("filedescs wants two descriptor numbers IN,OUT, got '" + Spec + "'");
  return std::make_pair(InFD, OutFD);
}

/// Whether a socket address is a loopback one (127.0.0.0/8, ::1, or 127.x mapped into IPv6):
/// only this machine's processes can reach it.
bool isLoopback(const sockaddr *A) {
  if (A->sa_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in *>(A)->sin_addr.s_addr) >> 24) == 127;
  if (A->sa_family != AF_INET6)
    return false;
  const in6_addr &A6 = reinterpret_cast<const sockaddr_in6 *>(A)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&A6) || (IN6_IS_ADDR_V4MAPPED(&A6) && A6.s6_addr[12] == 127);
}

/// The numeric form of a socket address, for messages.
std::string numericHost(const sockaddr *A, socklen_t Len) {
  char Buf[NI_MAXHOST];
  if (getnameinfo(A, Len, Buf, sizeof(Buf), nullptr, 0, NI_NUMERICHOST) != 0)
    return "?";
  return Buf;
}

/// Listens on HOST:PORT (HOST a name or a numeric address, IPv6 in brackets) and accepts one
/// connection. HOST resolves to one address and the socket is bound to that address alone. A
/// non-loopback address, the wildcard included, is refused unless `AllowRemote`, and then
/// warned about.
Expected<int> acceptOne(StringRef Spec, bool AllowRemote) {
  auto [Host, Port] = Spec.rsplit(':');
  if (Host.empty() || Port.empty())
    return fail("listen wants HOST:PORT (e.g. listen=127.0.0.1:20000), got '" + Spec + "'");
  if (Host.starts_with("[") && Host.ends_with("]"))
    Host = Host.drop_front().drop_back();
  addrinfo Hints{};
  Hints.ai_family = AF_UNSPEC;
  Hints.ai_socktype = SOCK_STREAM;
  Hints.ai_flags = AI_NUMERICSERV;
  addrinfo *AI = nullptr;
  std::string HostStr = Host.str(), PortStr = Port.str();
  if (int RC = getaddrinfo(HostStr.c_str(), PortStr.c_str(), &Hints, &AI))
    return fail("listen: cannot resolve '" + Spec + "': " + gai_strerror(RC));
  std::string Addr = numericHost(AI->ai_addr, AI->ai_addrlen);
  if (!isLoopback(AI->ai_addr)) {
    if (!AllowRemote) {
      freeaddrinfo(AI);
      return fail("listen: " + HostStr + " (" + Addr + ") is not a loopback address; whoever " +
                  "connects runs code as this user, unauthenticated. Add allow-remote to " +
                  "listen there anyway");
    }
    errs() << "jitslab-executor: warning: listening on " << Addr << " port " << PortStr
           << ", reachable from other machines: whoever connects first runs code as this user\n";
  }
  int Sock = socket(AI->ai_family, AI->ai_socktype | SOCK_CLOEXEC, AI->ai_protocol);
  int Yes = 1;
  bool Ok = Sock >= 0 && setsockopt(Sock, SOL_SOCKET, SO_REUSEADDR, &Yes, sizeof(Yes)) == 0 &&
            bind(Sock, AI->ai_addr, AI->ai_addrlen) == 0 && listen(Sock, 1) == 0;
  std::string Why = std::strerror(errno);
  freeaddrinfo(AI);
  if (!Ok) {
    if (Sock >= 0)
      close(Sock);
    return fail("listen on " + Addr + " port " + PortStr + ": " + Why);
  }
  int Conn;
  while ((Conn = accept4(Sock, nullptr, nullptr, SOCK_CLOEXEC)) < 0 && errno == EINTR) {
  }
  Why = std::strerror(errno);
  close(Sock);
  if (Conn < 0)
    return fail("accept on " + Addr + " port " + PortStr + ": " + Why);
  // Small request-reply messages: do not let Nagle's algorithm hold replies back.
  setsockopt(Conn, IPPROTO_TCP, TCP_NODELAY, &Yes, sizeof(Yes));
  return Conn;
}

/// Listens on a new Unix-domain socket at `Path`, created mode 0600 (the umask is tightened
/// around bind, so it is never wider), accepts one connection, and removes the socket's name.
/// A peer whose uid is not this process's (SO_PEERCRED) is refused.
Expected<int> acceptOneUnix(StringRef Path) {
  sockaddr_un Addr{};
  Addr.sun_family = AF_UNIX;
  if (Path.empty() || Path.size() >= sizeof(Addr.sun_path))
    return fail("listen=unix: wants a socket path of 1 to " + Twine(sizeof(Addr.sun_path) - 1) +
                " bytes, got '" + Path + "'");
  std::memcpy(Addr.sun_path, Path.data(), Path.size());
  int Sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (Sock < 0)
    return fail(Twine("socket(AF_UNIX): ") + std::strerror(errno));
  mode_t Old = umask(0177);
  bool Bound = bind(Sock, reinterpret_cast<sockaddr *>(&Addr), sizeof(Addr)) == 0;
  int BindErr = errno;
  umask(Old);
  if (!Bound || listen(Sock, 1) != 0) {
    std::string Why = std::strerror(Bound ? errno : BindErr);
    close(Sock);
    if (Bound)
      unlink(Addr.sun_path);
    return fail("listen on unix:" + Path + ": " + Why +
                (BindErr == EADDRINUSE ? " (remove the old socket first)" : ""));
  }
  int Conn;
  while ((Conn = accept4(Sock, nullptr, nullptr, SOCK_CLOEXEC)) < 0 && errno == EINTR) {
  }
  std::string Why = std::strerror(errno);
  close(Sock);
  unlink(Addr.sun_path);
  if (Conn < 0)
    return fail("accept on unix:" + Path + ": " + Why);
  ucred Peer{};
  socklen_t Len = sizeof(Peer);
  if (getsockopt(Conn, SOL_SOCKET, SO_PEERCRED, &Peer, &Len) != 0) {
    Why = std::strerror(errno);
    close(Conn);
    return fail("SO_PEERCRED on unix:" + Path + ": " + Why);
  }
  if (Peer.uid != geteuid()) {
    close(Conn);
    return fail("unix:" + Path + ": refused a connection from uid " + Twine(Peer.uid) + " (pid " +
                Twine(Peer.pid) + "); only uid " + Twine(geteuid()) + " may connect");
  }
  return Conn;
}

/// The controller on `FD` must prove it holds the secret in `SecretFile`; on failure `FD` is
/// closed.
Error authenticate(int FD, const std::string &SecretFile) {
  if (jitslab_authenticate(FD, JITSLAB_AUTH_EXECUTOR, SecretFile.c_str()) == JITSLAB_OK)
    return Error::success();
  std::string Why = jitslab_last_error();
  close(FD);
  return fail("authentication: " + Why);
}

/// Serves each call on a thread of its own at once, as LLVM's ThreadDispatcher does, but on a
/// warm one (WarmThreads.h): a REPL session's calls started about two threads per input.
class WarmDispatcher final : public SimpleRemoteEPCServer::Dispatcher {
public:
  void dispatch(unique_function<void()> Work) override { Threads.run(std::move(Work)); }
  void shutdown() override { Threads.stop(); }

private:
  jitslab::WarmThreads Threads;
};

Error serve(int InFD, int OutFD, uint64_t MaxFrame) {
  auto Native = JitslabNativeService::Create();
  if (!Native)
    return Native.takeError();
  auto Server = SimpleRemoteEPCServer::Create<jitslab::CheckedFDTransport>(
      [&](SimpleRemoteEPCServer::Setup &S) -> Error {
        S.setDispatcher(std::make_unique<WarmDispatcher>());
        S.bootstrapSymbols() = SimpleRemoteEPCServer::defaultBootstrapSymbols();
        S.services().push_back(std::make_unique<rt_bootstrap::SimpleExecutorMemoryManager>());
        S.services().push_back(std::make_unique<rt_bootstrap::ExecutorSharedMemoryMapperService>());
        S.services().push_back(std::move(*Native));
        return Error::success();
      },
      InFD, OutFD, MaxFrame);
  if (!Server)
    return Server.takeError();
  return (*Server)->waitForDisconnect();
}

/// What may follow the first argument: max-frame=BYTES after either form; allow-remote (TCP)
/// and secret-file=PATH after listen=.
struct ExtraOptions {
  uint64_t MaxFrame = jitslab::CheckedFDTransport::DefaultMaxFrame;
  bool AllowRemote = false;
  std::string SecretFile;
};

Expected<ExtraOptions> parseExtraOptions(bool Listen, int Argc, char **Argv) {
  ExtraOptions O;
  for (int I = 2; I < Argc; ++I) {
    StringRef A = Argv[I];
    if (A.consume_front("max-frame=")) {
      // Decimal, or hex with 0x.
      if (A.getAsInteger(0, O.MaxFrame) || O.MaxFrame < jitslab::CheckedFDTransport::HeaderSize)
        return fail("max-frame wants a number of bytes of at least 32 (a frame's header), got '" +
                    A + "'");
    } else if (Listen && A == "allow-remote") {
      O.AllowRemote = true;
    } else if (Listen && A.consume_front("secret-file=") && !A.empty()) {
      O.SecretFile = A.str();
    } else {
      return fail(
          Twine("unexpected argument '") + Argv[I] + "': after " +
          (Listen ? "listen= only allow-remote, secret-file=PATH and" : "filedescs=IN,OUT only") +
          " max-frame=BYTES may follow\n" + Usage);
    }
  }
  if (Listen && O.SecretFile.empty())
    if (const char *Env = std::getenv(SecretFileVar); Env && *Env)
      O.SecretFile = Env;
  return O;
}

Error run(int Argc, char **Argv) {
  if (Argc < 2)
    return fail(Twine("expected an argument\n") + Usage);
  StringRef Arg = Argv[1];
  auto O = parseExtraOptions(Arg.starts_with("listen="), Argc, Argv);
  if (!O)
    return O.takeError();
  if (Arg.consume_front("filedescs=")) {
    // The process that started this one holds the other ends: no one else can talk to it.
    auto FDs = parseFDs(Arg);
    if (!FDs)
      return FDs.takeError();
    return serve(FDs->first, FDs->second, O->MaxFrame);
  }
  if (Arg.consume_front("listen=")) {
    // A secret file this process cannot use is refused now, not when a controller arrives.
    if (!O->SecretFile.empty() && jitslab_secret_file_check(O->SecretFile.c_str()) != JITSLAB_OK)
      return fail(jitslab_last_error());
    bool Unix = Arg.consume_front("unix:");
    if (Unix && O->AllowRemote)
      return fail("allow-remote is for TCP; a Unix-domain socket takes only this user's "
                  "connections");
    auto FD = Unix ? acceptOneUnix(Arg) : acceptOne(Arg, O->AllowRemote);
    if (!FD)
      return FD.takeError();
    if (!O->SecretFile.empty())
      if (Error E = authenticate(*FD, O->SecretFile))
        return E;
    return serve(*FD, *FD, O->MaxFrame);
  }
  return fail("unknown argument '" + Arg + "'\n" + Usage);
}

} // namespace

int main(int Argc, char **Argv) {
  if (Error E = run(Argc, Argv)) {
    errs() << "jitslab-executor: error: " << toString(std::move(E)) << "\n";
    return 1;
  }
  return 0;
}
