//===- main.cpp - jitslab-repl: incremental C++ on clang's Interpreter and jitslab ===//
//
//   jitslab-repl [options] [SCRIPT]
//
// A clang-repl-like interpreter whose JIT'd inputs all live in one jitslab slab: in this
// process, or in an executor process (--executor) over memory shared with it. Reads C++ input
// by input from SCRIPT or stdin: declarations, statements and expressions, `%undo [N]` (removes
// the last N inputs and frees their memory), `%stats`, `%quit`.
//
// How it plugs in: clang::Interpreter is handed an LLJITBuilder whose object linking layer
// uses jitslab (or, for comparison, one of LLVM's managers); the driver runs each input itself
// (runInput) and keeps the boundary below which %undo must not go (UserInputs). How the builder
// reaches clang, and how an expression's value comes back, differ between LLVM 19 and 22: that
// is repl/InterpreterCompat.h, the one place where this tool's code depends on the major.
// Out of process an expression's value cannot be printed (clang's value printing stores it
// from inside the interpreter's own process): the expression is evaluated and a note says so.
//
//===----------------------------------------------------------------------===//

#include "Executors.h"
#include "Managers.h"
#include "ProcFS.h"
#include "Sizes.h"
#include "jitslab/EHFrameFix.h"
#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"
#include "jitslab/PassPlugin.h"
#include "InterpreterCompat.h"

#include "clang/Frontend/CompilerInstance.h"
#include "clang/Interpreter/Interpreter.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace llvm;
using namespace llvm::orc;

