//===- InProcess.cpp - the workloads a jitslab-bench child runs ------------===//
//
//   jitslab-bench --child=churn --memory=ID [--executor=PATH] --report=FILE --objects=DIR
//                 --units=U --rounds=R --live=L
//   jitslab-bench --child=alloc --memory=ID --report=FILE --threads=T --cycles=N
//
// Each child process makes one memory manager (ID: llvm-inprocess, llvm-mapper,
// jitslab-dual, jitslab-single; for churn also, with --executor, the out-of-process
// llvm-epc, llvm-shm, jitslab-stock and jitslab-native), runs one workload with it and
// writes its figures to FILE as key=value lines; the parent (Runner.cpp) checks its stdout and exit status.
//
// churn: an ExecutionSession (in this process, or connected to an executor it starts) with an
// ObjectLinkingLayer on the manager (and the EH-frame registration LLJIT's default layer
// has). Link k links churn_<k>.o under a new ResourceTracker, looks up and calls churn_<k>_run
// (in the executor: runAsIntFunction) and keeps the tracker; once L trackers are live, each
// link also removes the oldest. U*R links, then every tracker is removed. The first U results
// are printed (the native build prints the same); every later copy of a unit must return its
// unit's first result. Figures: time per link (link + call + remove), and the RSS and
// mappings still held once everything is removed, over a baseline taken before the first
// link (both after malloc_trim, so freed heap does not count). Out of process also the
// executor's: RSS, resident shared memory and mappings held, the most extra mappings, and the
// calls and bytes sent to it per link (counted at the transport).
//
// alloc: T threads share the manager; each does N/T cycles of SimpleSegmentAlloc::Create of
// three segments (code, read-only, read-write) of mixed sizes, a stamp in each, finalize, a
// check of the stamps at the executor addresses, and keeps 64 allocations live, deallocating
// the oldest. Create, finalize and deallocate are the asynchronous forms JITLink uses. A
// warm-up of 1000 cycles per thread fills the live set first (also with N = 0, which is the
// system-call baseline). Figure: wall time per cycle of all threads.
//
// Errors end the child with `jitslab-bench: error: ...` on stderr and status 1.
//
//===----------------------------------------------------------------------===//

#include "Bench.h"
#include "Executors.h"
#include "Managers.h"

#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ExecutionEngine/JITLink/EHFrameSupport.h"
#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/Core.h"
#include "llvm/ExecutionEngine/Orc/EPCDynamicLibrarySearchGenerator.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/ExecutorProcessControl.h"
#include "llvm/ExecutionEngine/Orc/MapperJITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/MemoryMapper.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <deque>
#include <fstream>
#include <optional>
#include <thread>

using namespace llvm;
using namespace llvm::orc;
using llvm::jitlink::JITLinkMemoryManager;

