//===- Executors.h - start or attach to an out-of-process ORC executor ----===//
//
// Part of the tools' support library (jitslab-run, jitslab-repl, jitslab-bench, the tests):
// start an executor (Debian's llvm-jitlink-executor, or jitslab-executor) connected by two
// pipes, or attach to one listening on TCP or a Unix-domain socket (authenticating with a
// shared secret when given one), count what crosses the connection, and say how a
// child executor ended.
//
// Starting an executor ignores SIGPIPE in this process (once): writing to the pipe of an
// executor that died must come back as an error, not kill the linker.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_TOOLS_EXECUTORS_H
#define JITSLAB_TOOLS_EXECUTORS_H

#include "llvm/ExecutionEngine/Orc/SimpleRemoteEPC.h"
#include "llvm/Support/Error.h"

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace jitslab {

/// What crossed the connection, counted at the transport for every memory manager alike:
/// wrapper calls the linker made to the executor (memory managers, eh-frame registration,
/// symbol lookups, running main...) and bytes each way, framing included.
struct TransportCounts {
  std::atomic<uint64_t> CallsToExecutor{0};
  std::atomic<uint64_t> BytesSent{0};
  std::atomic<uint64_t> BytesReceived{0};
};

/// A connected executor. `Pid` is the child's pid when this program started it, -1 when it
/// attached over TCP. `Counts` lives as long as the EPC.
struct ExecutorConnection {
  std::unique_ptr<llvm::orc::SimpleRemoteEPC> EPC;
  pid_t Pid = -1;
  std::shared_ptr<const TransportCounts> Counts;
  /// The child was started by startExecutorEarly.
  bool StartedEarly = false;
};

/// Starts `Path filedescs=R,W` with a pipe each way and connects to it. `S` chooses the EPC's
/// default memory manager (LLVM's EPCGenericJITLinkMemoryManager when left empty). An executor
/// that startExecutorEarly started for the same path is taken instead of a new one.
llvm::Expected<ExecutorConnection> spawnExecutor(const std::string &Path,
                                                 llvm::orc::SimpleRemoteEPC::Setup S = {});

/// Starts the executor at `Path` now, for a later spawnExecutor(Path) to connect to: it starts
/// while this program does other work (the ORC handshake waits for it, about 1 ms, more on a
/// busy machine). Only C library calls and nothing allocated, so a tool may call it from a
/// `.preinit_array` function, before the static constructors of LLVM's libraries run (about
/// 4 ms of a start). Does nothing if `Path` is not executable or it was called already; a
/// failure to start is left for spawnExecutor to report. `Path` must live as long as the
/// program (an `argv` element does). `Envp` is the executor's environment: `environ` from
/// `main` on; a `.preinit_array` function must pass the `envp` it is given, since the C
/// library sets `environ` only after those functions ran.
void startExecutorEarly(const char *Path, char *const *Envp);

/// Stops and reaps the executor startExecutorEarly started, if spawnExecutor has not taken it:
/// a tool calls it before it exits without having connected (a bad option, --help), so the
/// executor neither outlives it nor reports the closed connection after the tool's own error.
void discardEarlyExecutor();

/// Attaches to an executor listening at `Where`: "host:port" on TCP (e.g. started with
/// `llvm-jitlink-executor listen=127.0.0.1:20000`) or "unix:PATH" (`jitslab-executor
/// listen=unix:PATH`). With a `SecretFile`, proves to the executor that this process holds
/// the secret, and has it prove the same, before the ORC handshake (jitslab_authenticate).
llvm::Expected<ExecutorConnection> connectExecutor(const std::string &Where,
                                                   const std::string &SecretFile = "",
                                                   llvm::orc::SimpleRemoteEPC::Setup S = {});

/// The secret file named by JITSLAB_EXECUTOR_SECRET_FILE, or "".
std::string defaultSecretFile();

/// Sets what happens when a connection made here ends without this process having asked for
/// it (disconnect): the executor died or closed it, or sent a frame the checked transport
/// refused. `Handler` gets the reason, on whichever thread learns of it first (the
/// connection's reading thread, or one whose message could not be sent), before ORC does; it
/// may be called more than once, from several threads. A tool that cannot tear its ORC
/// session down while links are in flight (LLJIT's destructor after a failed setup runs into
/// them, and crashes) ends the process from there, so that no error of the connection reaches
/// ORC at all. Without a handler, ORC alone is told, as with LLVM's own transport.
void setConnectionLostHandler(std::function<void(const std::string &Reason)> Handler);

/// Waits up to `TimeoutMs` for a child executor to exit, then kills it with SIGKILL and reaps
/// it. Returns the raw wait status, or -1 if `Pid` is not a child of this process.
int reapExecutor(pid_t Pid, unsigned TimeoutMs);

/// If child executor `Pid` has ended, or ends within `WaitMs` (a connection error can arrive a
/// moment before the dying process can be waited for), reaps it, sets `Pid` to -1 and says how
/// it ended: "the executor (pid N) was killed by signal 9", with the raw wait status in
/// `*Status` if given. Otherwise returns "".
std::string executorFate(pid_t &Pid, unsigned WaitMs, int *Status = nullptr);

} // namespace jitslab

#endif
