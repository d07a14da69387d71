//===- Options.h - jitslab-run's command line -------------------------------===//
//
// The options (README.md's table, --help's text), read and checked as a whole: every mistake
// is one line through fail(). A hand-written parser, not LLVM's cl::opt: the tool's documented
// --stats collides with the `stats` option that the shared libLLVM registers for every
// program linked with it (cl aborts at start-up on a second registration).
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_RUN_OPTIONS_H
#define JITSLAB_RUN_OPTIONS_H

#include "jitslab/MemoryManager.h"

#include <cstdint>
#include <string>
#include <vector>

namespace jitslab::run {

struct Options {
  std::vector<std::string> Inputs; // in command-line order, libraries already resolved
  std::vector<std::string> LibDirs;
  std::vector<std::string> Args; // after --
  std::string Memory = "jitslab";
  Config Jitslab;
  bool Stats = false, Times = false;
  std::string Report;          // --report=FILE
  bool JitslabOptions = false; // --slab-size or --placement given
  bool ProtocolGiven = false;  // --protocol given
  std::string OrcRuntime = JITSLAB_ORC_RUNTIME;
  bool EHFrameCalls = false; // --eh-frames=calls: LLVM's EHFrameRegistrationPlugin
  uint64_t TestGap = 0;
  std::string Executor, Connect; // --executor=PATH, --connect=HOST:PORT or unix:PATH
  std::string SecretFile;        // --secret-file=PATH, else JITSLAB_EXECUTOR_SECRET_FILE
  unsigned TestKillExecutor = 0;
  bool outOfProcess() const { return !Executor.empty() || !Connect.empty(); }
};

/// Reads the command line; on a mistake, fails with one line; on --help, prints the usage
/// and exits with status 0.
Options parseOptions(int Argc, char **Argv);

} // namespace jitslab::run

#endif