namespace jitslab::bench {
namespace {

template <typename T> T orFail(Expected<T> V, const Twine &What) {
  if (!V)
    fail(What + ": " + toString(V.takeError()));
  return std::move(*V);
}

void orFail(Error E, const Twine &What) {
  if (E)
    fail(What + ": " + toString(std::move(E)));
}

/// The settings whose manager lives in an executor process (the child needs --executor).
bool outOfProcess(StringRef Id) {
  return Id == "llvm-epc" || Id == "llvm-shm" || Id == "jitslab-stock" || Id == "jitslab-native";
}

/// The manager of setting `Id`; out of process, `EPC` is the executor's (null in process).
Expected<std::unique_ptr<JITLinkMemoryManager>> createManager(StringRef Id,
                                                              ExecutorProcessControl *EPC) {
  if (outOfProcess(Id) && !EPC)
    return makeErr(Id + " needs an executor");
  if (Id == "llvm-epc")
    return createLLVMEPCManager(*EPC);
  if (Id == "llvm-shm") // as jitslab-run: 1 GiB slabs
    return createLLVMSharedMemoryManager(*EPC, 1ULL << 30);
  if (Id == "jitslab-stock" || Id == "jitslab-native") {
    auto M = jitslab::MemoryManager::Create(
        *EPC, jitslab::Config().setProtocol(Id == "jitslab-native" ? jitslab::Protocol::Native
                                                                   : jitslab::Protocol::Stock));
    if (!M)
      return M.takeError();
    return std::unique_ptr<JITLinkMemoryManager>(std::move(*M));
  }
  if (Id == "llvm-inprocess") {
    auto M = jitlink::InProcessMemoryManager::Create();
    if (!M)
      return M.takeError();
    return std::unique_ptr<JITLinkMemoryManager>(std::move(*M));
  }
  if (Id == "llvm-mapper") { // as jitslab-run and llvm-jitlink: 1 GiB slabs
    auto M = MapperJITLinkMemoryManager::CreateWithMapper<InProcessMemoryMapper>(1ULL << 30);
    if (!M)
      return M.takeError();
    return std::unique_ptr<JITLinkMemoryManager>(std::move(*M));
  }
  auto M = jitslab::MemoryManager::Create(jitslab::Config().setMapper(
      Id == "jitslab-single" ? jitslab::Mapper::SingleView : jitslab::Mapper::DualView));
  if (!M)
    return M.takeError();
  return std::unique_ptr<JITLinkMemoryManager>(std::move(*M));
}

/// The number of memory mappings of process `Pid` ("self": this one).
double mappings(const std::string &Pid = "self") {
  std::ifstream Maps("/proc/" + Pid + "/maps");
  double N = 0;
  for (std::string L; std::getline(Maps, L);)
    ++N;
  return N;
}

/// A field of /proc/PID/status in KiB ("VmRSS", "VmHWM", "RssShmem"; "self": this process).
double statusKiB(StringRef Field, const std::string &Pid = "self") {
  std::ifstream Status("/proc/" + Pid + "/status");
  for (std::string L; std::getline(Status, L);)
    if (StringRef R = L; R.consume_front(Field) && R.consume_front(":")) {
      uint64_t V = 0;
      R.trim().consumeInteger(10, V);
      return static_cast<double>(V);
    }
  return 0;
}

/// The resident KiB of this process's anonymous and memfd mappings, leaving out the malloc
/// heap, the stack and the kernel's pages: the memory a JIT memory manager maps, plus any
/// large malloc blocks (mmapped while live, so none are held once freed). File-backed pages,
/// such as LLVM's own code faulted in while linking, do not count.
double anonymousKiB() {
  std::ifstream Smaps("/proc/self/smaps");
  double KiB = 0;
  bool Counted = false;
  for (std::string L; std::getline(Smaps, L);) {
    StringRef Line(L);
    auto [Start, End] = Line.split(' ').first.split('-');
    auto Hex = [](StringRef X) { return !X.empty() && all_of(X, isHexDigit); };
    if (Hex(Start) && Hex(End)) {
      // A mapping: "start-end perms offset dev inode [path]"; the path is the sixth field.
      StringRef Path = Line;
      for (int Field = 0; Field < 5; ++Field)
        Path = Path.ltrim().split(' ').second;
      Path = Path.trim();
      Counted = Path.empty() || Path.starts_with("/memfd:") || Path.starts_with("[anon");
      continue;
    }
    if (Counted && Line.consume_front("Rss:")) {
      uint64_t V = 0;
      Line.trim().consumeInteger(10, V);
      KiB += static_cast<double>(V);
    }
  }
  return KiB;
}

using Clock = std::chrono::steady_clock;

/// Options after --child=...: --name=value, each given once.
struct ChildOptions {
  std::map<std::string, std::string> V;
  std::string get(StringRef Name) const {
    auto It = V.find(Name.str());
    if (It == V.end())
      fail("--child: --" + Name + "= is required");
    return It->second;
  }
  bool has(StringRef Name) const { return V.count(Name.str()) != 0; }
  uint64_t num(StringRef Name) const {
    uint64_t N;
    if (StringRef(get(Name)).getAsInteger(10, N))
      fail("--child: --" + Name + "=" + get(Name) + " is not a number");
    return N;
  }
};

void writeReport(const std::string &Path, const Figures &F) {
  std::error_code EC;
  raw_fd_ostream R(Path, EC);
  if (EC)
    fail("--report: cannot write '" + Path + "': " + EC.message());
  for (auto &[K, V] : F)
    R << K << "=" << formatv("{0:f3}", V) << "\n";
}

// --- churn --------------------------------------------------------------------------------

int churn(const ChildOptions &O) {
  const uint64_t Units = O.num("units"), Rounds = O.num("rounds"), Live = O.num("live");
  if (Units == 0 || Live == 0 || Live >= Units)
    fail("churn: need 0 < --live < --units (a unit is linked again only once removed)");
  // Objects are read once; each link gets a view of the bytes.
  std::vector<std::unique_ptr<MemoryBuffer>> Objects;
  for (uint64_t K = 0; K < Units; ++K) {
    SmallString<256> P(O.get("objects"));
    sys::path::append(P, "churn_" + Twine(K) + ".o");
    auto B = MemoryBuffer::getFile(P, /*IsText=*/false, /*RequiresNullTerminator=*/false);
    if (!B)
      fail("cannot read '" + P + "': " + B.getError().message());
    Objects.push_back(std::move(*B));
  }
  // Out of process, the session talks to an executor started here; its pid gives its figures.
  const bool Remote = O.has("executor");
  pid_t ExecPid = -1;
  std::shared_ptr<const TransportCounts> Wire;
  std::unique_ptr<ExecutorProcessControl> EPC;
  if (Remote) {
    auto Conn = orFail(spawnExecutor(O.get("executor")), "starting the executor");
    ExecPid = Conn.Pid;
    Wire = Conn.Counts;
    EPC = std::move(Conn.EPC);
  } else {
    EPC = orFail(jitslab::compat::createSelfEPC(), "creating the session");
  }
  ExecutionSession ES(std::move(EPC));
  auto &Control = ES.getExecutorProcessControl();
  auto MM =
      orFail(createManager(O.get("memory"), Remote ? &Control : nullptr), "creating the manager");
  std::string SessionError;
  ES.setErrorReporter([&](Error E) {
    if (SessionError.empty())
      SessionError = toString(std::move(E));
    else
      consumeError(std::move(E));
  });
  Figures F;
  {
    ObjectLinkingLayer Layer(ES, std::move(MM));
    // LLVM's own registration of each major, as LLJIT's default layer has it: a call per graph
    // on 19, allocation actions on 22.
    Layer.addPlugin(orFail(jitslab::compat::LLVMRegistersEHFramesByActions
                               ? jitslab::compat::createEHFrameActionsPlugin(ES)
                               : jitslab::compat::createEHFrameCallsPlugin(ES),
                           "EH-frame registration"));
    JITDylib &JD = ES.createBareJITDylib("churn");
    if (Remote)
      JD.addGenerator(orFail(EPCDynamicLibrarySearchGenerator::GetForTargetProcess(ES),
                             "the executor's symbols"));
    else
      JD.addGenerator(
          orFail(DynamicLibrarySearchGenerator::GetForCurrentProcess('\0'), "process symbols"));

    // What the executor holds and what crossed the connection, out of process.
    struct ExecutorFigures {
      double Maps = 0, Rss = 0, Shmem = 0, Calls = 0, BytesSent = 0;
    };
    const std::string Proc = std::to_string(ExecPid); // under /proc
    auto ExecutorNow = [&] {
      ExecutorFigures X;
      if (Remote)
        X = {mappings(Proc), statusKiB("VmRSS", Proc), statusKiB("RssShmem", Proc),
             static_cast<double>(Wire->CallsToExecutor.load()),
             static_cast<double>(Wire->BytesSent.load())};
      return X;
    };

    malloc_trim(0);
    const double Maps0 = mappings(), Rss0 = statusKiB("VmRSS"), Anon0 = anonymousKiB();
    const ExecutorFigures Exec0 = ExecutorNow();
    double MaxMaps = Maps0, MaxExecMaps = Exec0.Maps;
    std::vector<uint32_t> First(Units);
    std::deque<ResourceTrackerSP> Trackers;
    Clock::duration Busy{};
    auto Started = Clock::now();
    for (uint64_t Step = 0; Step < Units * Rounds; ++Step) {
      const uint64_t K = Step % Units;
      auto RT = JD.createResourceTracker();
      orFail(Layer.add(RT, MemoryBuffer::getMemBuffer(Objects[K]->getMemBufferRef(), false)),
             "adding churn_" + Twine(K) + ".o");
      std::string Name = "churn_" + std::to_string(K) + "_run";
      auto Sym = ES.lookup({&JD}, ES.intern(Name));
      if (!Sym)
        fail("linking churn_" + Twine(K) +
             ".o: " + (SessionError.empty() ? toString(Sym.takeError()) : SessionError));
      const int Seed = static_cast<int>(K);
      const uint32_t Result = static_cast<uint32_t>(
          Remote ? orFail(Control.runAsIntFunction(Sym->getAddress(), Seed), "calling " + Name)
                 : Sym->getAddress().toPtr<int (*)(int)>()(Seed));
      if (Step < Units) {
        First[K] = Result;
        std::printf("unit %" PRIu64 ": %08" PRIx32 "\n", K, Result);
      } else if (Result != First[K]) {
        fail(formatv("churn: unit {0} returned {1:x8} at link {2}, {3:x8} at its first "
                     "link (its data was not fresh)",
                     K, Result, Step, First[K]));
      }
      Trackers.push_back(std::move(RT));
      if (Trackers.size() > Live) {
        orFail(Trackers.front()->remove(), "removing a tracker");
        Trackers.pop_front();
      }
      if (K + 1 == Units) { // once per round, untimed: the most mappings seen
        Busy += Clock::now() - Started;
        MaxMaps = std::max(MaxMaps, mappings());
        MaxExecMaps = std::max(MaxExecMaps, ExecutorNow().Maps);
        Started = Clock::now();
      }
    }
    while (!Trackers.empty()) {
      orFail(Trackers.front()->remove(), "removing a tracker");
      Trackers.pop_front();
    }
    Busy += Clock::now() - Started;
    std::fflush(stdout);
    malloc_trim(0);
    const double Links = static_cast<double>(Units * Rounds);
    const double Ms = std::chrono::duration<double, std::milli>(Busy).count();
    F["churn_ms"] = Ms;
    F["links"] = Links;
    F["per_link_us"] = Links ? Ms * 1000 / Links : 0;
    F["held_kib"] = statusKiB("VmRSS") - Rss0;
    F["held_anon_kib"] = anonymousKiB() - Anon0;
    F["held_mappings"] = mappings() - Maps0;
    F["max_extra_mappings"] = MaxMaps - Maps0;
    F["peak_rss_kib"] = statusKiB("VmHWM");
    if (Remote) {
      const ExecutorFigures End = ExecutorNow();
      F["executor_held_kib"] = End.Rss - Exec0.Rss;
      F["executor_held_shmem_kib"] = End.Shmem - Exec0.Shmem;
      F["executor_held_mappings"] = End.Maps - Exec0.Maps;
      F["executor_max_extra_mappings"] = MaxExecMaps - Exec0.Maps;
      F["rpc_per_link"] = Links ? (End.Calls - Exec0.Calls) / Links : 0;
      F["rpc_bytes_sent_per_link"] = Links ? (End.BytesSent - Exec0.BytesSent) / Links : 0;
    }
    orFail(ES.endSession(), "ending the session");
  }
  if (Remote)
    reapExecutor(ExecPid, 5000);
  writeReport(O.get("report"), F);
  return 0;
}

// --- the allocator cycle ------------------------------------------------------------------

const MemProt RX = MemProt::Read | MemProt::Exec, RO = MemProt::Read,
              RW = MemProt::Read | MemProt::Write;
constexpr size_t LiveAllocs = 64;

/// Makes the asynchronous call `Start(Continuation)` and returns what the continuation got.
/// JITLink drives memory managers through these asynchronous forms; the in-process managers
/// call the continuation before returning. (LLVM's synchronous wrappers would add a
/// std::promise round trip, a futex call or more, to each step of every manager's cycle.)
template <typename T, typename StartFn> Expected<T> completed(StartFn Start) {
  std::optional<Expected<T>> Result;
  Start([&](Expected<T> V) { Result.emplace(std::move(V)); });
  if (!Result)
    return makeErr("the manager did not complete an in-process call before returning");
  return std::move(*Result);
}

Error completedError(unique_function<void(unique_function<void(Error)>)> Start) {
  std::optional<Error> Result;
  Start([&](Error E) { Result.emplace(std::move(E)); });
  if (!Result)
    return makeErr("the manager did not complete an in-process call before returning");
  return std::move(*Result);
}

/// One thread's cycles on a shared manager.
class Cycler {
public:
  Cycler(JITLinkMemoryManager &MM, uint64_t Seed) : MM(MM), I(Seed) {}

