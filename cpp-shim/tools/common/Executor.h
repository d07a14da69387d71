//===- Executor.h - start or attach to an out-of-process ORC executor -----===//
//
// Shared by jitslab-run and jitslab-bench: start an executor (Debian's llvm-jitlink-executor,
// or jitslab-executor) connected by two pipes, or attach to one listening on TCP, and build
// LLVM's own out-of-process memory managers for comparison.
//
// Starting an executor ignores SIGPIPE in this process (once): writing to the pipe of an
// executor that died must come back as an error, not kill the linker.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_TOOLS_EXECUTOR_H
#define JITSLAB_TOOLS_EXECUTOR_H

#include "jitslab/MemoryManager.h"

#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/SimpleRemoteEPC.h"
#include "llvm/Support/Error.h"

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <optional>
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
};

/// Starts `Path filedescs=R,W` with a pipe each way and connects to it. `S` chooses the EPC's
/// default memory manager (LLVM's EPCGenericJITLinkMemoryManager when left empty).
llvm::Expected<ExecutorConnection> spawnExecutor(const std::string &Path,
                                                 llvm::orc::SimpleRemoteEPC::Setup S = {});

/// Attaches to an executor listening on `HostPort` ("host:port", e.g. started with
/// `llvm-jitlink-executor listen=127.0.0.1:20000`).
llvm::Expected<ExecutorConnection> connectExecutor(const std::string &HostPort,
                                                   llvm::orc::SimpleRemoteEPC::Setup S = {});

/// Waits up to `TimeoutMs` for a child executor to exit, then kills it with SIGKILL and reaps
/// it. Returns the raw wait status, or -1 if `Pid` is not a child of this process.
int reapExecutor(pid_t Pid, unsigned TimeoutMs);

/// If child executor `Pid` has ended, or ends within `WaitMs` (a connection error can arrive a
/// moment before the dying process can be waited for), reaps it, sets `Pid` to -1 and says how
/// it ended: "the executor (pid N) was killed by signal 9", with the raw wait status in
/// `*Status` if given. Otherwise returns "".
std::string executorFate(pid_t &Pid, unsigned WaitMs, int *Status = nullptr);

/// A size given on a command line: a positive integer with an optional K, M or G suffix (any
/// case), e.g. 4096, 64K, 512M, 1G. None if it is not one or does not fit 64 bits.
std::optional<uint64_t> parseSize(llvm::StringRef S);

/// What a process holds, from /proc (zeros for a process that is gone).
struct Footprint {
  unsigned Mappings = 0;
  uint64_t PeakKiB = 0;  // VmHWM
  uint64_t RssKiB = 0;   // VmRSS
  uint64_t ShmemKiB = 0; // RssShmem: resident shared memory (an executor's JIT memory, with the
                         // shared-memory managers)
};

/// The footprint of process `Pid` ("self" for this one).
Footprint processFootprint(const std::string &Pid = "self");

/// Resident KiB of process `Pid`'s mappings that overlap [Base, Base + Size), from
/// /proc/PID/smaps (whole mappings are counted: pass the bounds of a reservation). 0 if the
/// process is gone.
uint64_t residentKiBIn(const std::string &Pid, uint64_t Base, uint64_t Size);

/// LLVM's MapperJITLinkMemoryManager over a SharedMemoryMapper (llvm-jitlink
/// -use-shared-memory), with `SlabSize` bytes reserved per slab. One addition: each new slab
/// is made readable in the executor by one extra call, without which LLVM 19's ORC runtime
/// crashes the stock executor (see ReadableSharedMemoryMapper in Executor.cpp).
llvm::Expected<std::unique_ptr<llvm::jitlink::JITLinkMemoryManager>>
createLLVMSharedMemoryManager(llvm::orc::ExecutorProcessControl &EPC, uint64_t SlabSize);

/// The memory manager that jitslab-run's and jitslab-repl's --memory=NAME names: "jitslab" (in
/// this process, or in the executor's shared memory when `OutOfProcess`; `Slab` is then set to
/// it), "llvm-inprocess", "llvm-mapper" (1 GiB slabs), "llvm-epc" or "llvm-shm" (1 GiB slabs).
/// The caller has checked that the name fits `OutOfProcess`.
llvm::Expected<std::unique_ptr<llvm::jitlink::JITLinkMemoryManager>>
createMemoryManagerByName(const std::string &Name, llvm::orc::ExecutorProcessControl &EPC,
                          bool OutOfProcess, const Config &C, MemoryManager *&Slab);

/// LLVM's EPCGenericJITLinkMemoryManager (the default out of process: bytes copied over the
/// connection at finalize).
llvm::Expected<std::unique_ptr<llvm::jitlink::JITLinkMemoryManager>>
createLLVMEPCManager(llvm::orc::ExecutorProcessControl &EPC);

} // namespace jitslab

#endif
