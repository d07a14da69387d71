//===- Options.cpp - jitslab-repl's command line ----------------------------===//
//
// See Options.h.
//
//===----------------------------------------------------------------------===//

#include "Options.h"
#include "Session.h"
#include "Sizes.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace llvm;

namespace jitslab::repl {
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

uint64_t parseSize(StringRef Flag, StringRef S) {
  if (auto V = jitslab::parseSize(S))
    return *V;
  fail(Flag + ": '" + S + "' is not a size (examples: 4096, 64K, 512M, 1G)");
}

} // namespace

Options parseOptions(int Argc, char **Argv) {
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

} // namespace jitslab::repl
