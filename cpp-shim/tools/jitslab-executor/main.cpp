//===- main.cpp - jitslab-executor: an ORC executor with jitslab's native service ===//
//
// An out-of-process executor for ORC, started the way llvm-jitlink and jitslab-run start
// Debian's llvm-jitlink-executor:
//
//   jitslab-executor filedescs=IN,OUT     talk over two inherited descriptors
//   jitslab-executor listen=HOST:PORT     accept one TCP connection on PORT (any address, as
//                                         llvm-jitlink-executor does), then talk over it
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
// It links LLVM's static libraries (only the target-process side) and libjitslab.a, so it
// starts as fast as llvm-jitlink-executor and is about as small in memory (docs/design.md).
//
//===----------------------------------------------------------------------===//

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
#include <unistd.h>

#include <cerrno>
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

const char *Usage = "usage: jitslab-executor filedescs=<in-fd>,<out-fd> | listen=<host>:<port>";

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

/// Listens on PORT of every local IPv4 address and accepts one connection.
Expected<int> acceptOne(StringRef Spec) {
  auto [Host, Port] = Spec.rsplit(':');
  if (Port.empty())
    return fail("listen wants HOST:PORT, got '" + Spec + "'");
  addrinfo Hints{};
  Hints.ai_family = AF_INET;
  Hints.ai_socktype = SOCK_STREAM;
  Hints.ai_flags = AI_PASSIVE;
  addrinfo *AI = nullptr;
  std::string PortStr = Port.str();
  if (int RC = getaddrinfo(nullptr, PortStr.c_str(), &Hints, &AI))
    return fail("listen: cannot resolve port " + PortStr + ": " + gai_strerror(RC));
  int Sock = socket(AI->ai_family, AI->ai_socktype | SOCK_CLOEXEC, AI->ai_protocol);
  int Yes = 1;
  bool Ok = Sock >= 0 && setsockopt(Sock, SOL_SOCKET, SO_REUSEADDR, &Yes, sizeof(Yes)) == 0 &&
            bind(Sock, AI->ai_addr, AI->ai_addrlen) == 0 && listen(Sock, 1) == 0;
  std::string Why = std::strerror(errno);
  freeaddrinfo(AI);
  if (!Ok) {
    if (Sock >= 0)
      close(Sock);
    return fail("listen on port " + PortStr + ": " + Why);
  }
  int Conn;
  while ((Conn = accept4(Sock, nullptr, nullptr, SOCK_CLOEXEC)) < 0 && errno == EINTR) {
  }
  Why = std::strerror(errno);
  close(Sock);
  if (Conn < 0)
    return fail("accept on port " + PortStr + ": " + Why);
  // Small request-reply messages: do not let Nagle's algorithm hold replies back.
  setsockopt(Conn, IPPROTO_TCP, TCP_NODELAY, &Yes, sizeof(Yes));
  return Conn;
}

Error serve(int InFD, int OutFD) {
  auto Native = JitslabNativeService::Create();
  if (!Native)
    return Native.takeError();
  auto Server = SimpleRemoteEPCServer::Create<FDSimpleRemoteEPCTransport>(
      [&](SimpleRemoteEPCServer::Setup &S) -> Error {
        S.setDispatcher(std::make_unique<SimpleRemoteEPCServer::ThreadDispatcher>());
        S.bootstrapSymbols() = SimpleRemoteEPCServer::defaultBootstrapSymbols();
        S.services().push_back(std::make_unique<rt_bootstrap::SimpleExecutorMemoryManager>());
        S.services().push_back(
            std::make_unique<rt_bootstrap::ExecutorSharedMemoryMapperService>());
        S.services().push_back(std::move(*Native));
        return Error::success();
      },
      InFD, OutFD);
  if (!Server)
    return Server.takeError();
  return (*Server)->waitForDisconnect();
}

Error run(int Argc, char **Argv) {
  if (Argc != 2)
    return fail(Twine("expected one argument\n") + Usage);
  StringRef Arg = Argv[1];
  if (Arg.consume_front("filedescs=")) {
    auto FDs = parseFDs(Arg);
    if (!FDs)
      return FDs.takeError();
    return serve(FDs->first, FDs->second);
  }
  if (Arg.consume_front("listen=")) {
    auto FD = acceptOne(Arg);
    if (!FD)
      return FD.takeError();
    return serve(*FD, *FD);
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