namespace {

const char *const Usage = R"(usage: jitslab-repl [options] [SCRIPT]

Runs C++ input by input, like clang-repl, from SCRIPT or stdin ('-'). Each input is a line;
a line ending in '\' continues on the next, and so does one that leaves a '{', '(' or '['
open. An input ending without ';' is an expression whose value is printed (in process).
Errors are printed and the session goes on; an input that fails to link or run is taken
back, as if it had been undone.

  %undo [N]               remove the last N inputs (default 1) and free their memory
  %stats                  print one line of figures on stderr (see README.md)
  %quit                   end the session (so does the end of the input)

Options:
  --executor=PATH         run every input in a new executor process connected by pipes:
                          jitslab-executor or )" JITSLAB_LLVM_BIN R"(/llvm-jitlink-executor
  --connect=HOST:PORT     run every input in an executor listening on TCP
  --memory=NAME           jitslab (default; in the executor's shared memory out of process)
                          in process: llvm-inprocess (clang-repl's and LLJIT's default)
                          out of process: llvm-epc | llvm-shm
  --slab-size=SIZE        jitslab's reservation, e.g. 256M (default 1G)
  --orc-runtime=PATH      the ORC runtime archive, out of process (default: )" JITSLAB_ORC_RUNTIME R"()
  --strict                exit with status 1 if any input failed
  --stats                 print jitslab's statistics and heap map on stderr at exit
  --time                  print the session's wall time on stderr at exit, and how much of it
                          went to parsing and to compiling, linking and running
  -Xcc ARG                pass ARG to the compiler (e.g. -Xcc -std=c++20 -Xcc -O2)
)";

// Set once the session is over and the JIT is being torn down.
std::atomic<bool> ShuttingDown{false};
// Set when the executor is gone: what fails after that only repeats it.
std::atomic<bool> ExecutorGone{false};
// The executor this program started, if any (-1 once it has been reaped).
pid_t ExecutorPid = -1;
// The lock clang should take while it parses (see ContextGuard).
jitslab::repl::ContextGuard SharedContext;

[[noreturn]] void fail(const Twine &Msg) {
  errs() << "jitslab-repl: " << Msg << "\n";
  std::exit(1);
}

template <typename T> T failOn(Expected<T> V, const Twine &Context) {
  if (!V)
    fail(Context + ": " + toString(V.takeError()));
  return std::move(*V);
}

struct Options {
  std::string Script = "-";
  std::string Executor, Connect;
  std::string Memory = "jitslab";
  std::string OrcRuntime = JITSLAB_ORC_RUNTIME;
  jitslab::Config Jitslab;
  std::vector<std::string> CompilerArgs;
  bool Strict = false, Stats = false, Time = false;

  bool outOfProcess() const { return !Executor.empty() || !Connect.empty(); }
};

uint64_t parseSize(StringRef Flag, StringRef S) {
  if (auto V = jitslab::parseSize(S))
    return *V;
  fail(Flag + ": '" + S + "' is not a size (examples: 4096, 64K, 512M, 1G)");
}

Options parseArgs(int Argc, char **Argv) {
  Options O;
  bool SawScript = false;
  for (int I = 1; I < Argc; ++I) {
    StringRef A = Argv[I];
    if (A == "-h" || A == "--help") {
      outs() << Usage;
      std::exit(0);
    } else if (A.consume_front("--executor=")) {
      O.Executor = A.str();
    } else if (A.consume_front("--connect=")) {
      O.Connect = A.str();
    } else if (A.consume_front("--memory=")) {
      O.Memory = A.str();
    } else if (A.consume_front("--slab-size=")) {
      O.Jitslab.setSlabSize(parseSize("--slab-size", A));
    } else if (A.consume_front("--orc-runtime=")) {
      O.OrcRuntime = A.str();
    } else if (A == "--strict") {
      O.Strict = true;
    } else if (A == "--stats") {
      O.Stats = true;
    } else if (A == "--time") {
      O.Time = true;
    } else if (A == "-Xcc") {
      if (++I == Argc)
        fail("-Xcc needs an argument");
      O.CompilerArgs.push_back(Argv[I]);
    } else if (A.starts_with("-") && A != "-") {
      fail("unknown option '" + A + "' (see --help)");
    } else if (SawScript) {
      fail("only one SCRIPT can be given (see --help)");
    } else {
      O.Script = A.str();
      SawScript = true;
    }
  }
  if (!O.Executor.empty() && !O.Connect.empty())
    fail("--executor and --connect cannot be used together");
  static const char *const InProcess[] = {"jitslab", "llvm-inprocess"};
  static const char *const OutOfProcess[] = {"jitslab", "llvm-epc", "llvm-shm"};
  ArrayRef<const char *> Known = O.outOfProcess() ? ArrayRef(OutOfProcess) : ArrayRef(InProcess);
  if (!is_contained(Known, O.Memory))
    fail("--memory=" + O.Memory + " is not available " +
         (O.outOfProcess() ? "out of process" : "in process") + "; choose one of: " +
         join(Known, ", "));
  return O;
}

/// Where linked code and data landed: the lowest and highest address of any block of any
/// graph this session linked, for the one-span check of %stats.
class AddressRecorder : public jitslab::PassPlugin {
public:
  void modifyPassConfig(MaterializationResponsibility &, jitlink::LinkGraph &,
                        jitlink::PassConfiguration &Config) override {
    Config.PostAllocationPasses.push_back([this](jitlink::LinkGraph &G) {
      std::lock_guard<std::mutex> Lock(M);
      for (auto *B : G.blocks()) {
        if (B->getSize() == 0)
          continue;
        uint64_t Lo = B->getAddress().getValue(), Hi = Lo + B->getSize();
        Lowest = std::min(Lowest, Lo);
        Highest = std::max(Highest, Hi);
      }
      ++Graphs;
      return Error::success();
    });
  }

  struct Range {
    uint64_t Lowest, Highest, Graphs;
  };
  Range get() {
    std::lock_guard<std::mutex> Lock(M);
    return {Graphs ? Lowest : 0, Highest, Graphs};
  }

private:
  std::mutex M;
  uint64_t Lowest = UINT64_MAX, Highest = 0, Graphs = 0;
};

/// Moves an input's static initializers (the functions llvm.global_ctors lists, in priority
/// order) into one new exported function, and returns its name, or "" if the input has none.
/// The driver runs it (in the executor) once the input is linked, where the JIT's platform
/// cannot be left to (ReplInterpreter::platformRunsInitializers).
std::string hoistInitializers(Module &M, unsigned Input) {
  GlobalVariable *Ctors = M.getNamedGlobal("llvm.global_ctors");
  if (!Ctors)
    return "";
  std::vector<std::tuple<uint64_t, size_t, Function *>> Fns; // priority, then list order
  if (auto *List = dyn_cast<ConstantArray>(Ctors->getInitializer()))
    for (Value *Entry : List->operands()) {
      auto *E = cast<ConstantStruct>(Entry);
      auto *F = dyn_cast<Function>(E->getOperand(1)->stripPointerCasts());
      if (F)
        Fns.emplace_back(cast<ConstantInt>(E->getOperand(0))->getZExtValue(), Fns.size(), F);
    }
  Ctors->eraseFromParent();
  if (Fns.empty())
    return "";
  std::sort(Fns.begin(), Fns.end());
  std::string Name = "__jitslab_repl_init." + std::to_string(Input);
  LLVMContext &Ctx = M.getContext();
  Function *Init = Function::Create(FunctionType::get(Type::getVoidTy(Ctx), false),
                                    GlobalValue::ExternalLinkage, Name, M);
  IRBuilder<> B(BasicBlock::Create(Ctx, "entry", Init));
  for (auto &[Priority, Order, F] : Fns)
    B.CreateCall(F->getFunctionType(), F);
  B.CreateRetVoid();
  return Name;
}

/// Reads inputs: one line, or several joined when a line ends in '\' or leaves brackets open.
/// Inputs of nothing but blanks and comments are skipped (clang would make each an empty
/// translation unit, which %undo would then count).
class InputReader {
public:
  /// With `Prompt`, each line is asked for on stdout (a terminal): "jitslab-repl> " for the first
  /// line of an input, "... " for the next ones.
  InputReader(std::istream &In, bool Prompt) : In(In), Prompt(Prompt) {}

  bool next(std::string &Input) {
    Input.clear();
    int Depth = 0;
    for (std::string Line; prompt(Input.empty()), std::getline(In, Line);) {
      bool Continued = !Line.empty() && Line.back() == '\\';
      if (Continued)
        Line.pop_back();
      Depth += bracketBalance(Line);
      Input += Line;
      Input += '\n';
      if (!Continued && Depth <= 0) {
        if (!hasCode(Input)) {
          Input.clear();
          Depth = 0;
          continue;
        }
        return true;
      }
    }
    return hasCode(Input);
  }

private:
  void prompt(bool First) {
    if (!Prompt)
      return;
    std::fputs(First ? "jitslab-repl> " : "... ", stdout);
    std::fflush(stdout);
  }

  // Whether `Text` holds anything but white space and comments.
  static bool hasCode(StringRef Text) {
    while (!(Text = Text.ltrim()).empty()) {
      if (Text.consume_front("//"))
        Text = Text.drop_until([](char C) { return C == '\n'; });
      else if (Text.consume_front("/*"))
        Text = Text.drop_front(std::min(Text.size(), Text.find("*/") + 2));
      else
        return true;
    }
    return false;
  }

  // Opening minus closing brackets in `Line`, skipping string and character literals and
  // comments to the end of the line.
  static int bracketBalance(StringRef Line) {
    int D = 0;
    char Quote = 0;
    for (size_t I = 0; I < Line.size(); ++I) {
      char C = Line[I];
      if (Quote) {
        if (C == '\\')
          ++I;
        else if (C == Quote)
          Quote = 0;
      } else if (C == '"' || C == '\'') {
        Quote = C;
      } else if (C == '/' && I + 1 < Line.size() && Line[I + 1] == '/') {
        break;
      } else if (C == '{' || C == '(' || C == '[') {
        ++D;
      } else if (C == '}' || C == ')' || C == ']') {
        --D;
      }
    }
    return D;
  }

  std::istream &In;
  bool Prompt;
};

/// The names an input's module defines for other inputs to use (what ORC puts in the
/// JITDylib's symbol table).
std::vector<std::string> definedSymbols(const Module &M) {
  std::vector<std::string> Names;
  for (const GlobalValue &GV : M.global_values())
    if (!GV.isDeclaration() && !GV.hasLocalLinkage() && GV.hasName() &&
        !GV.getName().starts_with("llvm."))
      Names.push_back(GV.getName().str());
  return Names;
}

/// Links a parsed input (Execute, which runs its initializers where the platform does), then
/// runs its hoisted initializers (`Init`, "" for none).
///
/// The input is linked in full at its own turn, by looking up everything it defines, so that
/// a mistake in any of its definitions fails this input, which is then taken back, and not a
/// later one that calls into it (leaving a definition that can be neither used nor redefined).
/// On LLVM 19 the lookup also keeps code from running too early: its ObjectLinkingLayer records
/// no dependencies between graphs, so a lookup can return while a graph it calls into is still
/// being finalized on another thread; out of process that is a jump into a page the executor
/// has not made executable yet. Linking every input at its own turn means a later input only
/// ever calls into finalized code (LLVM 22 waits for the graphs a lookup depends on:
/// jitslab::compat::LookupWaitsForDependencies).
Error linkAndInitialize(jitslab::repl::ReplInterpreter &Interp, clang::PartialTranslationUnit &PTU,
                        const std::string &Init, const std::vector<std::string> &Defined) {
  if (Error E = Interp.clang().Execute(PTU))
    return E;
  auto J = Interp.jit();
  if (!J)
    return J.takeError();
  ExecutionSession &ES = J->getExecutionSession();
  SymbolLookupSet Wanted;
  for (auto &Name : Defined)
    Wanted.add(J->mangleAndIntern(Name), SymbolLookupFlags::WeaklyReferencedSymbol);
  auto Found = ES.lookup({{&J->getMainJITDylib(), JITDylibLookupFlags::MatchAllSymbols}},
                         std::move(Wanted));
  if (!Found)
    return Found.takeError();
  if (Init.empty())
    return Error::success();
  auto Addr = Found->find(J->mangleAndIntern(Init));
  if (Addr == Found->end())
    return make_error<StringError>("the input's initializers were not linked",
                                   inconvertibleErrorCode());
  auto Status = ES.getExecutorProcessControl().runAsVoidFunction(Addr->second.getAddress());
  return Status ? Error::success() : Status.takeError();
}

/// Runs one input: parse, hoist its initializers (where the platform cannot run them), link it,
/// run them, and print the value of a final expression. Returns false if clang rejected the
/// input (it has printed why); an input that fails to link or run is taken back, as if undone,
/// and the error returned.
///
/// Not Interpreter::ParseAndExecute: its caller cannot tell an input that clang rejected (and
/// that Undo must not take back) from one that failed to link, cannot reach the module between
/// parsing and linking, and on LLVM 19 gets values that all print "Not implement yet.".
// Where --time says the session's time went: parsing and generating IR, and linking and
// running (the JIT's compile of the IR, the link, the memory manager, the input's code).
double ParseMs = 0, LinkRunMs = 0;

Expected<bool> runInput(jitslab::repl::ReplInterpreter &Interp, StringRef Input) {
  static unsigned Hoisted = 0; // names the initializer functions, never reused after %undo
  std::string Init;
  std::vector<std::string> Defined;
  clang::PartialTranslationUnit *PTU = nullptr;
  auto T0 = std::chrono::steady_clock::now();
  SharedContext.whileLocked([&] {
    auto Parsed = Interp.clang().Parse(Input);
    if (!Parsed) {
      consumeError(Parsed.takeError()); // "Parsing failed."; clang printed the diagnostics
      return;
    }
    PTU = &*Parsed;
    if (!PTU->TheModule)
      return;
    Interp.prepareModule(*PTU->TheModule);
    if (!Interp.platformRunsInitializers())
      Init = hoistInitializers(*PTU->TheModule, ++Hoisted);
    Defined = definedSymbols(*PTU->TheModule);
  });
  if (!PTU)
    return false;
  if (!PTU->TheModule)
    return true;
  auto T1 = std::chrono::steady_clock::now();
  Error Linked = linkAndInitialize(Interp, *PTU, Init, Defined);
  auto T2 = std::chrono::steady_clock::now();
  ParseMs += std::chrono::duration<double, std::milli>(T1 - T0).count();
  LinkRunMs += std::chrono::duration<double, std::milli>(T2 - T1).count();
  if (Error E = std::move(Linked)) {
    if (Error U = Interp.clang().Undo(1))
      E = joinErrors(std::move(E), std::move(U));
    return std::move(E);
  }
  std::fflush(stdout); // JIT'd code's output first
  if (Interp.printValue(outs()))
    outs().flush();
  return true;
}

/// The figures %stats prints: one line of key=value pairs, for tests and tools.
std::string statsLine(jitslab::MemoryManager *Slab, AddressRecorder &Addresses, pid_t Executor,
                      unsigned UserInputs) {
  std::string S;
  raw_string_ostream OS(S);
  auto R = Addresses.get();
  OS << "jitslab-repl: inputs=" << UserInputs << " graphs=" << R.Graphs
     << format(" lowest=0x%llx highest=0x%llx", (unsigned long long)R.Lowest,
               (unsigned long long)R.Highest);
  if (Slab) {
    if (auto St = Slab->stats()) {
      uint64_t Live = 0, Segments = 0;
      for (auto &P : St->pools) {
        Live += P.live;
        Segments += P.live_segments;
      }
      OS << format(" slab_base=0x%llx slab_size=%llu", (unsigned long long)St->base,
                   (unsigned long long)St->reserved)
         << " live_bytes=" << Live << " live_segments=" << Segments
         << " live_allocations=" << St->live_allocations;
    } else {
      OS << " stats_error=\"" << toString(St.takeError()) << "\"";
    }
  }
  if (Executor > 0) {
    auto F = jitslab::processFootprint(std::to_string(Executor));
    OS << " executor_rss_kib=" << F.RssKiB << " executor_shmem_kib=" << F.ShmemKiB
       << " executor_mappings=" << F.Mappings;
  }
  return S;
}

} // namespace

int main(int Argc, char **Argv) {
  Options O = parseArgs(Argc, Argv);
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  auto T0 = std::chrono::steady_clock::now();

  std::ifstream File;
  if (O.Script != "-") {
    File.open(O.Script);
    if (!File)
      fail("cannot read '" + O.Script + "'");
  }
  std::istream &In = O.Script == "-" ? std::cin : File;

  // The executor (out of process) and the LLJIT that links into it.
  std::unique_ptr<ExecutorProcessControl> EPC;
  if (O.outOfProcess()) {
    auto Conn = failOn(O.Executor.empty() ? jitslab::connectExecutor(O.Connect)
                                          : jitslab::spawnExecutor(O.Executor),
                       "starting the executor");
    ExecutorPid = Conn.Pid;
    EPC = std::move(Conn.EPC);
  } else {
    EPC = failOn(jitslab::compat::createSelfEPC(), "creating the executor process control");
  }
  auto JTMB = failOn(JITTargetMachineBuilder::detectHost(), "detecting the host");
  // What LLJIT picks by itself for JITLink, but only when it creates the linking layer.
  JTMB.setRelocationModel(Reloc::PIC_);
  JTMB.setCodeModel(CodeModel::Small);

  jitslab::MemoryManager *Slab = nullptr;
  auto Addresses = std::make_shared<AddressRecorder>();
  auto JB = std::make_unique<LLJITBuilder>();
  JB->setJITTargetMachineBuilder(std::move(JTMB));
  JB->setExecutorProcessControl(std::move(EPC));
  JB->setObjectLinkingLayerCreator(jitslab::compat::layerCreator([&](ExecutionSession &ES)
                                       -> Expected<std::unique_ptr<ObjectLayer>> {
    // Session errors (a failed link, a lost executor) are printed like any other error, from
    // the first moment this program sees the session. The connection's own end is not one when
    // the executor hangs up at teardown, or when this program started the executor and will
    // say how it ended.
    ES.setErrorReporter([](Error Err) {
      std::string Msg = toString(std::move(Err));
      bool Hangup = Msg == "FD-transport disconnected";
      if (!ExecutorGone && !(Hangup && (ShuttingDown || ExecutorPid > 0)))
        errs() << "error: " << Msg << "\n";
    });
    auto MM = jitslab::createMemoryManagerByName(O.Memory, ES.getExecutorProcessControl(),
                                                 O.outOfProcess(), O.Jitslab, Slab);
    if (!MM)
      return MM.takeError();
    auto L = std::make_unique<ObjectLinkingLayer>(ES, std::move(*MM));
    // Out of process, the ORC runtime's platform registers exception frames itself. In
    // process, LLVM's own plugin does: a call per graph on 19, an allocation action on 22.
    if (!O.outOfProcess()) {
      auto P = jitslab::compat::LLVMRegistersEHFramesByActions
                   ? jitslab::compat::createEHFrameActionsPlugin(ES)
                   : jitslab::compat::createEHFrameCallsPlugin(ES);
      if (!P)
        return P.takeError();
      L->addPlugin(std::move(*P));
    }
    L->addPlugin(std::make_shared<jitslab::ContiguousEHFramePlugin>());
    L->addPlugin(Addresses);
    return L;
  }));
  // Learns the LLVMContext for ContextGuard from the first module the JIT transforms.
  JB->setPrePlatformSetup([](LLJIT &J) {
    J.getIRTransformLayer().setTransform(
        [](ThreadSafeModule TSM, MaterializationResponsibility &) -> Expected<ThreadSafeModule> {
          SharedContext.learn(TSM.getContext());
          return std::move(TSM);
        });
    return Error::success();
  });
  if (O.outOfProcess())
    JB->setPlatformSetUp(jitslab::repl::orcRuntimePlatform(O.OrcRuntime));

  clang::IncrementalCompilerBuilder CB;
  std::vector<const char *> ClangArgs;
  for (auto &A : O.CompilerArgs)
    ClangArgs.push_back(A.c_str());
  CB.SetCompilerArgs(ClangArgs);
  auto CI = failOn(CB.CreateCpp(), "creating the compiler");
  auto Interp = failOn(
      jitslab::repl::ReplInterpreter::create(std::move(CI), std::move(JB), !O.outOfProcess()),
      "creating the interpreter");

  unsigned UserInputs = 0, Failures = 0;
  InputReader Reader(In, O.Script == "-" && isatty(0) && isatty(1));
  for (std::string Input; Reader.next(Input);) {
    StringRef Cmd = StringRef(Input).trim();
    if (Cmd == "%quit")
      break;
    if (Cmd == "%stats") {
      std::fflush(stdout);
      errs() << statsLine(Slab, *Addresses, ExecutorPid, UserInputs) << "\n";
      continue;
    }
    if (Cmd.consume_front("%undo")) {
      unsigned N = 1;
      if (!Cmd.trim().empty() && (Cmd.trim().getAsInteger(10, N) || N == 0)) {
        errs() << "error: %undo takes a positive count of inputs\n";
        ++Failures;
        continue;
      }
      if (N > UserInputs) {
        errs() << "error: %undo " << N << ": there " << (UserInputs == 1 ? "is" : "are") << " only "
               << UserInputs << " input" << (UserInputs == 1 ? "" : "s") << " to undo\n";
        ++Failures;
        continue;
      }
      if (Error E = Interp->clang().Undo(N)) {
        errs() << "error: " << toString(std::move(E)) << "\n";
        ++Failures;
        continue;
      }
      UserInputs -= N;
      continue;
    }
    if (Cmd.starts_with("%")) {
      errs() << "error: unknown command '" << Cmd << "' (%undo [N], %stats, %quit)\n";
      ++Failures;
      continue;
    }

    auto Ran = runInput(*Interp, Input);
    if (Ran && *Ran) {
      ++UserInputs;
    } else {
      ++Failures;
      std::string Msg = Ran ? "" : toString(Ran.takeError());
      std::string Fate = jitslab::executorFate(ExecutorPid, 200);
      if (!Fate.empty()) {
        ExecutorGone = true;
        errs() << "error: " << Fate << "; the session cannot go on\n";
        break;
      }
      if (!Msg.empty())
        errs() << "error: " << Msg << "\n";
    }
    if (Interp->takeSkippedValue())
      errs() << "note: the value of an expression is not printed out of process (clang stores "
                "values from inside the interpreter's own process); it was evaluated\n";
    std::fflush(stdout);
  }

  std::fflush(stdout);
  double Ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - T0)
                  .count();
  if (O.Stats) {
    errs() << statsLine(Slab, *Addresses, ExecutorPid, UserInputs) << "\n";
    if (Slab)
      errs() << failOn(Slab->statsText(), "--stats") << "\n"
             << failOn(Slab->heapMap(), "--stats") << "\n";
  }
  if (O.Time)
    errs() << format("jitslab-repl: session: %.1f ms (parse %.1f ms, compile, link and run "
                     "%.1f ms)\n",
                     Ms, ParseMs, LinkRunMs);
  // The end of the session: static destructors of JIT'd code run (in the executor, out of
  // process), the executor is told to hang up, and this program exits without tearing the
  // interpreter down, as jitslab-run does. Tearing it down out of process is unsafe in LLVM 19:
  // DynamicThreadPoolTaskDispatcher frees its mutex while a worker thread can still lock it,
  // which corrupted the heap in about one session in ten under load. LLVM 22 did not show that
  // race (80 sessions torn down), but its ~Interpreter deinitializes the JITDylib once more and
  // ends the program with report_fatal_error if that fails (a dead executor), and out of
  // process, after the disconnect below, it did not return at all.
  ShuttingDown = true;
  if (auto J = Interp->jit()) {
    Error E = J->deinitialize(J->getMainJITDylib());
    if (E && ExecutorGone) {
      consumeError(std::move(E)); // nothing to run the destructors in, as already said
    } else if (E) {
      errs() << "error: running static destructors: " << toString(std::move(E)) << "\n";
      ++Failures;
    }
    // A child executor exits when told to hang up. One reached with --connect just sees the
    // connection close when this program exits: disconnect would wait for ever on a socket
    // that executor keeps open.
    if (ExecutorPid > 0 && !ExecutorGone)
      if (Error E = J->getExecutionSession().getExecutorProcessControl().disconnect())
        errs() << "error: disconnecting from the executor: " << toString(std::move(E)) << "\n";
  } else {
    consumeError(J.takeError());
  }
  std::fflush(stdout);
  if (ExecutorPid > 0) {
    // As in jitslab-run: the executor flushes the session's output when it exits, so one that
    // does not exit cleanly is an error.
    int ExitStatus = 0;
    pid_t Pid = ExecutorPid;
    std::string Fate = jitslab::executorFate(ExecutorPid, 5000, &ExitStatus);
    if (Fate.empty()) {
      jitslab::reapExecutor(std::exchange(ExecutorPid, -1), 0);
      errs() << "error: the executor (pid " << Pid << ") did not exit within 5 s\n";
      ExecutorGone = true;
    } else if (!WIFEXITED(ExitStatus) || WEXITSTATUS(ExitStatus) != 0) {
      errs() << "error: " << Fate << " at the end of the session; its output may be incomplete\n";
      ExecutorGone = true;
    }
  }
  errs().flush();
  (void)Interp.release();
  std::exit(ExecutorGone || (O.Strict && Failures) ? 1 : 0);
}