  Error run(uint64_t N) {
    using jitlink::SimpleSegmentAlloc;
    for (uint64_t C = 0; C < N; ++C, ++I) {
      const size_t Size[3] = {64 + (I * 37) % 2000, 16 + (I * 13) % 300, 8 + (I * 7) % 200};
      auto A = completed<SimpleSegmentAlloc>([&](auto OnCreated) {
        jitslab::compat::createSegmentAlloc(
            MM, {{RX, {Size[0], Align(16)}}, {RO, {Size[1], Align(8)}}, {RW, {Size[2], Align(8)}}},
            std::move(OnCreated));
      });
      if (!A)
        return A.takeError();
      const char Stamp = static_cast<char>(I | 1);
      for (MemProt P : {RX, RO, RW})
        A->getSegInfo(P).WorkingMem.front() = Stamp;
      auto FA = completed<JITLinkMemoryManager::FinalizedAlloc>(
          [&](auto OnFinalized) { A->finalize(std::move(OnFinalized)); });
      if (!FA)
        return FA.takeError();
      for (MemProt P : {RX, RO, RW})
        if (*A->getSegInfo(P).Addr.toPtr<const char *>() != Stamp)
          return makeErr(formatv("cycle {0}: a finalized segment does not hold the bytes "
                                 "written to its working memory",
                                 I));
      Live.push_back(std::move(*FA));
      if (Live.size() > LiveAllocs) {
        if (Error E = completedError([&](auto OnDeallocated) {
              MM.deallocate(std::move(Live.front()), std::move(OnDeallocated));
            }))
          return E;
        Live.pop_front();
      }
    }
    return Error::success();
  }

