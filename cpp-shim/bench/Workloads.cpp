//===- Workloads.cpp - build the benchmark's workloads and native references ===//
//
// Everything the benchmark links is built here, from sources, into the work directory
// (target/cmake-MAJOR/bench/wl by default); nothing is checked in but the sources:
//
//   synthN/      synth-gen N: N units + main.c, each compiled with the build's clang -O2 -c;
//                synthN.rsp lists the objects; synthN_native is their native link
//   hello.o, hello_native           tests/workloads/hello.c
//   sqlite_main.o, sqlite_native    tests/workloads/sqlite_main.c against libsqlite3.a
//   zlib_main.o, zlib_native        tests/workloads/zlib_main.c against libz.a
//   churn/       churn_unit.c compiled once per unit (-DUNIT=k); churn_native links them all
//                with churn_main.c
//
// The REPL session is checked in (tests/repl/session.plain.repl and session.expected, written
// by tests/repl/gen_session.py): nothing to build.
//
// A step is skipped when its outputs are newer than its inputs. Compiles run on as many
// threads as there are cores; each thread starts its own clang processes. The native builds
// are run every time to give each workload its expected stdout and exit status.
//
//===----------------------------------------------------------------------===//

#include "Bench.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Object/ELFObjectFile.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

using namespace llvm;

