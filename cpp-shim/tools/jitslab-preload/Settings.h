//===- Settings.h - the preload's settings, from the environment -*- C++ -*-===//
//
// Part of libjitslab-preload-impl-MAJOR.so. The preload has no command line: what a user
// changes comes from JITSLAB_* variables, read once, the first time a hook needs them.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_PRELOAD_SETTINGS_H
#define JITSLAB_PRELOAD_SETTINGS_H

#include "jitslab/MemoryManager.h"

#include "llvm/Support/Error.h"

#include <string>

namespace jitslab::preload {

struct Settings {
  /// False when a variable had a bad value: the preload then steps aside and the tool keeps
  /// its own memory manager (the line naming the variable is already printed).
  bool Use = true;
  /// What JITSLAB_SLAB_SIZE, JITSLAB_PLACEMENT, JITSLAB_MAPPER and JITSLAB_PROTOCOL say.
  Config Manager;
  /// JITSLAB_STATS: whether to report, and where ("" for stderr).
  bool Stats = false;
  std::string StatsPath;
};

/// The settings of this process, read from the environment on the first call.
const Settings &settings();

/// Says, in one line, why jitslab's manager could not be made and that the tool keeps LLVM's.
/// Once per reason: a session that asks twice (clang-repl-22 --oop-executor: for its EPC,
/// then for its layer) fails twice the same way.
void sayKept(llvm::Error Why);

} // namespace jitslab::preload

#endif
