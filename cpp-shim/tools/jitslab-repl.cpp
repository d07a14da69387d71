//===- jitslab-repl.cpp - incremental C++ on clang's Interpreter and jitslab ----===//
//
//   jitslab-repl [options] [SCRIPT]
//
// A clang-repl-like interpreter whose JIT'd inputs all live in one jitslab slab: in this
// process, or in an executor process (--executor) over memory shared with it. Reads C++ input
// by input from SCRIPT or stdin: declarations, statements and expressions, `%undo [N]` (removes
// the last N inputs and frees their memory), `%stats`, `%quit`.
//
// How it plugs in: LLVM 19's clang::Interpreter takes an LLJITBuilder only through its protected
// constructor, so JitslabInterpreter derives from it and hands over a builder whose object
// linking layer uses jitslab (or, for comparison, one of LLVM's managers). Three things
// Interpreter::create does are private and done here instead:
//  - the value-printing runtime's declarations are parsed and executed as the first input
//    (in process only: that runtime lives in libclang-cpp, in this process);
//  - the table those declarations are looked up into is sized (through the const accessor,
//    see enableValuePrinting);
//  - the boundary below which %undo must not go is kept by this driver (UserInputs).
// Out of process, an expression's value cannot be printed (LLVM 19's value printing calls back
// into the Interpreter object): the expression is evaluated and a note says so.
//
//===----------------------------------------------------------------------===//

#include "Executor.h"
#include "jitslab/PassPlugin.h"
#include "jitslab/EHFrameFix.h"
#include "jitslab/MemoryManager.h"

#include "clang/AST/Expr.h"
#include "clang/Basic/Diagnostic.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Interpreter/Interpreter.h"
#include "clang/Sema/Ownership.h"
#include "clang/Sema/Sema.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ExecutionEngine/JITLink/EHFrameSupport.h"
#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/EPCEHFrameRegistrar.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/ManagedStatic.h"
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
                          jitslab-executor or /usr/lib/llvm-19/bin/llvm-jitlink-executor
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

/// How an expression's value reaches the driver. clang::Interpreter turns an input that ends in
/// an expression into a call that stores the value into its own private Value, which only its
/// ParseAndExecute reads. This driver runs inputs itself (see runInput), so in process the call
/// is built by LLVM's runtime interface but made to store into `Out`, a Value of the driver's.
/// Out of process, the store would call into this process, which code in the executor cannot
/// reach: the expression is left as it is (evaluated, value discarded) and `Skipped` is set.
class ValueCapture : public clang::RuntimeInterfaceBuilder {
public:
  ValueCapture(std::unique_ptr<clang::RuntimeInterfaceBuilder> InProcess, clang::Sema &S)
      : Base(std::move(InProcess)), S(S) {}
  TransformExprFunction *getPrintValueTransformer() override { return &transform; }

  clang::Value Out;
  bool Skipped = false;

private:
  static clang::ExprResult transform(RuntimeInterfaceBuilder *Self, clang::Expr *E,
                                     ArrayRef<clang::Expr *> Args) {
    auto &C = *static_cast<ValueCapture *>(Self);
    if (!C.Base) {
      C.Skipped = true;
      return E;
    }
    // Args are (the interpreter, where to store the value); only the second changes.
    clang::ASTContext &Ctx = C.S.getASTContext();
    auto *Addr = clang::IntegerLiteral::Create(
        Ctx, APInt(Ctx.getTypeSize(Ctx.UnsignedLongLongTy), uintptr_t(&C.Out)),
        Ctx.UnsignedLongLongTy, clang::SourceLocation());
    clang::ExprResult Ptr = C.S.BuildCStyleCastExpr(
        clang::SourceLocation(), Ctx.getTrivialTypeSourceInfo(Ctx.VoidPtrTy),
        clang::SourceLocation(), Addr);
    if (Ptr.isInvalid() || Args.size() != 2)
      return E;
    clang::Expr *Redirected[] = {Args[0], Ptr.get()};
    return C.Base->getPrintValueTransformer()(C.Base.get(), E, Redirected);
  }

  std::unique_ptr<clang::RuntimeInterfaceBuilder> Base; // null out of process
  clang::Sema &S;
};

