//===- Options.h - jitslab-repl's command line ------------------------------===//
//
// The options (README.md's table, --help's text). A hand-written parser, not LLVM's cl::opt:
// the documented --stats collides with the `stats` option the shared libLLVM registers.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_REPL_OPTIONS_H
#define JITSLAB_REPL_OPTIONS_H

#include "jitslab/MemoryManager.h"

#include <string>
#include <vector>

namespace jitslab::repl {

struct Options {
  /// Where inputs are read from: a file, or '-' for stdin. Empty when code was given on the
  /// command line and no SCRIPT: then only that code runs, as with clang-repl.
  std::string Script = "-";
  /// Inputs given on the command line (clang-repl's positional "[code to run]"), run first.
  std::vector<std::string> Code;
  std::string Executor, Connect;
  std::string SecretFile; // --secret-file=PATH, else JITSLAB_EXECUTOR_SECRET_FILE
  std::string Memory = "jitslab";
  std::string OrcRuntime = JITSLAB_ORC_RUNTIME;
  Config Jitslab;
  std::vector<std::string> CompilerArgs;
  bool Strict = false, Stats = false, Time = false;

  bool outOfProcess() const { return !Executor.empty() || !Connect.empty(); }
};

/// Reads the command line; on a mistake, fails with one line; on --help, prints the usage and
/// exits with status 0.
Options parseOptions(int Argc, char **Argv);

} // namespace jitslab::repl

#endif
