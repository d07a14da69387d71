//===- Sizes.h - sizes given on a command line ----------------------------===//
//
// Part of the tools' support library: the one parser of sizes that jitslab-run's and
// jitslab-repl's options share.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_TOOLS_SIZES_H
#define JITSLAB_TOOLS_SIZES_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>

namespace jitslab {

/// A size given on a command line: a positive integer with an optional K, M or G suffix (any
/// case), e.g. 4096, 64K, 512M, 1G. None if it is not one or does not fit 64 bits.
std::optional<uint64_t> parseSize(llvm::StringRef S);

} // namespace jitslab

#endif
