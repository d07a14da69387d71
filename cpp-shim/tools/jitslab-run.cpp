//===- jitslab-run.cpp - link objects and archives, run main ---------------===//
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
//===----------------------------------------------------------------------===//

#include "Executors.h"
#include "Managers.h"
#include "ProcFS.h"
#include "Sizes.h"
#include "jitslab/PassPlugin.h"
#include "jitslab/EHFrameFix.h"
#include "jitslab/OrcCompat.h"
#include "jitslab/MemoryManager.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/BinaryFormat/Magic.h"
#include "llvm/ExecutionEngine/JITLink/EHFrameSupport.h"
#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/EPCDynamicLibrarySearchGenerator.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/MapperJITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/MemoryMapper.h"
#include "llvm/ExecutionEngine/Orc/ObjectFileInterface.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/Orc/TaskDispatch.h"
#include "llvm/Object/Archive.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/StringSaver.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/TargetSelect.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

using namespace llvm;
using namespace llvm::orc;

namespace {

const char *const Usage = R"(usage: jitslab-run [options] INPUT... [-- ARGS...]

Links object files and static archives, in this process or in an executor process, and runs
main(argc, argv) with argv[0] = the first input and ARGS after it. Exits with main's status; a
link error prints one line and exits with status 1.

  INPUT                   an ELF object file, a static archive or a shared library
  -L DIR, -LDIR           add DIR to the library search path
  -l NAME, -lNAME         link libNAME.a (or libNAME.so if there is no archive) from the search
                          path, then /usr/local/lib, /usr/lib/x86_64-linux-gnu, /usr/lib,
                          /lib/x86_64-linux-gnu; -lc, -lm, -lpthread, -ldl, -lrt, -lutil,
                          -lstdc++ and -lgcc_s come from the process that runs the code
  @FILE                   read more arguments from FILE, one per line
  --memory=NAME           jitslab (default; in the executor's shared memory out of process)
                          in process: llvm-inprocess (LLJIT's default) | llvm-mapper
                          (llvm-jitlink's default: a 1 GiB slab)
                          out of process: llvm-epc (LLVM's default: bytes copied over the
                          connection) | llvm-shm (LLVM's slab in shared memory)
  --executor=PATH         run the code in a new executor process, connected by pipes, e.g.
                          )" JITSLAB_LLVM_BIN R"(/llvm-jitlink-executor
  --connect=HOST:PORT     run the code in an executor listening on TCP, e.g. one started with
                          llvm-jitlink-executor listen=127.0.0.1:20000
  --protocol=native|stock|auto
                          out of process, how jitslab talks to the executor: native
                          (jitslab's service, as jitslab-executor offers) | stock (LLVM's
                          shared-memory service) | auto (default: native when offered)
  --slab-size=SIZE        jitslab's reservation, e.g. 512M or 1G (default 1G; jitslab only)
  --placement=WHERE       any (default) | low (below 2 GiB, for non-PIC code) |
                          near (within 2 GiB of libc); jitslab only
  --jitslab-mapper=VIEW   auto (default: dual where allowed) | dual (memfd mapped twice) |
                          single (one anonymous mapping); jitslab only
  --stats                 print jitslab's statistics and heap map on stderr before exiting
                          (out of process, with the calls jitslab made to the executor)
  --times                 print load, link and run times, the number of mappings and the
                          peak RSS on stderr
  --report=FILE           write the same figures to FILE as key=value lines, for tools
                          (jitslab-bench); keys are listed in README.md
  --orc-runtime=PATH      the ORC runtime archive (default: )" JITSLAB_ORC_RUNTIME R"()
  --no-orc-runtime        run without the ORC runtime: no static initializers, no C++
                          static objects; in process, atexit handlers of JIT'd code go to this
                          process's libc and run when it exits (out of process, JIT'd code
                          that calls atexit does not link)
  --eh-frames=HOW         without the ORC runtime, how exception frames are registered:
                          actions (default: inside each graph's finalize; on LLVM 19
                          jitslab::EHFrameActionsPlugin, on 22 LLVM's own plugin) | calls
                          (LLVM 19 only: LLVM's EHFrameRegistrationPlugin, one call to the
                          executor per graph after it is emitted)
  --test-gap=SIZE         testing aid: link the first input alone, then make all free
                          address space within SIZE of it inaccessible, then link the rest
  --test-kill-executor=N  testing aid: kill the executor (SIGKILL) when the Nth graph is being
                          linked; with --executor
)";

// The executor this program started, if any: killed and reaped on the way out.
pid_t ExecutorPid = -1;

/// Why the executor is gone, if it is: "the executor (pid N) was killed by signal 9; ". A
/// connection error can arrive a moment before the dying process can be waited for, so this
/// waits up to half a second for a verdict.
std::string executorDeath() {
  std::string Fate = jitslab::executorFate(ExecutorPid, 500);
  return Fate.empty() ? Fate : Fate + "; ";
}

// The first error ORC reported on its own channel (a failed link reports its cause there and
// only "failed to materialize" through the lookup), shown instead of the lookup's summary.
std::mutex SessionErrorMutex;
std::string SessionError;

void oneLine(std::string &Msg) {
  for (char &C : Msg)
    if (C == '\n')
      C = ' ';
}

[[noreturn]] void fail(const Twine &Msg) {
  std::fflush(stdout);
  std::string Text = Msg.str();
  {
    std::lock_guard<std::mutex> Lock(SessionErrorMutex);
    if (!SessionError.empty())
      Text = SessionError;
  }
  Text = executorDeath() + Text;
  oneLine(Text);
  errs() << "jitslab-run: error: " << Text << "\n";
  if (ExecutorPid > 0)
    jitslab::reapExecutor(ExecutorPid, 0);
  std::exit(1);
}

void failOn(Error Err, const Twine &Context = "") {
  if (!Err)
    return;
  std::string Msg = toString(std::move(Err));
  fail(Context.isTriviallyEmpty() ? Twine(Msg) : Context + ": " + Msg);
}

template <typename T> T failOn(Expected<T> V, const Twine &Context = "") {
  if (!V)
    failOn(V.takeError(), Context);
  return std::move(*V);
}

uint64_t parseSize(StringRef Opt, StringRef S) {
  if (auto V = jitslab::parseSize(S))
    return *V;
  fail(Opt + ": '" + S + "' is not a size (examples: 4096, 64K, 512M, 1G)");
}

struct Options {
  std::vector<std::string> Inputs; // in command-line order, libraries already resolved
  std::vector<std::string> LibDirs;
  std::vector<std::string> Args;   // after --
  std::string Memory = "jitslab";
  jitslab::Config Jitslab;
  bool Stats = false, Times = false;
  std::string Report; // --report=FILE
  bool JitslabOptions = false; // --slab-size or --placement given
  bool ProtocolGiven = false;  // --protocol given
  std::string OrcRuntime = JITSLAB_ORC_RUNTIME;
  bool EHFrameCalls = false; // --eh-frames=calls: LLVM's EHFrameRegistrationPlugin
  uint64_t TestGap = 0;
  std::string Executor, Connect; // --executor=PATH, --connect=HOST:PORT
  unsigned TestKillExecutor = 0;
  bool outOfProcess() const { return !Executor.empty() || !Connect.empty(); }
};

/// The C and C++ runtime libraries this program is itself linked with: their symbols come
/// from the process (and Debian's libc.a/libm.a are not meant to be linked into a process that
/// already has libc.so).
bool providedByProcess(StringRef Name) {
  return Name == "c" || Name == "m" || Name == "pthread" || Name == "dl" || Name == "rt" ||
         Name == "util" || Name == "stdc++" || Name == "gcc_s";
}

/// Whether `Path` is something jitslab-run can load (not, say, a GNU ld script).
bool loadable(StringRef Path) {
  file_magic M;
  if (identify_magic(Path, M))
    return false;
  return M == file_magic::archive || M == file_magic::elf_shared_object;
}

/// "" when the process provides the library (see providedByProcess).
std::string findLibrary(const Options &O, StringRef Name) {
  if (providedByProcess(Name))
    return "";
  std::vector<std::string> Dirs = O.LibDirs;
  for (const char *D : {"/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib",
                        "/lib/x86_64-linux-gnu"})
    Dirs.push_back(D);
  for (const char *Ext : {".a", ".so"})
    for (auto &D : Dirs) {
      SmallString<256> P(D);
      sys::path::append(P, "lib" + Name + Ext);
      if (sys::fs::exists(P) && loadable(P))
        return std::string(P);
    }
  fail("library -l" + Name + " not found (searched libNAME.a and libNAME.so that are archives "
       "or shared objects, in -L dirs and the system dirs)");
}

void expandResponseFile(StringRef Path, std::vector<std::string> &Out) {
  std::ifstream In(Path.str());
  if (!In)
    fail("cannot read response file '" + Path + "'");
  for (std::string Line; std::getline(In, Line);)
    if (!StringRef(Line).trim().empty())
      Out.push_back(StringRef(Line).trim().str());
}

Options parseArgs(int Argc, char **Argv) {
  std::vector<std::string> Raw;
  bool ProgramArgs = false; // after `--`, arguments belong to the program, verbatim
  for (int I = 1; I < Argc; ++I) {
    if (!ProgramArgs && Argv[I][0] == '@')
      expandResponseFile(Argv[I] + 1, Raw);
    else
      Raw.push_back(Argv[I]);
    ProgramArgs |= StringRef(Argv[I]) == "--";
  }
  Options O;
  std::vector<std::pair<bool, std::string>> Pending; // (is -l name, value) in order
  for (size_t I = 0; I < Raw.size(); ++I) {
    StringRef A = Raw[I];
    auto Value = [&](StringRef Flag) -> std::string {
      if (A.size() > Flag.size())
        return A.drop_front(Flag.size()).str();
      if (I + 1 == Raw.size())
        fail(Flag + " needs a value");
      return Raw[++I];
    };
    if (A == "--") {
      O.Args.assign(Raw.begin() + I + 1, Raw.end());
      break;
    } else if (A == "-h" || A == "--help") {
      outs() << Usage;
      std::exit(0);
    } else if (A.starts_with("-L")) {
      O.LibDirs.push_back(Value("-L"));
    } else if (A.starts_with("-l")) {
      Pending.push_back({true, Value("-l")});
    } else if (A.consume_front("--memory=")) {
      if (A != "jitslab" && A != "llvm-inprocess" && A != "llvm-mapper" && A != "llvm-epc" &&
          A != "llvm-shm")
        fail("--memory=" + A +
             ": expected jitslab, llvm-inprocess, llvm-mapper, llvm-epc or llvm-shm");
      O.Memory = A.str();
    } else if (A.consume_front("--executor=")) {
      O.Executor = A.str();
    } else if (A.consume_front("--connect=")) {
      O.Connect = A.str();
    } else if (A.consume_front("--test-kill-executor=")) {
      if (A.getAsInteger(10, O.TestKillExecutor) || O.TestKillExecutor == 0)
        fail("--test-kill-executor: '" + A + "' is not a graph number (1, 2, ...)");
    } else if (A.consume_front("--protocol=")) {
      O.ProtocolGiven = true;
      if (A == "auto")
        O.Jitslab.setProtocol(jitslab::Protocol::Auto);
      else if (A == "stock")
        O.Jitslab.setProtocol(jitslab::Protocol::Stock);
      else if (A == "native")
        O.Jitslab.setProtocol(jitslab::Protocol::Native);
      else
        fail("--protocol=" + A + ": expected auto, stock or native");
    } else if (A.consume_front("--slab-size=")) {
      O.Jitslab.setSlabSize(parseSize("--slab-size", A));
      O.JitslabOptions = true;
    } else if (A.consume_front("--placement=")) {
      O.JitslabOptions = true;
      if (A == "any")
        O.Jitslab.setPlacement(jitslab::Placement::Anywhere);
      else if (A == "low")
        O.Jitslab.setPlacement(jitslab::Placement::Low);
      else if (A == "near")
        O.Jitslab.setPlacement(jitslab::Placement::Near,
                               reinterpret_cast<uint64_t>(&std::printf));
      else
        fail("--placement=" + A + ": expected any, low or near");
    } else if (A.consume_front("--jitslab-mapper=")) {
      O.JitslabOptions = true;
      if (A == "auto")
        O.Jitslab.setMapper(jitslab::Mapper::Auto);
      else if (A == "dual")
        O.Jitslab.setMapper(jitslab::Mapper::DualView);
      else if (A == "single")
        O.Jitslab.setMapper(jitslab::Mapper::SingleView);
      else
        fail("--jitslab-mapper=" + A + ": expected auto, dual or single");
    } else if (A == "--stats") {
      O.Stats = true;
    } else if (A == "--times") {
      O.Times = true;
    } else if (A.consume_front("--report=")) {
      O.Report = A.str();
    } else if (A.consume_front("--orc-runtime=")) {
      O.OrcRuntime = A.str();
    } else if (A == "--no-orc-runtime") {
      O.OrcRuntime.clear();
    } else if (A.consume_front("--eh-frames=")) {
      if (A == "actions")
        O.EHFrameCalls = false;
      else if (A == "calls")
        O.EHFrameCalls = true;
      else
        fail("--eh-frames=" + A + ": expected actions or calls");
    } else if (A.consume_front("--test-gap=")) {
      O.TestGap = parseSize("--test-gap", A);
      if (O.TestGap > (1ULL << 46))
        fail("--test-gap: at most 64T (the address space is 128 TiB)");
    } else if (A.starts_with("-") && A.size() > 1) {
      fail("unknown option '" + A + "' (see --help)");
    } else {
      Pending.push_back({false, A.str()});
    }
  }
  for (auto &[IsLib, V] : Pending) {
    std::string Path = IsLib ? findLibrary(O, V) : V;
    if (!Path.empty())
      O.Inputs.push_back(std::move(Path));
  }
  if (O.Inputs.empty())
    fail("no inputs (see --help)");
  if (O.Memory != "jitslab" && (O.Stats || O.JitslabOptions || O.ProtocolGiven))
    fail("--stats, --slab-size, --placement, --jitslab-mapper and --protocol are jitslab's; "
         "they need --memory=jitslab");
  if (O.ProtocolGiven && !O.outOfProcess())
    fail("--protocol works out of process only (give --executor=PATH or --connect=HOST:PORT)");
  if (!O.Executor.empty() && !O.Connect.empty())
    fail("--executor and --connect both name an executor; give one");
  if (O.outOfProcess()) {
    if (O.Memory == "llvm-inprocess" || O.Memory == "llvm-mapper")
      fail("--memory=" + O.Memory + " is an in-process manager; out of process use jitslab, " +
           "llvm-epc or llvm-shm");
    if (O.Jitslab.raw().placement != JITSLAB_PLACEMENT_ANYWHERE)
      fail("--placement works in process only (LLVM's executor service chooses the address)");
    if (O.TestGap)
      fail("--test-gap works in process only");
    if (O.Jitslab.raw().mapper != JITSLAB_MAPPER_AUTO)
      fail("--jitslab-mapper works in process only (out of process the slab is the executor's "
           "shared memory)");
  } else if (O.Memory == "llvm-epc" || O.Memory == "llvm-shm") {
    fail("--memory=" + O.Memory + " is an out-of-process manager: give --executor=PATH or " +
         "--connect=HOST:PORT");
  }
  if (O.TestKillExecutor && O.Executor.empty())
    fail("--test-kill-executor needs --executor (a process this program starts)");
  if (O.EHFrameCalls && jitslab::compat::LLVMRegistersEHFramesByActions)
    fail("--eh-frames=calls needs LLVM 19: this jitslab-run is built on LLVM " +
         Twine(LLVM_VERSION_MAJOR) + ", whose eh-frame registration is an allocation action only");
  if (O.EHFrameCalls && !O.OrcRuntime.empty())
    fail("--eh-frames=calls works with --no-orc-runtime only (with the ORC runtime, "
         "ELFNixPlatform registers exception frames)");
  if (!O.OrcRuntime.empty() && !sys::fs::exists(O.OrcRuntime))
    fail("ORC runtime '" + O.OrcRuntime +
         "' not found (install libclang-rt-" + Twine(LLVM_VERSION_MAJOR) +
         "-dev, give --orc-runtime=PATH, or run with "
         "--no-orc-runtime)");
  return O;
}

/// Links an archive's members on demand, as a linker does, each member at most once. LLVM 19's
/// StaticLibraryDefinitionGenerator keeps no record of the members it added, so two lookups
/// that ask for symbols of one member at the same time can both add it ("Duplicate definition
/// of symbol", about one sqlite link in 200 when several run at once). Here the decision and
/// the add happen under one lock: a lookup that finds its member added finds it defined too.
class ArchiveGenerator : public DefinitionGenerator {
public:
  static Expected<std::unique_ptr<ArchiveGenerator>> Create(ObjectLayer &L,
                                                            std::unique_ptr<MemoryBuffer> Buf) {
    auto A = object::Archive::create(Buf->getMemBufferRef());
    if (!A)
      return A.takeError();
    std::unique_ptr<ArchiveGenerator> G(new ArchiveGenerator(L, std::move(Buf), std::move(*A)));
    if (Error E = G->indexSymbols())
      return std::move(E);
    return std::move(G);
  }

  Error tryToGenerate(LookupState &, LookupKind K, JITDylib &JD, JITDylibLookupFlags,
                      const SymbolLookupSet &Symbols) override {
    if (K != LookupKind::Static)
      return Error::success();
    std::lock_guard<std::mutex> Lock(M);
    for (auto &KV : Symbols) {
      auto I = MemberOf.find(KV.first);
      if (I == MemberOf.end() || !Added.insert(I->second.getBufferStart()).second)
        continue;
      auto If = getObjectFileInterface(L.getExecutionSession(), I->second);
      if (!If)
        return If.takeError();
      if (Error E = L.add(JD, MemoryBuffer::getMemBuffer(I->second, false), std::move(*If)))
        return E;
    }
    return Error::success();
  }

private:
  ArchiveGenerator(ObjectLayer &L, std::unique_ptr<MemoryBuffer> Buf,
                   std::unique_ptr<object::Archive> A)
      : L(L), Buf(std::move(Buf)), A(std::move(A)) {}

  /// Maps each symbol of the archive's index to its member, named "archive(member)" as LLVM
  /// names them (unique init-symbol names per member).
  Error indexSymbols() {
    DenseMap<uint64_t, MemoryBufferRef> Members;
    for (auto &Sym : A->symbols()) {
      auto Child = Sym.getMember();
      if (!Child)
        return Child.takeError();
      auto [It, New] = Members.try_emplace(Child->getDataOffset());
      if (New) {
        auto Data = Child->getBuffer();
        auto Name = Child->getName();
        if (!Data || !Name)
          return joinErrors(Data.takeError(), Name.takeError());
        It->second = MemoryBufferRef(
            *Data, Names.save(Buf->getBufferIdentifier() + "(" + *Name + ")"));
      }
      MemberOf[L.getExecutionSession().intern(Sym.getName())] = It->second;
    }
    return Error::success();
  }

  ObjectLayer &L;
  std::unique_ptr<MemoryBuffer> Buf;
  std::unique_ptr<object::Archive> A;
  BumpPtrAllocator NameStorage;
  StringSaver Names{NameStorage};
  DenseMap<SymbolStringPtr, MemoryBufferRef> MemberOf;
  std::mutex M;
  DenseSet<const char *> Added; // members added, by the start of their bytes
};

/// Records the symbols of every graph the layer links, by JITDylib, so that the driver can
/// wait for all of them before running anything.
class DefinitionRecorder : public jitslab::PassPlugin {
public:
  void modifyPassConfig(MaterializationResponsibility &MR, jitlink::LinkGraph &,
                        jitlink::PassConfiguration &Config) override {
    {
      std::lock_guard<std::mutex> Lock(M);
      auto &Names = Defined[&MR.getTargetJITDylib()];
      for (auto &KV : MR.getSymbols())
        Names.insert(KV.first);
    }
    // What the graph puts in memory, whichever manager lays it out: the bytes of its blocks.
    Config.PostAllocationPasses.push_back([this](jitlink::LinkGraph &G) {
      uint64_t Bytes = 0;
      for (auto *B : G.blocks())
        Bytes += B->getSize();
      Linked += Bytes;
      return Error::success();
    });
  }

  /// Bytes of every block of every graph linked so far (content and zero-fill).
  uint64_t linkedBytes() const { return Linked; }

  /// Symbols recorded and not yet returned by a previous call.
  std::map<JITDylib *, SymbolNameSet> takeNew() {
    std::lock_guard<std::mutex> Lock(M);
    std::map<JITDylib *, SymbolNameSet> New;
    for (auto &[JD, Names] : Defined)
      for (auto &N : Names)
        if (Returned[JD].insert(N).second)
          New[JD].insert(N);
    return New;
  }

private:
  std::mutex M;
  std::map<JITDylib *, SymbolNameSet> Defined, Returned;
  std::atomic<uint64_t> Linked{0};
};

/// Looks up `Names` in `JD` alone, waiting until every one is ready (linked and finalized).
/// Every name was defined by a linked object; they are looked up as weak references only
/// because init symbols (side effects only) cannot be looked up any other way.
void waitFor(ExecutionSession &ES, JITDylib &JD, const SymbolNameSet &Names) {
  SymbolLookupSet Set;
  for (auto &N : Names)
    Set.add(N, SymbolLookupFlags::WeaklyReferencedSymbol);
  failOn(ES.lookup({{&JD, JITDylibLookupFlags::MatchAllSymbols}}, std::move(Set),
                   LookupKind::Static, SymbolState::Ready)
             .takeError());
}

/// Links everything reachable from `Roots` and everything those links define, to a fixpoint.
void linkAll(ExecutionSession &ES, JITDylib &Main, const SymbolNameSet &Roots,
             DefinitionRecorder &Rec) {
  waitFor(ES, Main, Roots);
  if (jitslab::compat::LookupWaitsForDependencies)
    return;
  for (auto New = Rec.takeNew(); !New.empty(); New = Rec.takeNew())
    for (auto &[JD, Names] : New)
      waitFor(ES, *JD, Names);
}

/// Testing aid for the code-model guarantee: maps every free page within `Radius` of `Addr`
/// inaccessible, so that any later mmap lands at least `Radius` away from `Addr`.
void fillAddressSpaceNear(uint64_t Addr, uint64_t Radius) {
  const uint64_t Page = sys::Process::getPageSizeEstimate();
  const uint64_t Lo = alignDown(Addr > Radius + 0x10000 ? Addr - Radius : 0x10000, Page);
  const uint64_t Hi = alignTo(Addr + Radius, Page);
  std::ifstream Maps("/proc/self/maps");
  std::vector<std::pair<uint64_t, uint64_t>> Used;
  for (std::string Line; std::getline(Maps, Line);) {
    uint64_t S = 0, E = 0;
    if (std::sscanf(Line.c_str(), "%lx-%lx", &S, &E) == 2)
      Used.push_back({S, E});
  }
  uint64_t Cursor = Lo;
  Used.push_back({Hi, Hi});
  for (auto [S, E] : Used) {
    if (S > Cursor && Cursor < Hi) {
      uint64_t End = std::min(S, Hi);
      void *P = mmap(reinterpret_cast<void *>(Cursor), End - Cursor, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
      if (P == MAP_FAILED)
        fail(formatv("--test-gap: mmap of the free range [{0:x}, {1:x}) failed: {2}", Cursor,
                     End, std::strerror(errno)));
    }
    Cursor = std::max(Cursor, E);
  }
}

/// Testing aid (--test-kill-executor): kills the executor when the Nth graph is being linked,
/// between allocation and finalize for most managers.
class ExecutorKiller : public jitslab::PassPlugin {
public:
  ExecutorKiller(pid_t Pid, unsigned N) : Pid(Pid), N(N) {}
  void modifyPassConfig(MaterializationResponsibility &, jitlink::LinkGraph &,
                        jitlink::PassConfiguration &Config) override {
    Config.PostAllocationPasses.push_back([this](jitlink::LinkGraph &) {
      if (++Seen == N)
        kill(Pid, SIGKILL);
      return Error::success();
    });
  }

private:
  pid_t Pid;
  unsigned N;
  std::atomic<unsigned> Seen{0};
};

using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point T) {
  return std::chrono::duration<double, std::milli>(Clock::now() - T).count();
}

} // namespace

int main(int Argc, char **Argv) {
  Options O = parseArgs(Argc, Argv);
  InitializeNativeTarget();
  auto T0 = Clock::now();

  // The manager, made by name inside the layer creator; `Slab` keeps jitslab's for --stats.
  jitslab::MemoryManager *Slab = nullptr;
  auto Recorder = std::make_shared<DefinitionRecorder>();
  const bool WithRuntime = !O.OrcRuntime.empty();

  std::unique_ptr<ExecutorProcessControl> EPC;
  std::shared_ptr<const jitslab::TransportCounts> Wire; // out of process: what crossed it
  if (O.outOfProcess()) {
    auto Conn = failOn(O.Executor.empty() ? jitslab::connectExecutor(O.Connect)
                                          : jitslab::spawnExecutor(O.Executor),
                       "starting the executor");
    ExecutorPid = Conn.Pid;
    Wire = Conn.Counts;
    EPC = std::move(Conn.EPC);
  } else {
    auto MaterializationThreads = std::max(2u, std::thread::hardware_concurrency());
    EPC = failOn(jitslab::compat::createSelfEPC(
                     std::make_unique<DynamicThreadPoolTaskDispatcher>(MaterializationThreads)),
                 "creating the executor process control");
  }

  LLJITBuilder B;
  B.setExecutorProcessControl(std::move(EPC));
  B.setObjectLinkingLayerCreator(jitslab::compat::layerCreator([&](ExecutionSession &ES)
                                     -> Expected<std::unique_ptr<ObjectLayer>> {
    // The first moment this program sees the session: from here on ORC's own error reports
    // (a lost executor, link errors, the ORC runtime's) are kept, not printed as they come.
    ES.setErrorReporter([](Error Err) {
      std::string Msg = toString(std::move(Err));
      std::lock_guard<std::mutex> Lock(SessionErrorMutex);
      if (SessionError.empty())
        SessionError = std::move(Msg);
    });
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
      Main.addGenerator(failOn(
          ArchiveGenerator::Create(J->getObjLinkingLayer(), std::move(*Buf)),
          Path));
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
      auto Probe = failOn(
          ES.lookup({{&Main, JITDylibLookupFlags::MatchAllSymbols}}, GapProbe), "--test-gap");
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
  jitslab::Footprint Exec =
      ExecutorPid > 0 ? jitslab::processFootprint(std::to_string(ExecutorPid)) : jitslab::Footprint();
  std::optional<JitslabStats> SlabStats;
  if (Slab)
    SlabStats = failOn(Slab->stats(), "statistics");
  // What the slab costs the executor: resident pages of its mappings of the reservation, from
  // smaps (compared with linked_bytes).
  uint64_t SlabRssKiB = 0;
  if (SlabStats && ExecutorPid > 0)
    SlabRssKiB = jitslab::residentKiBIn(std::to_string(ExecutorPid), SlabStats->base,
                                        SlabStats->reserved);
  if (O.Times)
    errs() << format("jitslab-run: times: load %.1f ms, link %.1f ms, run %.1f ms\n", LoadMs,
                     LinkMs, RunMs)
           << "jitslab-run: process: " << Mappings << " mappings, peak RSS " << PeakKiB
           << " kB\n";
  if (O.Times && ExecutorPid > 0)
    errs() << "jitslab-run: executor: " << Exec.Mappings << " mappings, peak RSS " << Exec.PeakKiB
           << " kB, shared memory resident " << Exec.ShmemKiB << " kB\n";
  if (O.Times && Wire)
    errs() << "jitslab-run: connection: " << Wire->CallsToExecutor.load() << " calls to the executor, "
           << Wire->BytesSent.load() << " bytes sent, " << Wire->BytesReceived.load()
           << " bytes received\n";
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
    if (Wire)
      R << "rpc_calls=" << Wire->CallsToExecutor.load() << "\n"
        << "rpc_bytes_sent=" << Wire->BytesSent.load() << "\n"
        << "rpc_bytes_received=" << Wire->BytesReceived.load() << "\n";
    if (ExecutorPid > 0)
      R << "executor_mappings=" << Exec.Mappings << "\n"
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
  // Exit as a process does, without tearing the JIT down: handlers that JIT'd code gave to
  // the C library's atexit still find their code mapped.
  std::exit(Status);
}
