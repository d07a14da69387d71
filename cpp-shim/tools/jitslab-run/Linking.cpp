//===- Linking.cpp - how jitslab-run links: archives, waiting, testing aids -===//
//
// See Linking.h.
//
//===----------------------------------------------------------------------===//

#include "Linking.h"
#include "Session.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ExecutionEngine/Orc/ObjectFileInterface.h"
#include "llvm/Object/Archive.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/StringSaver.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace llvm;
using namespace llvm::orc;

namespace jitslab::run {
namespace {

/// Links an archive's members on demand, as a linker does, each member at most once. LLVM 19's
/// StaticLibraryDefinitionGenerator keeps no record of the members it added, so two lookups
/// that ask for symbols of one member at the same time can both add it ("Duplicate definition
/// of symbol", about one sqlite link in 200 when several run at once). Here the decision and
/// the add happen under one lock: a lookup that finds its member added finds it defined too.
class ArchiveGenerator : public DefinitionGenerator {
public:
  static Expected<std::unique_ptr<ArchiveGenerator>> Create(ObjectLayer &L,
                                                            std::unique_ptr<MemoryBuffer> Buf) {
    auto A = object::Archive::create(Buf->getMemBufferRef());
    if (!A)
      return A.takeError();
    std::unique_ptr<ArchiveGenerator> G(new ArchiveGenerator(L, std::move(Buf), std::move(*A)));
    if (Error E = G->indexSymbols())
      return std::move(E);
    return std::move(G);
  }

  Error tryToGenerate(LookupState &, LookupKind K, JITDylib &JD, JITDylibLookupFlags,
                      const SymbolLookupSet &Symbols) override {
    if (K != LookupKind::Static)
      return Error::success();
    std::lock_guard<std::mutex> Lock(M);
    for (auto &KV : Symbols) {
      auto I = MemberOf.find(KV.first);
      if (I == MemberOf.end() || !Added.insert(I->second.getBufferStart()).second)
        continue;
      auto If = getObjectFileInterface(L.getExecutionSession(), I->second);
      if (!If)
        return If.takeError();
      if (Error E = L.add(JD, MemoryBuffer::getMemBuffer(I->second, false), std::move(*If)))
        return E;
    }
    return Error::success();
  }

private:
  ArchiveGenerator(ObjectLayer &L, std::unique_ptr<MemoryBuffer> Buf,
                   std::unique_ptr<object::Archive> A)
      : L(L), Buf(std::move(Buf)), A(std::move(A)) {}

  /// Maps each symbol of the archive's index to its member, named "archive(member)" as LLVM
  /// names them (unique init-symbol names per member).
  Error indexSymbols() {
    DenseMap<uint64_t, MemoryBufferRef> Members;
    for (auto &Sym : A->symbols()) {
      auto Child = Sym.getMember();
      if (!Child)
        return Child.takeError();
      auto [It, New] = Members.try_emplace(Child->getDataOffset());
      if (New) {
        auto Data = Child->getBuffer();
        auto Name = Child->getName();
        if (!Data || !Name)
          return joinErrors(Data.takeError(), Name.takeError());
        It->second =
            MemoryBufferRef(*Data, Names.save(Buf->getBufferIdentifier() + "(" + *Name + ")"));
      }
      MemberOf[L.getExecutionSession().intern(Sym.getName())] = It->second;
    }
    return Error::success();
  }

  ObjectLayer &L;
  std::unique_ptr<MemoryBuffer> Buf;
  std::unique_ptr<object::Archive> A;
  BumpPtrAllocator NameStorage;
  StringSaver Names{NameStorage};
  DenseMap<SymbolStringPtr, MemoryBufferRef> MemberOf;
  std::mutex M;
  DenseSet<const char *> Added; // members added, by the start of their bytes
};

/// Looks up `Names` in `JD` alone, waiting until every one is ready (linked and finalized).
/// Every name was defined by a linked object; they are looked up as weak references only
/// because init symbols (side effects only) cannot be looked up any other way.
void waitFor(ExecutionSession &ES, JITDylib &JD, const SymbolNameSet &Names) {
  SymbolLookupSet Set;
  for (auto &N : Names)
    Set.add(N, SymbolLookupFlags::WeaklyReferencedSymbol);
  failOn(ES.lookup({{&JD, JITDylibLookupFlags::MatchAllSymbols}}, std::move(Set),
                   LookupKind::Static, SymbolState::Ready)
             .takeError());
}

} // namespace

Expected<std::unique_ptr<DefinitionGenerator>>
createArchiveGenerator(ObjectLayer &L, std::unique_ptr<MemoryBuffer> Archive) {
  auto G = ArchiveGenerator::Create(L, std::move(Archive));
  if (!G)
    return G.takeError();
  return std::unique_ptr<DefinitionGenerator>(std::move(*G));
}

/// Links everything reachable from `Roots` and everything those links define, to a fixpoint.
void linkAll(ExecutionSession &ES, JITDylib &Main, const SymbolNameSet &Roots,
             DefinitionRecorder &Rec) {
  waitFor(ES, Main, Roots);
  if (jitslab::compat::LookupWaitsForDependencies)
    return;
  for (auto New = Rec.takeNew(); !New.empty(); New = Rec.takeNew())
    for (auto &[JD, Names] : New)
      waitFor(ES, *JD, Names);
}

/// Testing aid for the code-model guarantee: maps every free page within `Radius` of `Addr`
/// inaccessible, so that any later mmap lands at least `Radius` away from `Addr`.
void fillAddressSpaceNear(uint64_t Addr, uint64_t Radius) {
  const uint64_t Page = sys::Process::getPageSizeEstimate();
  const uint64_t Lo = alignDown(Addr > Radius + 0x10000 ? Addr - Radius : 0x10000, Page);
  const uint64_t Hi = alignTo(Addr + Radius, Page);
  std::ifstream Maps("/proc/self/maps");
  std::vector<std::pair<uint64_t, uint64_t>> Used;
  for (std::string Line; std::getline(Maps, Line);) {
    uint64_t S = 0, E = 0;
    if (std::sscanf(Line.c_str(), "%lx-%lx", &S, &E) == 2)
      Used.push_back({S, E});
  }
  uint64_t Cursor = Lo;
  Used.push_back({Hi, Hi});
  for (auto [S, E] : Used) {
    if (S > Cursor && Cursor < Hi) {
      uint64_t End = std::min(S, Hi);
      void *P = mmap(reinterpret_cast<void *>(Cursor), End - Cursor, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
      if (P == MAP_FAILED)
        fail(formatv("--test-gap: mmap of the free range [{0:x}, {1:x}) failed: {2}", Cursor, End,
                     std::strerror(errno)));
    }
    Cursor = std::max(Cursor, E);
  }
}

} // namespace jitslab::run
