//===- main.cpp - jitslab-run: link objects and archives, run main ---------===//
//
//   jitslab-run [options] INPUT... [-- ARGS...]
//
// Links object files and static archives (searched lazily, like a linker: a member is linked
// only when it defines something still undefined) with ORC, into this process or into an
// executor process (--executor, --connect), runs main(argc, argv) and exits with its status.
// The memory manager is chosen by name so that jitslab and LLVM's own managers can be
// compared with everything else held equal.
//
// Two LLVM 19 behaviours shape the driver:
//  - ObjectLinkingLayer drops dependencies between objects, so "main is ready" does not mean
//    "its callees are". Every symbol of every linked object is looked up (to a fixpoint, as
//    archive members get pulled in) before any JIT'd code runs. LLVM 22 tracks those
//    dependencies (compat::LookupWaitsForDependencies): there the objects' own symbols are
//    looked up once and what archive members define is left to main's lookup.
//  - Materializing in place recurses once per dependent object and overflows the stack on
//    thousands of objects; work is dispatched to a thread pool instead.
//
//
// The tool's parts: Options (the command line), Session (the executor, errors), Linking
// (archives, waiting for definitions, testing aids), and this driver.
//
//===----------------------------------------------------------------------===//

#include "Executors.h"
#include "Linking.h"
#include "Managers.h"
#include "Options.h"
#include "ProcFS.h"
#include "Session.h"
#include "WarmTaskDispatcher.h"
#include "jitslab/EHFrameFix.h"
#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"

#include "llvm/BinaryFormat/Magic.h"
#include "llvm/ExecutionEngine/Orc/EPCDynamicLibrarySearchGenerator.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ObjectFileInterface.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/Orc/TaskDispatch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

using namespace llvm;
using namespace llvm::orc;
using namespace jitslab::run;

namespace {

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define JITSLAB_RUN_SANITIZED 1
#endif
#endif
/// Built with ASan or TSan: their end-of-run checks (LeakSanitizer's) run as exit handlers.
#ifdef JITSLAB_RUN_SANITIZED
constexpr bool Sanitized = true;
#else
constexpr bool Sanitized = false;
#endif

using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point T) {
  return std::chrono::duration<double, std::milli>(Clock::now() - T).count();
}

/// Starts the executor of the last `--executor=PATH` before "--" (as parseOptions reads it),
/// before the static constructors of LLVM's libraries run: the executor starts while they do
/// (startExecutorEarly). Runs from .preinit_array, so it scans argv with C calls only.
void startExecutorFromArgs(int Argc, char **Argv, char **Envp) {
  const char *Path = nullptr;
  for (int I = 1; I < Argc && std::strcmp(Argv[I], "--") != 0; ++I) {
    if (std::strcmp(Argv[I], "-L") == 0 || std::strcmp(Argv[I], "-l") == 0)
      ++I; // a separate value, never an option
    else if (std::strncmp(Argv[I], "--executor=", 11) == 0)
      Path = Argv[I] + 11;
  }
  jitslab::startExecutorEarly(Path, Envp);
}

[[gnu::section(".preinit_array"),
  gnu::used]] void (*StartExecutorEarly)(int, char **, char **) = startExecutorFromArgs;

} // namespace

