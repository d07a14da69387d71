//===- main.cpp - jitslab-repl: incremental C++ on clang's Interpreter and jitslab ===//
//
//   jitslab-repl [options] [SCRIPT | CODE]...
//
// A clang-repl-like interpreter whose JIT'd inputs all live in one jitslab slab: in this
// process, or in an executor process (--executor) over memory shared with it. Runs CODE given
// on the command line, then reads C or C++ input by input from SCRIPT or stdin: declarations,
// statements and expressions, `%undo [N]` (removes the last N inputs and frees their memory),
// `%lib PATH`, `%stats`, `%help`, `%quit`.
//
// How it plugs in: clang::Interpreter is handed an LLJITBuilder whose object linking layer
// uses jitslab (or, for comparison, one of LLVM's managers); the driver runs each input itself
// (runInput) and keeps the boundary below which %undo must not go (UserInputs). How the builder
// reaches clang, and how an expression's value comes back, differ between LLVM 19 and 22: that
// is InterpreterCompat.h, the one place where this tool's code depends on the major.
//
// The tool's parts: Options (the command line), Session (process-wide state, fail), Inputs
// (reading, running and counting inputs), InterpreterCompat, and this driver.
//
//===----------------------------------------------------------------------===//

#include "CheckedTransport.h"
#include "Executors.h"
#include "Inputs.h"
#include "InterpreterCompat.h"
#include "Managers.h"
#include "Options.h"
#include "Session.h"
#include "jitslab/EHFrameFix.h"
#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"

#include "clang/Basic/Diagnostic.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/FrontendOptions.h"
#include "clang/Interpreter/Interpreter.h"

#include "llvm/ExecutionEngine/Orc/EPCDynamicLibrarySearchGenerator.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

using namespace llvm;
using namespace llvm::orc;
using namespace jitslab::repl;

namespace {

const char *const CommandHelp = R"(%undo [N]     remove the last N inputs (default 1)
%lib PATH     load a shared library for later inputs
%stats        print one line of figures on stderr
%help         list these commands
%quit         end the session
)";

/// Whether clang generates code for the inputs. With -fsyntax-only, -ast-dump or -ast-print it
/// only parses them (clang's interpreter picks the action the same way): nothing would ever run
/// in an executor, so none is started.
bool generatesCode(const clang::CompilerInstance &CI) {
  switch (CI.getFrontendOpts().ProgramAction) {
  case clang::frontend::ParseSyntaxOnly:
  case clang::frontend::ASTDump:
  case clang::frontend::ASTPrint:
    return false;
  default:
    return true;
  }
}

/// Whether clang's diagnostics are checked against `expected-*` comments (-Xclang -verify).
bool verifiesDiagnostics(const clang::CompilerInstance &CI) {
  return CI.getDiagnosticOpts().VerifyDiagnostics;
}

/// With -verify, ends the verifier's source file, which is when it reports the expected
/// diagnostics not seen and the unexpected ones; true if it reported any. The verifier is left
/// begun again, as clang's interpreter expects its begin and end calls to pair.
bool verifierFailed(clang::CompilerInstance &CI) {
  clang::DiagnosticConsumer *Client = CI.getDiagnostics().getClient();
  Client->EndSourceFile();
  bool Failed = Client->getNumErrors() != 0;
  Client->BeginSourceFile(CI.getLangOpts(), &CI.getPreprocessor());
  return Failed;
}

/// %lib: the library is opened where the code runs (this process, or the executor) and its
/// symbols are found by later inputs.
Error loadLibrary(ReplInterpreter &Interp, StringRef Path) {
  auto J = Interp.jit();
  if (!J)
    return J.takeError();
  auto G = EPCDynamicLibrarySearchGenerator::Load(J->getExecutionSession(), Path.str().c_str());
  if (!G)
    return G.takeError();
  J->getMainJITDylib().addGenerator(std::move(*G));
  return Error::success();
}

} // namespace

