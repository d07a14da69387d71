//===- Options.cpp - jitslab-repl's command line ----------------------------===//
//
// See Options.h.
//
//===----------------------------------------------------------------------===//

#include "Options.h"
#include "Executors.h"
#include "Session.h"
#include "Sizes.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace llvm;

namespace jitslab::repl {
namespace {

const char *const Usage = R"(usage: jitslab-repl [options] [SCRIPT | CODE]...

Runs C or C++ input by input, like clang-repl, from SCRIPT or stdin ('-'). Each input is a
line; a line ending in '\' (blanks after it allowed) continues on the next, joined without
the line break, and a line that leaves a '{', '(' or '[' open continues too. An input ending
without ';' is an expression whose value is printed. Errors are printed and the session goes
on; an input that fails to link or run is taken back, as if it had been undone.

An argument that is not '-' and names no file is CODE, an input of its own: given any, they
run first, in order, and stdin is read only if '-' is given too; the exit status is then 1
if one of them failed (clang-repl's "calculator" use).

  %undo [N]               remove the last N inputs (default 1) and free their memory
  %lib PATH               load a shared library; its symbols become visible to later inputs
                          (out of process, it is loaded into the executor)
  %stats                  print one line of figures on stderr (see README.md)
  %help                   list these commands
  %quit                   end the session (so does the end of the input)

Options:
  --executor=PATH         run every input in a new executor process connected by pipes:
                          jitslab-executor or )" JITSLAB_LLVM_BIN R"(/llvm-jitlink-executor
  --connect=HOST:PORT     run every input in an executor listening on TCP
  --connect=unix:PATH     ... or on a Unix-domain socket (jitslab-executor listen=unix:PATH)
  --secret-file=PATH      with --connect: authenticate with the secret in PATH (mode 0600)
                          (default: the file named by JITSLAB_EXECUTOR_SECRET_FILE)
  --memory=NAME           jitslab (default; in the executor's shared memory out of process)
                          in process: llvm-inprocess (clang-repl's and LLJIT's default)
                          out of process: llvm-epc | llvm-shm
  --slab-size=SIZE        jitslab's reservation, e.g. 256M (default 1G)
  --orc-runtime=PATH      the ORC runtime archive, out of process (default: )" JITSLAB_ORC_RUNTIME
                          R"()
  --strict                exit with status 1 if any input failed
  --stats                 print jitslab's statistics and heap map on stderr at exit
  --time                  print the session's wall time on stderr at exit, and how much of it
                          went to parsing and to compiling, linking and running
  -Xcc ARG, -Xcc=ARG      pass ARG to the compiler (e.g. -Xcc -std=c++20 -Xcc -O2); as with
                          clang-repl, commas separate several (-Xcc=-Xclang,-verify)

clang-repl's spellings are taken too: --oop-executor[=PATH] (without PATH, LLVM's
llvm-jitlink-executor unless --executor names one), --oop-executor-connect=HOST:PORT,
--orc-runtime without PATH (the default); each with one dash as well.
)";

// -Xcc's value, split at commas as clang-repl's (a cl::list with CommaSeparated) is.
void addCompilerArgs(Options &O, StringRef Value) {
  SmallVector<StringRef, 4> Parts;
  Value.split(Parts, ',');
  for (StringRef P : Parts)
    O.CompilerArgs.push_back(P.str());
}

uint64_t parseSize(StringRef Flag, StringRef S) {
  if (auto V = jitslab::parseSize(S))
    return *V;
  fail(Flag + ": '" + S + "' is not a size (examples: 4096, 64K, 512M, 1G)");
}

} // namespace

Options parseOptions(int Argc, char **Argv) {
  Options O;
  bool SawScript = false, OopExecutorDefault = false;
  for (int I = 1; I < Argc; ++I) {
    std::string Spelled = Argv[I];
    if (StringRef(Spelled).starts_with("-oop-") || StringRef(Spelled).starts_with("-orc-"))
      Spelled.insert(0, "-"); // clang-repl's options take one dash or two
    StringRef A = Spelled;
    if (A == "-h" || A == "--help") {
      outs() << Usage;
      std::exit(0);
    } else if (A.consume_front("--executor=") || A.consume_front("--oop-executor=")) {
      O.Executor = A.str();
    } else if (A == "--oop-executor") {
      OopExecutorDefault = true;
    } else if (A.consume_front("--connect=") || A.consume_front("--oop-executor-connect=")) {
      O.Connect = A.str();
    } else if (A.consume_front("--secret-file=")) {
      O.SecretFile = A.str();
      if (O.SecretFile.empty())
        fail("--secret-file wants a path");
    } else if (A == "--orc-runtime") { // without a path, clang-repl's default: ours too
      O.OrcRuntime = JITSLAB_ORC_RUNTIME;
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
    } else if (A == "-Xcc" || A == "--Xcc") {
      if (++I == Argc)
        fail("-Xcc needs an argument");
      addCompilerArgs(O, Argv[I]);
    } else if (A.consume_front("-Xcc=") || A.consume_front("--Xcc=")) {
      addCompilerArgs(O, A);
    } else if (A.starts_with("-") && A != "-") {
      fail("unknown option '" + A + "' (see --help)");
    } else if (A != "-" && !sys::fs::exists(A)) {
      O.Code.push_back(A.str());
    } else if (SawScript) {
      fail("only one SCRIPT can be given (see --help)");
    } else {
      O.Script = A.str();
      SawScript = true;
    }
  }
  if (!O.Code.empty() && !SawScript)
    O.Script.clear();
  if (OopExecutorDefault && O.Executor.empty() && O.Connect.empty())
    O.Executor = JITSLAB_LLVM_BIN "/llvm-jitlink-executor";
  if (!O.Executor.empty() && !O.Connect.empty())
    fail("--executor and --connect cannot be used together");
  if (!O.SecretFile.empty() && O.Connect.empty())
    fail("--secret-file authenticates to an executor given by --connect; give --connect");
  if (O.SecretFile.empty())
    O.SecretFile = jitslab::defaultSecretFile();
  static const char *const InProcess[] = {"jitslab", "llvm-inprocess"};
  static const char *const OutOfProcess[] = {"jitslab", "llvm-epc", "llvm-shm"};
  ArrayRef<const char *> Known = O.outOfProcess() ? ArrayRef(OutOfProcess) : ArrayRef(InProcess);
  if (!is_contained(Known, O.Memory))
    fail("--memory=" + O.Memory + " is not available " +
         (O.outOfProcess() ? "out of process" : "in process") +
         "; choose one of: " + join(Known, ", "));
  return O;
}

} // namespace jitslab::repl
