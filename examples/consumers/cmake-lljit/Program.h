// The JIT'd program both consumers run, and the check that it ran from jitslab's memory.
#ifndef JITSLAB_CONSUMER_PROGRAM_H
#define JITSLAB_CONSUMER_PROGRAM_H

#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/IRReader/IRReader.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace consumer {

// Code, read-only data and writable data: one segment of each kind. answer() returns 42.
inline const char *const IR = R"(
@table = constant [4 x i64] [i64 1, i64 2, i64 3, i64 36]
@calls = global i64 0
define i64 @answer() {
  %c = load i64, ptr @calls
  %c1 = add i64 %c, 1
  store i64 %c1, ptr @calls
  %a = load i64, ptr getelementptr ([4 x i64], ptr @table, i64 0, i64 0)
  %b = load i64, ptr getelementptr ([4 x i64], ptr @table, i64 0, i64 1)
  %d = load i64, ptr getelementptr ([4 x i64], ptr @table, i64 0, i64 2)
  %e = load i64, ptr getelementptr ([4 x i64], ptr @table, i64 0, i64 3)
  %s1 = add i64 %a, %b
  %s2 = add i64 %s1, %d
  %s3 = add i64 %s2, %e
  ret i64 %s3
}
)";

// The name /proc/self/maps gives jitslab's pools (the memfd of the dual-view mapper).
inline bool inJitslabMemory(uint64_t Addr) {
  std::ifstream Maps("/proc/self/maps");
  std::string Line;
  while (std::getline(Maps, Line)) {
    unsigned long Lo = 0, Hi = 0;
    if (std::sscanf(Line.c_str(), "%lx-%lx", &Lo, &Hi) == 2 && Addr >= Lo && Addr < Hi)
      return Line.find("/memfd:jitslab") != std::string::npos;
  }
  return false;
}

// Adds the program to J, runs answer() and checks where its code and data are. Returns the
// exit status; prints what it found.
inline int run(llvm::orc::LLJIT &J, const char *Who) {
  auto Ctx = std::make_unique<llvm::LLVMContext>();
  llvm::SMDiagnostic Diag;
  auto M = llvm::parseIR(llvm::MemoryBufferRef(IR, "program"), Diag, *Ctx);
  if (!M) {
    Diag.print(Who, llvm::errs());
    return 1;
  }
  if (auto E = J.addIRModule(llvm::orc::ThreadSafeModule(std::move(M), std::move(Ctx)))) {
    llvm::errs() << Who << ": " << llvm::toString(std::move(E)) << "\n";
    return 1;
  }
  uint64_t Where[3];
  const char *Names[3] = {"answer", "table", "calls"};
  for (int I = 0; I < 3; ++I) {
    auto Sym = J.lookup(Names[I]);
    if (!Sym) {
      llvm::errs() << Who << ": " << llvm::toString(Sym.takeError()) << "\n";
      return 1;
    }
    Where[I] = Sym->getValue();
  }
  auto *Answer = reinterpret_cast<int64_t (*)()>(Where[0]);
  int64_t Result = Answer();
  bool AllInJitslab = true;
  for (uint64_t A : Where)
    AllInJitslab = AllInJitslab && inJitslabMemory(A);
  std::printf("%s: answer() = %lld; code and data in jitslab's memory: %s\n", Who,
              static_cast<long long>(Result), AllInJitslab ? "yes" : "no");
  return Result == 42 && AllInJitslab ? 0 : 1;
}

} // namespace consumer

#endif