int main(int Argc, char **Argv) {
  Options O = parseOptions(Argc, Argv);
  // The executor starts while the compiler is set up; the handshake comes after.
  if (O.outOfProcess() && !O.Executor.empty())
    jitslab::startExecutorEarly(O.Executor.c_str(), environ);
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  InitializeNativeTargetAsmParser(); // inline assembly in an input
  auto T0 = std::chrono::steady_clock::now();

  std::ifstream File;
  if (!O.Script.empty() && O.Script != "-") {
    File.open(O.Script);
    if (!File)
      fail("cannot read '" + O.Script + "'");
  }
  std::istream &In = O.Script == "-" ? std::cin : File;

  clang::IncrementalCompilerBuilder CB;
  std::vector<const char *> ClangArgs;
  for (auto &A : O.CompilerArgs)
    ClangArgs.push_back(A.c_str());
  CB.SetCompilerArgs(ClangArgs);
  auto CI = failOn(CB.CreateCpp(), "creating the compiler");
  const bool Codegen = generatesCode(*CI), Verify = verifiesDiagnostics(*CI);
  const bool OutOfProcess = O.outOfProcess() && Codegen;
  if (!Codegen)
    O.Memory = "jitslab"; // valid in process, and never used: nothing is linked

  // The executor (out of process) and the LLJIT that links into it.
  std::unique_ptr<ExecutorProcessControl> EPC;
  if (OutOfProcess) {
    auto Conn = failOn(O.Executor.empty() ? jitslab::connectExecutor(O.Connect, O.SecretFile)
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
  // Out of process, values are read back where the linker's view of the executor's memory
  // stays mapped: jitslab's and LLVM's shared-memory managers (not llvm-epc, which copies).
  std::shared_ptr<SharedValueBuffer> Values;
  if (OutOfProcess && O.Memory != "llvm-epc")
    Values = std::make_shared<SharedValueBuffer>();
  auto JB = std::make_unique<LLJITBuilder>();
  JB->setJITTargetMachineBuilder(std::move(JTMB));
  JB->setExecutorProcessControl(std::move(EPC));
  // Handed an executor process control, LLJIT assumes compiles may run concurrently and builds
  // a TargetMachine for every module (ConcurrentIRCompiler): about a quarter of an in-process
  // session's time went to building them (perf: MCSubtargetInfo feature bits, register
  // properties). clang's interpreter puts every input in one ThreadSafeContext, whose lock
  // IRCompileLayer holds while compiling, so compiles never overlap: one TargetMachine serves.
  JB->setSupportConcurrentCompilation(false);
  JB->setObjectLinkingLayerCreator(jitslab::compat::layerCreator(
      [&](ExecutionSession &ES) -> Expected<std::unique_ptr<ObjectLayer>> {
        // Session errors (a failed link, a lost executor) are printed like any other error, from
        // the first moment this program sees the session. The connection's own end is not one when
        // the executor hangs up at teardown, or when this program started the executor and will
        // say how it ended.
        ES.setErrorReporter([](Error Err) {
          std::string Msg = toString(std::move(Err));
          bool Hangup = Msg == jitslab::CheckedFDTransport::ClosedMessage;
          if (!ExecutorGone && !(Hangup && (ShuttingDown || ExecutorPid > 0)))
            errs() << "error: " << Msg << "\n";
        });
        auto MM = jitslab::createMemoryManagerByName(O.Memory, ES.getExecutorProcessControl(),
                                                     OutOfProcess, O.Jitslab, Slab);
        if (!MM)
          return MM.takeError();
        auto L = std::make_unique<ObjectLinkingLayer>(ES, std::move(*MM));
        // Out of process, the ORC runtime's platform registers exception frames itself. In
        // process, LLVM's own plugin does: a call per graph on 19, an allocation action on 22.
        if (!OutOfProcess) {
          auto P = jitslab::compat::LLVMRegistersEHFramesByActions
                       ? jitslab::compat::createEHFrameActionsPlugin(ES)
                       : jitslab::compat::createEHFrameCallsPlugin(ES);
          if (!P)
            return P.takeError();
          L->addPlugin(std::move(*P));
        }
        L->addPlugin(std::make_shared<jitslab::ContiguousEHFramePlugin>());
        L->addPlugin(Addresses);
        if (Values)
          L->addPlugin(Values);
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
  if (OutOfProcess)
    JB->setPlatformSetUp(jitslab::repl::orcRuntimePlatform(O.OrcRuntime));

  auto Interp = failOn(
      jitslab::repl::ReplInterpreter::create(std::move(CI), std::move(JB), !OutOfProcess, Values),
      "creating the interpreter");

  // One input or %command. False once the session cannot go on (%quit, a lost executor).
  unsigned UserInputs = 0, Failures = 0;
  bool CodeFailed = false;
  auto Handle = [&](const std::string &Input) -> bool {
    StringRef Cmd = StringRef(Input).trim();
    if (Cmd == "%quit")
      return false;
    if (Cmd == "%help") {
      outs() << CommandHelp;
      outs().flush();
      return true;
    }
    if (Cmd == "%stats") {
      std::fflush(stdout);
      errs() << statsLine(Slab, *Addresses, ExecutorPid, UserInputs) << "\n";
      return true;
    }
    if (Cmd.consume_front("%lib")) {
      if (!Cmd.starts_with(" ") || Cmd.trim().empty()) {
        errs()
            << "error: %lib expects 1 argument: the path to a dynamic library\n"; // as clang-repl
        ++Failures;
      } else if (Error E = loadLibrary(*Interp, Cmd.trim())) {
        errs() << "error: %lib: " << toString(std::move(E)) << "\n";
        ++Failures;
      }
      return true;
    }
    if (Cmd.consume_front("%undo")) {
      unsigned N = 1;
      if (!Cmd.trim().empty() && (Cmd.trim().getAsInteger(10, N) || N == 0)) {
        errs() << "error: %undo takes a positive count of inputs\n";
        ++Failures;
        return true;
      }
      if (N > UserInputs) {
        errs() << "error: %undo " << N << ": there " << (UserInputs == 1 ? "is" : "are") << " only "
               << UserInputs << " input" << (UserInputs == 1 ? "" : "s") << " to undo\n";
        ++Failures;
        return true;
      }
      if (Error E = Interp->clang().Undo(N)) {
        errs() << "error: " << toString(std::move(E)) << "\n";
        ++Failures;
        return true;
      }
      UserInputs -= N;
      return true;
    }
    if (Cmd.starts_with("%")) {
      errs() << "error: Invalid % command \"" << Cmd // clang-repl's words
             << "\", use \"%help\" to list commands\n";
      ++Failures;
      return true;
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
        return false;
      }
      if (!Msg.empty())
        errs() << "error: " << Msg << "\n";
    }
    if (Interp->takeSkippedValue())
      errs() << "note: the value of this expression is not printed out of process (it is read "
                "back from memory shared with the executor: not with this memory manager, or "
                "not for a value of this kind); it was evaluated\n";
    std::fflush(stdout);
    return true;
  };

  // Code given on the command line, then the script. A failure in the former fails the
  // program, as clang-repl's does when used as a calculator in a shell script.
  bool Going = true;
  for (const std::string &Code : O.Code)
    if (Going) {
      unsigned Before = Failures;
      Going = Handle(Code);
      CodeFailed |= Failures != Before;
    }
  if (Going && !O.Script.empty()) {
    InputReader Reader(In, O.Script == "-" && isatty(0) && isatty(1), Verify);
    for (std::string Input; Going && Reader.next(Input);)
      Going = Handle(Input);
  }

  std::fflush(stdout);
  double Ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - T0).count();
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
  if (!Codegen) {
    // Nothing was linked or run: no destructors, no executor.
  } else if (auto J = Interp->jit()) {
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
  bool Mismatch = Verify && verifierFailed(*Interp->clang().getCompilerInstance());
  errs().flush();
  (void)Interp.release();
  std::exit(ExecutorGone || Mismatch || CodeFailed || (O.Strict && Failures) ? 1 : 0);
}