namespace jitslab::bench {
namespace {

/// One command that makes `Output` from `Inputs`.
struct Step {
  std::string Output;
  std::vector<std::string> Inputs;
  std::string Program;
  std::vector<std::string> Args;
};

std::string path(StringRef Dir, const Twine &Name) {
  SmallString<256> P(Dir);
  sys::path::append(P, Name);
  return std::string(P);
}

/// Whether `Output` exists and is at least as new as every input.
bool upToDate(const Step &S) {
  sys::fs::file_status Out;
  if (sys::fs::status(S.Output, Out) || !sys::fs::exists(Out))
    return false;
  for (const std::string &In : S.Inputs) {
    sys::fs::file_status St;
    if (sys::fs::status(In, St) || St.getLastModificationTime() > Out.getLastModificationTime())
      return false;
  }
  return true;
}

/// Runs the steps that are not up to date, on one thread per core; the first failure is the
/// error (the remaining steps still finish, so no process is left behind).
Error runSteps(const std::vector<Step> &Steps, const std::string &TmpDir) {
  std::vector<const Step *> Todo;
  for (const Step &S : Steps)
    if (!upToDate(S))
      Todo.push_back(&S);
  if (Todo.empty())
    return Error::success();
  errs() << "jitslab-bench: building " << Todo.size() << " workload file(s)\n";
  std::atomic<size_t> Next{0};
  std::mutex M;
  std::string FirstError;
  auto Work = [&] {
    for (size_t I = Next++; I < Todo.size(); I = Next++) {
      const Step &S = *Todo[I];
      // No timeout: LLVM's ExecuteAndWait times out with the process-wide alarm(), which one
      // thread's wait would cancel or steal from another's.
      ChildExit E = runChild(S.Program, S.Args, TmpDir, 0);
      if (E.Status != 0) {
        sys::fs::remove(S.Output);
        std::lock_guard<std::mutex> Lock(M);
        if (FirstError.empty())
          FirstError =
              "building " + S.Output + " failed: " +
              firstLine(E.Stderr + "\n" + E.Error + "\nexit status " + std::to_string(E.Status));
      }
    }
  };
  std::vector<std::thread> Threads;
  for (unsigned T = 0; T < std::max(1u, std::thread::hardware_concurrency()); ++T)
    Threads.emplace_back(Work);
  for (auto &T : Threads)
    T.join();
  return FirstError.empty() ? Error::success() : makeErr(FirstError);
}

Step compile(const Paths &P, const std::string &Src, const std::string &Obj,
             std::vector<std::string> Flags = {}) {
  std::vector<std::string> Args = {"-O2"};
  Args.insert(Args.end(), Flags.begin(), Flags.end());
  Args.insert(Args.end(), {"-c", Src, "-o", Obj});
  return {Obj, {Src}, P.Clang, Args};
}

Step linkNative(const Paths &P, const std::vector<std::string> &Objects, const std::string &Exe,
                std::vector<std::string> Args) {
  std::vector<std::string> All = Args;
  All.insert(All.begin(), Objects.begin(), Objects.end());
  All.insert(All.end(), {"-o", Exe});
  return {Exe, Objects, P.Clang, All};
}

/// Bytes of the sections a linker allocates in memory (SHF_ALLOC), over all `Objects`.
Expected<uint64_t> allocatableBytes(const std::vector<std::string> &Objects) {
  uint64_t Total = 0;
  for (const std::string &Path : Objects) {
    auto Obj = object::ObjectFile::createObjectFile(Path);
    if (!Obj)
      return makeErr("reading " + Path + ": " + toString(Obj.takeError()));
    for (const object::SectionRef &S : Obj->getBinary()->sections())
      if (object::ELFSectionRef(S).getFlags() & ELF::SHF_ALLOC)
        Total += S.getSize();
  }
  return Total;
}

/// Runs a native build to learn what a correct run prints.
Error expectNative(Workload &W, const std::string &Exe, const std::vector<std::string> &Args,
                   const std::string &TmpDir) {
  ChildExit E = runChild(Exe, Args, TmpDir, 120);
  if (E.Status < 0)
    return makeErr("running the native build " + Exe +
                   " failed: " + firstLine(E.Error + "\n" + E.Stderr));
  // Every workload program succeeds when it works: a native run that fails would make a JIT'd
  // run failing the same way look correct.
  if (E.Status != 0)
    return makeErr("the native build " + Exe + " exited with status " + std::to_string(E.Status) +
                   ": " + firstLine(E.Stderr));
  W.Expected = E.Stdout;
  W.ExpectedStatus = E.Status;
  return Error::success();
}

std::string kib(uint64_t Bytes) { return formatv("{0:f0} KiB", Bytes / 1024.0).str(); }

} // namespace

Expected<std::vector<Workload>> prepareWorkloads(const Paths &P, const WorkloadPlan &Plan) {
  const std::string Tmp = path(P.Work, "tmp");
  if (std::error_code EC = sys::fs::create_directories(Tmp))
    return makeErr("cannot create " + Tmp + ": " + EC.message());
  std::vector<Workload> Out;

  // synth-N: the generator first (its output depends only on N), then the compiles.
  for (unsigned N : Plan.SynthSizes) {
    const std::string Dir = path(P.Work, "synth" + Twine(N));
    const std::string Stamp = path(Dir, "generated.stamp");
    Step Gen{Stamp, {P.SynthGen}, "", {}};
    if (!upToDate(Gen)) {
      if (std::error_code EC = sys::fs::create_directories(Dir))
        return makeErr("cannot create " + Dir + ": " + EC.message());
      ChildExit E = runChild(P.SynthGen, {std::to_string(N), Dir}, Tmp, 120);
      if (E.Status != 0)
        return makeErr("synth-gen " + Twine(N) + " failed: " + firstLine(E.Stderr + E.Error));
      std::ofstream(Stamp) << "synth-gen " << N << "\n";
    }
    std::vector<Step> Steps;
    std::vector<std::string> Objects;
    for (unsigned I = 0; I <= N; ++I) { // main first, as in the ctest suite's synth2000.rsp
      std::string Stem = I == 0 ? std::string("main") : formatv("unit_{0:d4}", I - 1).str();
      Objects.push_back(path(Dir, Stem + ".o"));
      Steps.push_back(compile(P, path(Dir, Stem + ".c"), Objects.back()));
    }
    if (Error E = runSteps(Steps, Tmp))
      return std::move(E);
    const std::string Native = path(P.Work, "synth" + Twine(N) + "_native");
    const std::string Rsp = path(P.Work, "synth" + Twine(N) + ".rsp");
    std::ofstream(Rsp) << join(Objects, "\n") << "\n";
    if (Error E = runSteps({{Native, Objects, P.Clang, {"@" + Rsp, "-o", Native}}}, Tmp))
      return std::move(E);
    auto Bytes = allocatableBytes(Objects);
    if (!Bytes)
      return Bytes.takeError();
    Workload W;
    W.Id = "synth-" + std::to_string(N);
    W.Description = formatv("{0} generated C units + main (synth-gen, {1} -O2 -c): {2} "
                            "objects, {3} allocatable",
                            N, sys::path::filename(P.Clang), N + 1, kib(*Bytes));
    W.Args = {"@" + Rsp};
    W.Objects = N + 1;
    W.ContentBytes = *Bytes;
    if (Error E = expectNative(W, Native, {}, Tmp))
      return std::move(E);
    Out.push_back(std::move(W));
  }

  // Mains against Debian's static archives.
  struct Real {
    const char *Id, *Src, *Desc;
    std::vector<std::string> Libs, ProgramArgs;
  };
  std::vector<Real> Reals;
  if (Plan.Hello)
    Reals.push_back({"hello",
                     "hello.c",
                     "puts(\"hello, world\"): the tool's and the executor's start and the "
                     "teardown are nearly all of it",
                     {},
                     {}});
  if (Plan.Sqlite)
    Reals.push_back({"sqlite",
                     "sqlite_main.c",
                     "a main against Debian's libsqlite3.a (1000 rows, a few queries)",
                     {"-lsqlite3", "-lm"},
                     {"1000"}});
  if (Plan.Zlib)
    Reals.push_back({"zlib",
                     "zlib_main.c",
                     "a main against Debian's libz.a (compress and uncompress 64 KiB)",
                     {"-lz"},
                     {}});
  for (const Real &X : Reals) {
    const std::string Obj = path(P.Work, StringRef(X.Src).drop_back(2) + ".o");
    const std::string Native = path(P.Work, Twine(X.Id) + "_native");
    if (Error E = runSteps({compile(P, path(P.WorkloadSrc, X.Src), Obj)}, Tmp))
      return std::move(E);
    if (Error E = runSteps({linkNative(P, {Obj}, Native, X.Libs)}, Tmp))
      return std::move(E);
    Workload W;
    W.Id = X.Id;
    W.Description = X.Desc;
    W.Args = {Obj};
    W.Args.insert(W.Args.end(), X.Libs.begin(), X.Libs.end());
    if (!X.ProgramArgs.empty()) {
      W.Args.push_back("--");
      W.Args.insert(W.Args.end(), X.ProgramArgs.begin(), X.ProgramArgs.end());
    }
    W.Objects = 1;
    if (Error E = expectNative(W, Native, X.ProgramArgs, Tmp))
      return std::move(E);
    Out.push_back(std::move(W));
  }

  // The session: the same plain C++ inputs for jitslab-repl and stock clang-repl.
  if (Plan.Session) {
    const std::string Script = path(P.ReplDir, "session.plain.repl");
    auto Inputs = MemoryBuffer::getFile(Script, /*IsText=*/true);
    auto Expected = MemoryBuffer::getFile(path(P.ReplDir, "session.expected"), /*IsText=*/true);
    if (!Inputs || !Expected)
      return makeErr("cannot read the REPL session in " + P.ReplDir);
    Workload W;
    W.Id = "repl-session";
    W.K = Kind::Session;
    W.Description =
        formatv("one plain C++ session of {0} inputs, one per line (tests/repl/session.plain.repl: "
                "functions, classes, templates, lambdas, exceptions, <string>, <vector>, <map>, "
                "<memory>, <functional>), fed on stdin",
                count_if(split((*Inputs)->getBuffer(), '\n'),
                         [](StringRef L) { return !L.trim().empty(); }));
    W.Args = {Script};
    W.Expected = (*Expected)->getBuffer().str();
    Out.push_back(std::move(W));
  }

  // churn: one object per unit, from one source.
  {
    const std::string Dir = path(P.Work, "churn");
    if (std::error_code EC = sys::fs::create_directories(Dir))
      return makeErr("cannot create " + Dir + ": " + EC.message());
    const std::string Src = path(P.WorkloadSrc, "churn/churn_unit.c");
    std::vector<Step> Steps;
    std::vector<std::string> Objects;
    for (unsigned K = 0; K < Plan.ChurnUnits; ++K) {
      Objects.push_back(path(Dir, "churn_" + Twine(K) + ".o"));
      Steps.push_back(compile(P, Src, Objects.back(), {"-DUNIT=" + std::to_string(K)}));
    }
    if (Error E = runSteps(Steps, Tmp))
      return std::move(E);
    const std::string Native = path(P.Work, "churn_native");
    std::vector<std::string> NativeInputs = Objects;
    NativeInputs.push_back(path(P.WorkloadSrc, "churn/churn_main.c"));
    if (Error E = runSteps({linkNative(P, NativeInputs, Native, {"-O2", "-rdynamic"})}, Tmp))
      return std::move(E);
    auto Bytes = allocatableBytes(Objects);
    if (!Bytes)
      return Bytes.takeError();
    const uint64_t Links = uint64_t(Plan.ChurnUnits) * Plan.ChurnRounds;
    Workload W;
    W.Id = "churn";
    W.K = Kind::Churn;
    W.Description = formatv(
        "{0} small objects ({1} allocatable in all) linked one by one, each under its own "
        "ResourceTracker, removed {2} links later, {3} rounds: {4} links, then everything removed",
        Plan.ChurnUnits, kib(*Bytes), Plan.ChurnLive, Plan.ChurnRounds, Links);
    W.Args = {"--objects=" + Dir, "--units=" + std::to_string(Plan.ChurnUnits),
              "--rounds=" + std::to_string(Plan.ChurnRounds),
              "--live=" + std::to_string(Plan.ChurnLive)};
    W.ZeroArgs = W.Args;
    W.ZeroArgs[2] = "--rounds=0";
    W.Units = Links;
    W.Objects = Plan.ChurnUnits;
    W.ContentBytes = *Bytes;
    if (Error E = expectNative(W, Native, {std::to_string(Plan.ChurnUnits)}, Tmp))
      return std::move(E);
    Out.push_back(std::move(W));
  }

  // The allocator cycle: no objects; a correct run prints nothing and exits with 0.
  for (unsigned Threads : {1u, 2u}) {
    Workload W;
    W.Id = "alloc-" + std::to_string(Threads) + "t";
    W.K = Kind::Alloc;
    W.Description = formatv(
        "allocate + finalize + deallocate of a 3-segment graph (code, read-only, read-write; "
        "8 B to 2 KiB) through jitlink::SimpleSegmentAlloc, 64 live, {0} cycles, {1}",
        Plan.AllocCycles, Threads == 1 ? "1 thread" : "2 threads on one manager");
    W.Args = {"--threads=" + std::to_string(Threads),
              "--cycles=" + std::to_string(Plan.AllocCycles)};
    W.ZeroArgs = {W.Args[0], "--cycles=0"};
    W.Units = Plan.AllocCycles;
    Out.push_back(std::move(W));
  }
  return Out;
}

} // namespace jitslab::bench
