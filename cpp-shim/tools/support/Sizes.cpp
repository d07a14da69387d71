//===- Sizes.cpp - sizes given on a command line --------------------------===//

#include "Sizes.h"

#include "llvm/ADT/StringExtras.h"

#include <cstdint>

using namespace llvm;

namespace jitslab {

std::optional<uint64_t> parseSize(StringRef S) {
  uint64_t Mult = 1;
  if (!S.empty()) {
    switch (toLower(S.back())) {
    case 'k':
      Mult = 1ULL << 10;
      break;
    case 'm':
      Mult = 1ULL << 20;
      break;
    case 'g':
      Mult = 1ULL << 30;
      break;
    default:
      break;
    }
    if (Mult != 1)
      S = S.drop_back();
  }
  uint64_t V;
  if (S.getAsInteger(0, V) || V == 0 || V > UINT64_MAX / Mult)
    return std::nullopt;
  return V * Mult;
}

} // namespace jitslab