  Error drain() {
    std::vector<JITLinkMemoryManager::FinalizedAlloc> All;
    for (auto &FA : Live)
      All.push_back(std::move(FA));
    Live.clear();
    return MM.deallocate(std::move(All));
  }

private:
  JITLinkMemoryManager &MM;
  uint64_t I;
  std::deque<JITLinkMemoryManager::FinalizedAlloc> Live;
};

int allocCycle(const ChildOptions &O) {
  const uint64_t Threads = O.num("threads"), Cycles = O.num("cycles");
  if (Threads == 0 || Threads > 64)
    fail("alloc: --threads must be 1 to 64");
  auto MM = orFail(createManager(O.get("memory"), nullptr), "creating the manager");
  std::vector<std::unique_ptr<Cycler>> Cyclers;
  for (uint64_t T = 0; T < Threads; ++T)
    Cyclers.push_back(std::make_unique<Cycler>(*MM, T * 7919));
  for (auto &C : Cyclers)
    orFail(C->run(1000), "warm-up");

  std::vector<std::string> Errors(Threads);
  std::atomic<uint64_t> Ready{0};
  std::atomic<bool> Go{false};
  std::vector<std::thread> Workers;
  for (uint64_t T = 0; T < Threads; ++T)
    Workers.emplace_back([&, T] {
      ++Ready;
      while (!Go.load(std::memory_order_acquire))
        std::this_thread::yield();
      if (Error E = Cyclers[T]->run(Cycles / Threads + (T < Cycles % Threads)))
        Errors[T] = toString(std::move(E));
    });
  while (Ready.load() < Threads)
    std::this_thread::yield();
  auto T0 = Clock::now();
  Go.store(true, std::memory_order_release);
  for (auto &W : Workers)
    W.join();
  const double Ns = std::chrono::duration<double, std::nano>(Clock::now() - T0).count();
  for (auto &E : Errors)
    if (!E.empty())
      fail("alloc cycle: " + E);
  for (auto &C : Cyclers)
    orFail(C->drain(), "deallocating");
  Figures F;
  F["cycles"] = static_cast<double>(Cycles);
  F["threads"] = static_cast<double>(Threads);
  F["ns_per_cycle"] = Cycles ? Ns / static_cast<double>(Cycles) : 0;
  F["mappings"] = mappings();
  F["peak_rss_kib"] = statusKiB("VmHWM");
  writeReport(O.get("report"), F);
  return 0;
}

} // namespace

bool childKnowsManager(Kind K, StringRef Id) {
  const bool InProcess = Id == "llvm-inprocess" || Id == "llvm-mapper" || Id == "jitslab-dual" ||
                         Id == "jitslab-single";
  return InProcess || (K == Kind::Churn && outOfProcess(Id));
}

int childMain(ArrayRef<std::string> Args) {
  ChildOptions O;
  for (StringRef A : Args) {
    if (!A.consume_front("--") || !A.contains('='))
      fail("--child: unexpected argument '" + A + "'");
    auto [K, V] = A.split('=');
    O.V[K.str()] = V.str();
  }
  const std::string Child = O.get("child"), Id = O.get("memory");
  if (Child != "churn" && Child != "alloc")
    fail("--child=" + Child + ": expected churn or alloc");
  const Kind K = Child == "churn" ? Kind::Churn : Kind::Alloc;
  if (!childKnowsManager(K, Id))
    fail("--child=" + Child + ": --memory=" + Id +
         ": expected llvm-inprocess, llvm-mapper, jitslab-dual or jitslab-single" +
         (K == Kind::Churn
              ? ", or with --executor llvm-epc, llvm-shm, jitslab-stock or jitslab-native"
              : ""));
  if (outOfProcess(Id) != O.has("executor"))
    fail("--child: --memory=" + Id + (outOfProcess(Id) ? " needs" : " takes no") + " --executor");
  InitializeNativeTarget();
  return K == Kind::Churn ? churn(O) : allocCycle(O);
}

} // namespace jitslab::bench