/// Out of process, LLVM 19's ORC runtime runs a JITDylib's initializers at its first dlopen
/// only (later ones just count references), and LLJIT asks for a dlopen after every input. So
/// the first initialize goes to the runtime (which sets up the JITDylib, and with it
/// __cxa_atexit), later ones do nothing: each input's initializers are run by the driver
/// instead (see hoistInitializers). Deinitialize closes what the first initialize opened,
/// which runs the destructors that JIT'd code registered.
class IncrementalORCPlatformSupport : public ORCPlatformSupport {
public:
  using ORCPlatformSupport::ORCPlatformSupport;
  Error initialize(JITDylib &JD) override {
    if (!Opened.insert(&JD).second)
      return Error::success();
    return ORCPlatformSupport::initialize(JD);
  }
  Error deinitialize(JITDylib &JD) override {
    if (!Opened.erase(&JD))
      return Error::success();
    return ORCPlatformSupport::deinitialize(JD);
  }

private:
  SmallPtrSet<JITDylib *, 2> Opened;
};

/// The LLVMContext that clang generates IR into and that the JIT compiles and frees modules in.
/// clang::Interpreter parses without taking the context's lock (it keeps its ThreadSafeContext
/// private), which is safe only while the JIT does its work on the same thread. Out of process,
/// ORC materializes on the executor connection's thread pool, and a compiled module is freed
/// there (under the lock) while the next input is being parsed: the driver takes the lock around
/// parsing. The context is learned from the first module the JIT transforms.
class ContextGuard {
public:
  void learn(const ThreadSafeContext &C) {
    std::lock_guard<std::mutex> L(M);
    if (!Ctx)
      Ctx = C;
  }
  std::optional<ThreadSafeContext::Lock> lock() {
    std::lock_guard<std::mutex> L(M);
    if (!Ctx)
      return std::nullopt; // no module compiled yet, so none can be freed concurrently
    return Ctx->getLock();
  }

private:
  std::mutex M;
  std::optional<ThreadSafeContext> Ctx;
};
ContextGuard SharedContext;

/// Moves an input's static initializers (the functions llvm.global_ctors
/// lists, in priority order) into one new exported function, and returns its name, or "" if
/// the input has none. The driver runs it (in the executor) once the input is linked.
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

// Declarations of the value-printing runtime that LLVM 19's clang::Interpreter looks up by name
// (the definitions are in libclang-cpp, in this process). Interpreter::create parses the same
// interface before any user input; a derived class has to supply it.
const char *const ValuePrintingRuntime = R"(
#define __CLANG_REPL__ 1
void *__clang_Interpreter_SetValueWithAlloc(void *, void *, void *);
struct __clang_Interpreter_NewTag {} __ci_newtag;
void *operator new(__SIZE_TYPE__, void *, __clang_Interpreter_NewTag) noexcept;
template <class T, class = T (*)()>
void __clang_Interpreter_SetValueCopyArr(T *From, void *To, unsigned long N) {
  for (unsigned long I = 0; I < N; ++I)
    new ((void *)(((T *)To) + I), __ci_newtag) T(From[I]);
}
template <class T, unsigned long M>
void __clang_Interpreter_SetValueCopyArr(const T (*From)[M], void *To, unsigned long N) {
  __clang_Interpreter_SetValueCopyArr(From[0], To, N);
}
extern "C" void __clang_Interpreter_SetValueNoAlloc(void *, void *, void *, ...);
)";

/// clang::Interpreter with an LLJITBuilder of our choosing. See the file comment.
class JitslabInterpreter : public clang::Interpreter {
public:
  static Expected<std::unique_ptr<JitslabInterpreter>>
  create(std::unique_ptr<clang::CompilerInstance> CI, std::unique_ptr<LLJITBuilder> JB,
         bool InProcess) {
    Error Err = Error::success();
    std::unique_ptr<JitslabInterpreter> I(
        new JitslabInterpreter(std::move(CI), Err, std::move(JB), InProcess));
    if (Err)
      return std::move(Err);
    if (InProcess) {
      if (Error E = I->enableValuePrinting())
        return std::move(E);
    }
    return std::move(I);
  }

