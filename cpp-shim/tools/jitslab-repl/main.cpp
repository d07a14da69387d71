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
// is InterpreterCompat.h, the one place where this tool's code depends on the major.
// Out of process an expression's value cannot be printed (clang's value printing stores it
// from inside the interpreter's own process): the expression is evaluated and a note says so.
//
//
// The tool's parts: Options (the command line), Session (process-wide state, fail), Inputs
// (reading, running and counting inputs), InterpreterCompat, and this driver.
//
//===----------------------------------------------------------------------===//

#include "Executors.h"
#include "Inputs.h"
#include "InterpreterCompat.h"
#include "Managers.h"
#include "Options.h"
#include "Session.h"
#include "jitslab/EHFrameFix.h"
#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"

#include "clang/Frontend/CompilerInstance.h"
#include "clang/Interpreter/Interpreter.h"

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

int main(int Argc, char **Argv) {
  Options O = parseOptions(Argc, Argv);
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
