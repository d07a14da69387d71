//===- Inputs.cpp - jitslab-repl's inputs: read, run, and counted -----------===//
//
// See Inputs.h.
//
//===----------------------------------------------------------------------===//

#include "Inputs.h"
#include "ProcFS.h"
#include "Session.h"

#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <tuple>
#include <vector>

using namespace llvm;
using namespace llvm::orc;

namespace jitslab::repl {

double ParseMs = 0, LinkRunMs = 0;

namespace {

/// Moves an input's static initializers (the functions llvm.global_ctors lists, in priority
/// order) into one new exported function, and returns its name, or "" if the input has none.
/// The driver runs it (in the executor) once the input is linked: in process no platform runs
/// them; out of process LLVM 19's ORC runtime would not (it runs a JITDylib's initializers at
/// its first dlopen only), and LLVM 22's would take two round trips where this takes one
/// (orcRuntimePlatform).
std::string hoistInitializers(Module &M, unsigned Input) {
  GlobalVariable *Ctors = M.getNamedGlobal("llvm.global_ctors");
  if (!Ctors)
    return "";
  std::vector<std::tuple<uint64_t, size_t, Function *>> Fns; // priority, then list order
  if (auto *List = dyn_cast<ConstantArray>(Ctors->getInitializer()))
    for (Value *Entry : List->operands()) {
      auto *E = cast<ConstantStruct>(Entry);
      auto *F = dyn_cast<Function>(E->getOperand(1)->stripPointerCasts());
      if (F)
        Fns.emplace_back(cast<ConstantInt>(E->getOperand(0))->getZExtValue(), Fns.size(), F);
    }
  Ctors->eraseFromParent();
  if (Fns.empty())
    return "";
  std::sort(Fns.begin(), Fns.end());
  std::string Name = "__jitslab_repl_init." + std::to_string(Input);
  LLVMContext &Ctx = M.getContext();
  Function *Init = Function::Create(FunctionType::get(Type::getVoidTy(Ctx), false),
                                    GlobalValue::ExternalLinkage, Name, M);
  IRBuilder<> B(BasicBlock::Create(Ctx, "entry", Init));
  for (auto &[Priority, Order, F] : Fns)
    B.CreateCall(F->getFunctionType(), F);
  B.CreateRetVoid();
  return Name;
}

/// The names an input's module defines for other inputs to use (what ORC puts in the
/// JITDylib's symbol table).
std::vector<std::string> definedSymbols(const Module &M) {
  std::vector<std::string> Names;
  for (const GlobalValue &GV : M.global_values())
    if (!GV.isDeclaration() && !GV.hasLocalLinkage() && GV.hasName() &&
        !GV.getName().starts_with("llvm."))
      Names.push_back(GV.getName().str());
  return Names;
}

/// Links a parsed input (Execute, which runs its initializers where the platform does), then
/// runs its hoisted initializers (`Init`, "" for none).
///
/// The input is linked in full at its own turn, by looking up everything it defines, so that
/// a mistake in any of its definitions fails this input, which is then taken back, and not a
/// later one that calls into it (leaving a definition that can be neither used nor redefined).
/// On LLVM 19 the lookup also keeps code from running too early: its ObjectLinkingLayer records
/// no dependencies between graphs, so a lookup can return while a graph it calls into is still
/// being finalized on another thread; out of process that is a jump into a page the executor
/// has not made executable yet. Linking every input at its own turn means a later input only
/// ever calls into finalized code (LLVM 22 waits for the graphs a lookup depends on:
/// jitslab::compat::LookupWaitsForDependencies).
Error linkAndInitialize(ReplInterpreter &Interp, clang::PartialTranslationUnit &PTU,
                        const std::string &Init, const std::vector<std::string> &Defined) {
  if (Error E = Interp.clang().Execute(PTU))
    return E;
  auto J = Interp.jit();
  if (!J)
    return J.takeError();
  ExecutionSession &ES = J->getExecutionSession();
  SymbolLookupSet Wanted;
  for (auto &Name : Defined)
    Wanted.add(J->mangleAndIntern(Name), SymbolLookupFlags::WeaklyReferencedSymbol);
  auto Found =
      ES.lookup({{&J->getMainJITDylib(), JITDylibLookupFlags::MatchAllSymbols}}, std::move(Wanted));
  if (!Found)
    return Found.takeError();
  if (Init.empty())
    return Error::success();
  auto Addr = Found->find(J->mangleAndIntern(Init));
  if (Addr == Found->end())
    return make_error<StringError>("the input's initializers were not linked",
                                   inconvertibleErrorCode());
  auto Status = ES.getExecutorProcessControl().runAsVoidFunction(Addr->second.getAddress());
  return Status ? Error::success() : Status.takeError();
}

} // namespace

Expected<bool> runInput(ReplInterpreter &Interp, StringRef Input) {
  static unsigned Hoisted = 0; // names the initializer functions, never reused after %undo
  std::string Init;
  std::vector<std::string> Defined;
  clang::PartialTranslationUnit *PTU = nullptr;
  auto T0 = std::chrono::steady_clock::now();
  Interp.forgetValue();
  SharedContext.whileLocked([&] {
    auto Parsed = Interp.parse(Input);
    if (!Parsed) {
      consumeError(Parsed.takeError()); // "Parsing failed."; clang printed the diagnostics
      return;
    }
    PTU = &*Parsed;
    if (!PTU->TheModule)
      return;
    Interp.prepareModule(*PTU->TheModule);
    Init = hoistInitializers(*PTU->TheModule, ++Hoisted);
    Defined = definedSymbols(*PTU->TheModule);
  });
  if (!PTU)
    return false;
  if (!PTU->TheModule)
    return true;
  auto T1 = std::chrono::steady_clock::now();
  Error Linked = linkAndInitialize(Interp, *PTU, Init, Defined);
  auto T2 = std::chrono::steady_clock::now();
  ParseMs += std::chrono::duration<double, std::milli>(T1 - T0).count();
  LinkRunMs += std::chrono::duration<double, std::milli>(T2 - T1).count();
  if (Error E = std::move(Linked)) {
    if (Error U = Interp.clang().Undo(1))
      E = joinErrors(std::move(E), std::move(U));
    return std::move(E);
  }
  std::fflush(stdout); // JIT'd code's output first
  if (Interp.printValue(outs()))
    outs().flush();
  return true;
}

std::string statsLine(MemoryManager *Slab, AddressRecorder &Addresses, pid_t Executor,
                      unsigned UserInputs) {
  std::string S;
  raw_string_ostream OS(S);
  auto R = Addresses.get();
  OS << "jitslab-repl: inputs=" << UserInputs << " graphs=" << R.Graphs
     << format(" lowest=0x%llx highest=0x%llx", (unsigned long long)R.Lowest,
               (unsigned long long)R.Highest);
  if (Slab) {
    if (auto St = Slab->stats()) {
      uint64_t Live = 0, Segments = 0;
      for (auto &P : St->pools) {
        Live += P.live;
        Segments += P.live_segments;
      }
      OS << format(" slab_base=0x%llx slab_size=%llu", (unsigned long long)St->base,
                   (unsigned long long)St->reserved)
         << " live_bytes=" << Live << " live_segments=" << Segments
         << " live_allocations=" << St->live_allocations;
    } else {
      OS << " stats_error=\"" << toString(St.takeError()) << "\"";
    }
  }
  if (Executor > 0) {
    auto F = jitslab::processFootprint(std::to_string(Executor));
    OS << " executor_rss_kib=" << F.RssKiB << " executor_shmem_kib=" << F.ShmemKiB
       << " executor_mappings=" << F.Mappings;
  }
  return S;
}

} // namespace jitslab::repl
