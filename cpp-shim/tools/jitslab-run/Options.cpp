//===- Options.cpp - jitslab-run's command line -----------------------------===//
//
// See Options.h.
//
//===----------------------------------------------------------------------===//

#include "Options.h"
#include "Executors.h"
#include "Session.h"
#include "Sizes.h"
#include "jitslab/OrcCompat.h"

#include "llvm/BinaryFormat/Magic.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

using namespace llvm;

namespace jitslab::run {
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
  --connect=unix:PATH     ... or on a Unix-domain socket (jitslab-executor listen=unix:PATH)
  --secret-file=PATH      with --connect: prove to jitslab-executor that we hold the secret in
                          PATH (mode 0600), and have it prove the same (default: the file
                          named by JITSLAB_EXECUTOR_SECRET_FILE)
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

uint64_t parseSize(StringRef Opt, StringRef S) {
  if (auto V = jitslab::parseSize(S))
    return *V;
  fail(Opt + ": '" + S + "' is not a size (examples: 4096, 64K, 512M, 1G)");
}

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
  for (const char *D :
       {"/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib", "/lib/x86_64-linux-gnu"})
    Dirs.push_back(D);
  for (const char *Ext : {".a", ".so"})
    for (auto &D : Dirs) {
      SmallString<256> P(D);
      sys::path::append(P, "lib" + Name + Ext);
      if (sys::fs::exists(P) && loadable(P))
        return std::string(P);
    }
  fail("library -l" + Name +
       " not found (searched libNAME.a and libNAME.so that are archives "
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

} // namespace

Options parseOptions(int Argc, char **Argv) {
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
      jitslab::discardEarlyExecutor();
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
    } else if (A.consume_front("--secret-file=")) {
      O.SecretFile = A.str();
      if (O.SecretFile.empty())
        fail("--secret-file wants a path");
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
        O.Jitslab.setPlacement(jitslab::Placement::Near, reinterpret_cast<uint64_t>(&std::printf));
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
  if (!O.SecretFile.empty() && O.Connect.empty())
    fail("--secret-file authenticates to an executor given by --connect; give --connect");
  if (O.SecretFile.empty())
    O.SecretFile = jitslab::defaultSecretFile();
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
    fail("ORC runtime '" + O.OrcRuntime + "' not found (install libclang-rt-" +
         Twine(LLVM_VERSION_MAJOR) +
         "-dev, give --orc-runtime=PATH, or run with "
         "--no-orc-runtime)");
  return O;
}

} // namespace jitslab::run