int main(int Argc, char **Argv) {
  Options O = parseOptions(Argc, Argv);
  InitializeNativeTarget();
  auto T0 = Clock::now();

  // The manager, made by name inside the layer creator; `Slab` keeps jitslab's for --stats.
  jitslab::MemoryManager *Slab = nullptr;
  auto Recorder = std::make_shared<DefinitionRecorder>();
  const bool WithRuntime = !O.OrcRuntime.empty();

  std::unique_ptr<ExecutorProcessControl> EPC;
  std::shared_ptr<const jitslab::TransportCounts> Wire; // out of process: what crossed it
  // How long main waited for its executor: to the end of the ORC handshake. A child executor
  // was started before LLVM's static constructors ran (startExecutorFromArgs).
  double ExecutorStartMs = -1;
  bool ExecutorStartedEarly = false;
  if (O.outOfProcess()) {
    auto Conn = failOn(O.Executor.empty() ? jitslab::connectExecutor(O.Connect, O.SecretFile)
                                          : jitslab::spawnExecutor(O.Executor),
                       "starting the executor");
    ExecutorStartMs = msSince(T0);
    ExecutorPid = Conn.Pid;
    ExecutorStartedEarly = Conn.StartedEarly;
    // A lost executor ends this run at once, from the thread that learns of it (the
    // connection's reader, or one whose message could not be sent), before ORC hears of it:
    // LLJIT's teardown after a platform setup the loss cut short runs into links still in
    // flight and crashes (LLVM 22; seen in the kill trials, also when a failed write reached
    // ORC first), and nothing of the session needs tearing down.
    jitslab::setConnectionLostHandler(
        [](const std::string &Reason) { fail("lost the connection to the executor: " + Reason); });
    Wire = Conn.Counts;
    EPC = std::move(Conn.EPC);
  } else {
    auto MaterializationThreads = std::max(2u, std::thread::hardware_concurrency());
    EPC = failOn(jitslab::compat::createSelfEPC(
                     std::make_unique<jitslab::WarmTaskDispatcher>(MaterializationThreads)),
                 "creating the executor process control");
  }

  LLJITBuilder B;
  B.setExecutorProcessControl(std::move(EPC));
  B.setObjectLinkingLayerCreator(jitslab::compat::layerCreator(
      [&](ExecutionSession &ES) -> Expected<std::unique_ptr<ObjectLayer>> {
        // The first moment this program sees the session: from here on ORC's own error reports
        // (a lost executor, link errors, the ORC runtime's) are kept, not printed as they come.
        ES.setErrorReporter([](Error Err) { keepSessionError(toString(std::move(Err))); });
        auto MM = jitslab::createMemoryManagerByName(O.Memory, ES.getExecutorProcessControl(),
                                                     O.outOfProcess(), O.Jitslab, Slab);
        if (!MM)
          return MM.takeError();
        auto L = std::make_unique<ObjectLinkingLayer>(ES, std::move(*MM));
        // With the ORC runtime, ELFNixPlatform registers exception frames itself. Without it,
        // as allocation actions that every manager runs with the graph's finalize (and that
        // jitslab's native protocol batches), or, with --eh-frames=calls, by LLVM's plugin.
        if (!WithRuntime) {
          auto P = O.EHFrameCalls ? jitslab::compat::createEHFrameCallsPlugin(ES)
                                  : jitslab::compat::createEHFrameActionsPlugin(ES);
          if (!P)
            return P.takeError();
          L->addPlugin(std::move(*P));
        }
        L->addPlugin(std::make_shared<jitslab::ContiguousEHFramePlugin>());
        L->addPlugin(Recorder);
        if (O.TestKillExecutor)
          L->addPlugin(std::make_unique<ExecutorKiller>(ExecutorPid, O.TestKillExecutor));
        return L;
      }));
  if (WithRuntime)
    B.setPlatformSetUp(ExecutorNativePlatform(O.OrcRuntime));
  else
    B.setPlatformSetUp(setUpInactivePlatform);
  auto J = failOn(B.create(), "creating the JIT");
  ExecutionSession &ES = J->getExecutionSession();
  JITDylib &Main = J->getMainJITDylib();

  if (!WithRuntime && !O.outOfProcess()) {
    // Without the runtime, give JIT'd code the C library's atexit (glibc keeps it out of
    // libc.so) and this program's __dso_handle: handlers then run when this process exits,
    // which is fine because the JIT is never torn down (see the end of main).
    extern void *__dso_handle;
    failOn(J->getProcessSymbolsJITDylib()->define(absoluteSymbols(
        {{ES.intern("atexit"), {ExecutorAddr::fromPtr(&atexit), JITSymbolFlags::Exported}},
         {ES.intern("__dso_handle"),
          {ExecutorAddr::fromPtr(&__dso_handle), JITSymbolFlags::Exported}}})));
  }

  // Inputs: objects are added (their symbols become roots), archives become generators that
  // the main JITDylib consults in command-line order, shared libraries are loaded.
  SymbolNameSet Roots{ES.intern("main")};
  SymbolStringPtr GapProbe; // for --test-gap: a symbol of the first input
  for (size_t I = 0; I < O.Inputs.size(); ++I) {
    const std::string &Path = O.Inputs[I];
    auto Buf = MemoryBuffer::getFile(Path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
    if (!Buf)
      fail("cannot read '" + Path + "': " + Buf.getError().message());
    switch (identify_magic((*Buf)->getBuffer())) {
    case file_magic::elf_relocatable: {
      auto If = failOn(getObjectFileInterface(ES, (*Buf)->getMemBufferRef()), Path);
      for (auto &KV : If.SymbolFlags) {
        Roots.insert(KV.first);
        if (I == 0 && !GapProbe && KV.first != If.InitSymbol && *KV.first != "main")
          GapProbe = KV.first;
      }
      failOn(J->getObjLinkingLayer().add(Main, std::move(*Buf), std::move(If)), Path);
      break;
    }
    case file_magic::archive:
      Main.addGenerator(
          failOn(createArchiveGenerator(J->getObjLinkingLayer(), std::move(*Buf)), Path));
      break;
    case file_magic::elf_shared_object:
      Main.addGenerator(failOn(EPCDynamicLibrarySearchGenerator::Load(ES, Path.c_str()), Path));
      break;
    default:
      fail("'" + Path + "' is not an ELF object file, static archive or shared library");
    }
    if (I == 0 && O.TestGap) {
      if (!GapProbe)
        fail("--test-gap: the first input must be an object file that defines a symbol other "
             "than main");
      SymbolNameSet First = Roots;
      First.erase(ES.intern("main"));
      linkAll(ES, Main, First, *Recorder);
      auto Probe = failOn(ES.lookup({{&Main, JITDylibLookupFlags::MatchAllSymbols}}, GapProbe),
                          "--test-gap");
      fillAddressSpaceNear(Probe.getAddress().getValue(), O.TestGap);
    }
  }
  double LoadMs = msSince(T0);

  auto T1 = Clock::now();
  linkAll(ES, Main, Roots, *Recorder);
  if (WithRuntime)
    failOn(J->initialize(Main), "running static initializers");
  double LinkMs = msSince(T1);

  auto MainAddr = failOn(J->lookup(Main, "main"));
  std::vector<std::string> Args{O.Inputs.front()};
  Args.insert(Args.end(), O.Args.begin(), O.Args.end());
  auto T2 = Clock::now();
  int Status = failOn(ES.getExecutorProcessControl().runAsMain(MainAddr, Args), "running main");
  if (WithRuntime) {
    // C++ static destructors (__cxa_atexit) are registered against the main JITDylib,
    // atexit() handlers against the platform's; LLVM 19 runs neither by itself.
    failOn(J->deinitialize(Main), "running static destructors");
    JITDylib &Platform = *J->getPlatformJITDylib();
    failOn(J->initialize(Platform), "running atexit handlers");
    failOn(J->deinitialize(Platform), "running atexit handlers");
  }
  double RunMs = msSince(T2);
  std::fflush(stdout);

  auto [Mappings, PeakKiB, RssKiB, ShmemKiB] = jitslab::processFootprint();
  (void)RssKiB;
  (void)ShmemKiB;
  // The executor's figures, read before it is told to exit.
  jitslab::Footprint Exec = ExecutorPid > 0 ? jitslab::processFootprint(std::to_string(ExecutorPid))
                                            : jitslab::Footprint();
  std::optional<JitslabStats> SlabStats;
  if (Slab)
    SlabStats = failOn(Slab->stats(), "statistics");
  // What the slab costs the executor: resident pages of its mappings of the reservation, from
  // smaps (compared with linked_bytes).
  uint64_t SlabRssKiB = 0;
  if (SlabStats && ExecutorPid > 0)
    SlabRssKiB =
        jitslab::residentKiBIn(std::to_string(ExecutorPid), SlabStats->base, SlabStats->reserved);
  if (O.Times)
    errs() << format("jitslab-run: times: load %.1f ms, link %.1f ms, run %.1f ms\n", LoadMs,
                     LinkMs, RunMs)
           << "jitslab-run: process: " << Mappings << " mappings, peak RSS " << PeakKiB << " kB\n";
  if (O.Times && ExecutorStartMs >= 0)
    errs() << format("jitslab-run: executor started and connected in %.1f ms\n", ExecutorStartMs);
  if (O.Times && ExecutorPid > 0)
    errs() << "jitslab-run: executor: " << Exec.Mappings << " mappings, peak RSS " << Exec.PeakKiB
           << " kB, shared memory resident " << Exec.ShmemKiB << " kB\n";
  if (O.Times && Wire)
    errs() << "jitslab-run: connection: " << Wire->CallsToExecutor.load()
           << " calls to the executor, " << Wire->BytesSent.load() << " bytes sent, "
           << Wire->BytesReceived.load() << " bytes received\n";
  if (!O.Report.empty()) {
    std::error_code EC;
    raw_fd_ostream R(O.Report, EC);
    if (EC)
      fail("--report: cannot write '" + O.Report + "': " + EC.message());
    R << "memory=" << O.Memory << "\n"
      << format("load_ms=%.3f\nlink_ms=%.3f\nrun_ms=%.3f\n", LoadMs, LinkMs, RunMs)
      << "exit_status=" << Status << "\n"
      << "mappings=" << Mappings << "\n"
      << "peak_rss_kib=" << PeakKiB << "\n"
      << "linked_bytes=" << Recorder->linkedBytes() << "\n";
    if (ExecutorStartMs >= 0)
      R << format("executor_start_ms=%.3f\n", ExecutorStartMs);
    if (Wire)
      R << "rpc_calls=" << Wire->CallsToExecutor.load() << "\n"
        << "rpc_bytes_sent=" << Wire->BytesSent.load() << "\n"
        << "rpc_bytes_received=" << Wire->BytesReceived.load() << "\n";
    if (ExecutorPid > 0)
      R << "executor_started_early=" << (ExecutorStartedEarly ? 1 : 0) << "\n"
        << "executor_mappings=" << Exec.Mappings << "\n"
        << "executor_peak_rss_kib=" << Exec.PeakKiB << "\n"
        << "executor_shmem_kib=" << Exec.ShmemKiB << "\n";
    if (SlabStats && O.outOfProcess())
      R << "jitslab_rpc_calls=" << SlabStats->rpc_calls << "\n"
        << "jitslab_rpc_bytes_sent=" << SlabStats->rpc_bytes_sent << "\n"
        << "jitslab_rpc_bytes_received=" << SlabStats->rpc_bytes_received << "\n"
        << "jitslab_protocol="
        << (SlabStats->protocol == JITSLAB_PROTOCOL_NATIVE ? "native" : "stock") << "\n";
    if (SlabStats && ExecutorPid > 0)
      R << "executor_slab_rss_kib=" << SlabRssKiB << "\n";
  }
  if (O.Stats && Slab) {
    errs() << failOn(Slab->statsText(), "--stats") << "\n"
           << failOn(Slab->heapMap(), "--stats") << "\n";
  }
  errs().flush();
  if (ExecutorPid > 0) {
    // A child executor exits when told to hang up; one that does not within 5 s is killed.
    // (An executor reached with --connect just sees the connection close when this process
    // exits: LLVM 19's disconnect waits for ever on a socket the executor keeps open.)
    failOn(ES.getExecutorProcessControl().disconnect(), "disconnecting from the executor");
    // The program's output is the executor's to flush when it exits: an executor that does
    // not exit cleanly may have lost some of it, so that is an error too.
    pid_t Pid = ExecutorPid;
    int ExitStatus = 0;
    std::string Fate = jitslab::executorFate(ExecutorPid, 5000, &ExitStatus);
    if (Fate.empty()) {
      jitslab::reapExecutor(std::exchange(ExecutorPid, -1), 0);
      fail(formatv("the executor (pid {0}) did not exit within 5 s of being told to", Pid));
    }
    if (!WIFEXITED(ExitStatus) || WEXITSTATUS(ExitStatus) != 0)
      fail(Fate + " after main returned; the program's output may be incomplete");
  }
  // Out of process nothing here needs an exit handler: the JIT'd code and the handlers it
  // registered are the executor's, which has exited. Skipping the static destructors of LLVM's
  // libraries (_dl_fini) saves about 1 ms. Sanitizer builds exit normally: LeakSanitizer's
  // check runs as an exit handler.
  if (O.outOfProcess() && !Sanitized) {
    std::fflush(nullptr);
    outs().flush();
    errs().flush();
    _exit(Status);
  }
  // In process, exit as a process does, without tearing the JIT down: handlers that JIT'd
  // code gave to the C library's atexit still find their code mapped.
  std::exit(Status);
}