  /// The value of the last input that ended in an expression, if it was captured (cleared by
  /// the call), and whether one went unprinted because the code runs out of process.
  std::optional<clang::Value> takeValue() {
    if (!Capture || !Capture->Out.isValid())
      return std::nullopt;
    std::optional<clang::Value> V(std::move(Capture->Out));
    Capture->Out.clear();
    return V;
  }
  bool takeSkippedValue() { return Capture && std::exchange(Capture->Skipped, false); }

protected:
  // Called once, at the first input that ends in an expression.
  std::unique_ptr<clang::RuntimeInterfaceBuilder> FindRuntimeInterface() override {
    auto C = std::make_unique<ValueCapture>(InProcess ? Interpreter::FindRuntimeInterface()
                                                      : nullptr,
                                            getCompilerInstance()->getSema());
    Capture = C.get();
    return C;
  }

private:
  JitslabInterpreter(std::unique_ptr<clang::CompilerInstance> CI, Error &Err,
                     std::unique_ptr<LLJITBuilder> JB, bool InProcess)
      : Interpreter(std::move(CI), Err, std::move(JB)), InProcess(InProcess) {}

  Error enableValuePrinting() {
    // The base class looks the four runtime entry points up into a table that only
    // Interpreter::create sizes (the member is private; its accessor is const, the object
    // is not).
    auto &Table = const_cast<SmallVectorImpl<clang::Expr *> &>(getValuePrintingInfo());
    Table.resize(4);
    return ParseAndExecute(ValuePrintingRuntime);
  }

  bool InProcess;
  ValueCapture *Capture = nullptr; // owned by the base class once made
};

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

/// Prints an expression's value as "(type) value". LLVM 19's Value::print says "Not implement
/// yet." for every value, so the driver prints what the Value holds itself: scalars by kind,
/// everything else (pointers, objects held by address) as an address.
void printValue(const clang::Value &V, raw_ostream &OS) {
  OS << "(" << V.getType().getAsString(V.getASTContext().getPrintingPolicy()) << ") ";
  using K = clang::Value::Kind;
  switch (V.getKind()) {
  case K::K_Bool:
    OS << (V.getBool() ? "true" : "false");
    break;
  case K::K_Char_S:
  case K::K_SChar:
  case K::K_Char_U:
  case K::K_UChar: {
    int C = V.getKind() == K::K_Char_S || V.getKind() == K::K_SChar ? V.getSChar() : V.getUChar();
    if (C >= 0x20 && C < 0x7f)
      OS << "'" << char(C) << "'";
    else
      OS << C;
    break;
  }
  case K::K_Short: OS << V.getShort(); break;
  case K::K_UShort: OS << V.getUShort(); break;
  case K::K_Int: OS << V.getInt(); break;
  case K::K_UInt: OS << V.getUInt(); break;
  case K::K_Long: OS << V.getLong(); break;
  case K::K_ULong: OS << V.getULong(); break;
  case K::K_LongLong: OS << V.getLongLong(); break;
  case K::K_ULongLong: OS << V.getULongLong(); break;
  case K::K_Float: OS << format("%g", V.getFloat()); break;
  case K::K_Double: OS << format("%g", V.getDouble()); break;
  case K::K_LongDouble: OS << format("%Lg", V.getLongDouble()); break;
  default:
    OS << format("0x%llx", (unsigned long long)(uintptr_t)V.getPtr());
    break;
  }
  OS << "\n";
}

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

