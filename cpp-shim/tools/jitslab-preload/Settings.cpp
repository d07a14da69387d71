//===- Settings.cpp - the preload's settings, from the environment --------===//
//
// Every variable is read once. A bad value is reported in one line that names the variable
// and what it accepts; the preload then leaves the tool alone rather than guess what the user
// meant, so the tool runs as it would without jitslab. A jitslab manager that cannot be made
// is reported the same way, once per reason (sayKept).
//
//===----------------------------------------------------------------------===//
#include "Settings.h"

#include "Sizes.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

using namespace llvm;

namespace jitslab::preload {
namespace {

/// The reservation's limit (DESIGN.md, guarantee 1): PC32 fixups reach ±2 GiB.
constexpr uint64_t MaxSlabSize = 2ULL << 30;

/// Reports a bad value of `Var` and returns false.
bool bad(const char *Var, StringRef Value, StringRef Expected) {
  errs() << "jitslab-preload: " << Var << "=" << Value << ": expected " << Expected
         << "; jitslab is not used, the tool keeps its own memory manager\n";
  return false;
}

bool readSlabSize(Config &C) {
  const char *V = std::getenv("JITSLAB_SLAB_SIZE");
  if (!V)
    return true;
  auto Size = parseSize(V);
  if (!Size || *Size > MaxSlabSize)
    return bad("JITSLAB_SLAB_SIZE", V, "a size of at most 2G, such as 512M or 1G");
  C.setSlabSize(*Size);
  return true;
}

bool readPlacement(Config &C) {
  const char *V = std::getenv("JITSLAB_PLACEMENT");
  if (!V)
    return true;
  StringRef S(V);
  if (S == "any")
    C.setPlacement(Placement::Anywhere);
  else if (S == "low")
    C.setPlacement(Placement::Low);
  else if (S == "near")
    // libc's code: process symbols that JIT'd code refers to live in the shared libraries,
    // which the loader maps next to one another.
    C.setPlacement(Placement::Near, reinterpret_cast<uint64_t>(&std::printf));
  else
    return bad("JITSLAB_PLACEMENT", S, "any, near or low");
  return true;
}

bool readMapper(Config &C) {
  const char *V = std::getenv("JITSLAB_MAPPER");
  if (!V)
    return true;
  StringRef S(V);
  if (S == "auto")
    C.setMapper(Mapper::Auto);
  else if (S == "dual")
    C.setMapper(Mapper::DualView);
  else if (S == "single")
    C.setMapper(Mapper::SingleView);
  else
    return bad("JITSLAB_MAPPER", S, "auto, dual or single");
  return true;
}

bool readProtocol(Config &C) {
  const char *V = std::getenv("JITSLAB_PROTOCOL");
  if (!V)
    return true;
  StringRef S(V);
  if (S == "auto")
    C.setProtocol(Protocol::Auto);
  else if (S == "stock")
    C.setProtocol(Protocol::Stock);
  else if (S == "native")
    C.setProtocol(Protocol::Native);
  else
    return bad("JITSLAB_PROTOCOL", S, "auto, stock or native");
  return true;
}

bool readStats(Settings &S) {
  const char *V = std::getenv("JITSLAB_STATS");
  if (!V)
    return true;
  StringRef Value(V);
  if (Value.empty())
    return bad("JITSLAB_STATS", Value, "stderr or the name of a file");
  S.Stats = true;
  if (Value != "stderr")
    S.StatsPath = Value.str();
  return true;
}

Settings read() {
  Settings S;
  // Every variable is checked, so that one run names every bad value.
  bool Good = readSlabSize(S.Manager);
  Good &= readPlacement(S.Manager);
  Good &= readMapper(S.Manager);
  Good &= readProtocol(S.Manager);
  Good &= readStats(S);
  S.Use = Good;
  return S;
}

} // namespace

const Settings &settings() {
  static const Settings S = read();
  return S;
}

void sayKept(Error Why) {
  static std::mutex M;
  static std::set<std::string> Said;
  std::string Line =
      "jitslab-preload: " + toString(std::move(Why)) + "; the tool keeps LLVM's memory manager\n";
  std::lock_guard<std::mutex> Lock(M);
  if (Said.insert(Line).second)
    errs() << Line;
}

} // namespace jitslab::preload