/// Links a parsed input, then runs its initializers (`Init`, "" for none).
///
/// The input is linked in full before any of its code runs, by looking up everything it defines.
/// LLVM 19's ObjectLinkingLayer records no dependencies between graphs, so a lookup can return
/// while a graph it calls into is still being finalized on another thread; out of process that
/// is a jump into a page the executor has not made executable yet. Linking every input at its
/// own turn means a later input only ever calls into finalized code.
Error linkAndInitialize(JitslabInterpreter &Interp, clang::PartialTranslationUnit &PTU,
                        const std::string &Init, const std::vector<std::string> &Defined) {
  if (Error E = Interp.Execute(PTU))
    return E;
  auto J = Interp.getExecutionEngine();
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

/// Runs one input: parse, hoist its initializers, link it, run them, and print the value of
/// a final expression. Returns false if clang rejected the input (it has printed why); an input
/// that fails to link or run is taken back, as if undone, and the error returned.
///
/// Not Interpreter::ParseAndExecute, for two reasons. LLVM 19 runs each input's initializers
/// through the JIT's platform, and both platforms fail this REPL: the ORC runtime (out of
/// process) runs initializers at the first dlopen only, and LLJIT's in-process platform keeps
/// asking for the initializers of an input that failed to link, even after it is undone, so
/// every later input fails too. And the values ParseAndExecute prints all read "Not implement
/// yet." (see printValue).
// Where --time says the session's time went: parsing and generating IR, and linking and
// running (the JIT's compile of the IR, the link, the memory manager, the input's code).
double ParseMs = 0, LinkRunMs = 0;

Expected<bool> runInput(JitslabInterpreter &Interp, StringRef Input) {
  static unsigned Hoisted = 0; // names the initializer functions, never reused after %undo
  std::string Init;
  std::vector<std::string> Defined;
  clang::PartialTranslationUnit *PTU;
  auto T0 = std::chrono::steady_clock::now();
  {
    auto Lock = SharedContext.lock();
    auto Parsed = Interp.Parse(Input);
    if (!Parsed) {
      consumeError(Parsed.takeError()); // "Parsing failed."; clang printed the diagnostics
      return false;
    }
    PTU = &*Parsed;
    if (!PTU->TheModule)
      return true;
    Init = hoistInitializers(*PTU->TheModule, ++Hoisted);
    Defined = definedSymbols(*PTU->TheModule);
  }
  auto T1 = std::chrono::steady_clock::now();
  Error Linked = linkAndInitialize(Interp, *PTU, Init, Defined);
  auto T2 = std::chrono::steady_clock::now();
  ParseMs += std::chrono::duration<double, std::milli>(T1 - T0).count();
  LinkRunMs += std::chrono::duration<double, std::milli>(T2 - T1).count();
  if (Error E = std::move(Linked)) {
    if (Error U = Interp.Undo(1))
      E = joinErrors(std::move(E), std::move(U));
    return std::move(E);
  }
  if (auto V = Interp.takeValue()) {
    std::fflush(stdout); // JIT'd code's output first
    printValue(*V, outs());
    outs().flush();
  }
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
    EPC = failOn(SelfExecutorProcessControl::Create(), "creating the executor process control");
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
  JB->setObjectLinkingLayerCreator([&](ExecutionSession &ES, const Triple &)
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
    // Out of process, the ORC runtime's platform registers exception frames itself.
    if (!O.outOfProcess()) {
      auto R = EPCEHFrameRegistrar::Create(ES);
      if (!R)
        return R.takeError();
      L->addPlugin(std::make_unique<EHFrameRegistrationPlugin>(ES, std::move(*R)));
    }
    L->addPlugin(std::make_shared<jitslab::ContiguousEHFramePlugin>());
    L->addPlugin(Addresses);
    return L;
  });
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
    JB->setPlatformSetUp([&](LLJIT &J) -> Expected<JITDylibSP> {
      auto PlatformJD = ExecutorNativePlatform(O.OrcRuntime)(J);
      if (PlatformJD)
        J.setPlatformSupport(std::make_unique<IncrementalORCPlatformSupport>(J));
      return PlatformJD;
    });

  clang::IncrementalCompilerBuilder CB;
  std::vector<const char *> ClangArgs;
  for (auto &A : O.CompilerArgs)
    ClangArgs.push_back(A.c_str());
  CB.SetCompilerArgs(ClangArgs);
  auto CI = failOn(CB.CreateCpp(), "creating the compiler");
  auto Interp = failOn(JitslabInterpreter::create(std::move(CI), std::move(JB), !O.outOfProcess()),
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
      if (Error E = Interp->Undo(N)) {
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
      errs() << "note: the value of an expression is not printed out of process (LLVM 19 "
                "prints values from inside the interpreter's own process); it was evaluated\n";
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
  // which corrupted the heap in about one session in ten under load.
  ShuttingDown = true;
  if (auto J = Interp->getExecutionEngine()) {
    Error E = J->deinitialize(J->getMainJITDylib());
    if (E && ExecutorGone) {
      consumeError(std::move(E)); // nothing to run the destructors in, as already said
    } else if (E) {
      errs() << "error: running static destructors: " << toString(std::move(E)) << "\n";
      ++Failures;
    }
    if (O.outOfProcess() && !ExecutorGone)
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
