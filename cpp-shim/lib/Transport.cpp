//===- Transport.cpp - jitslab's remote transport over ORC's EPC ----------===//
//
// The one primitive the Rust library needs to talk to an executor: "call the wrapper function
// at executor address A with these bytes, then give me the result bytes or an error", plus a
// lookup of the executor's bootstrap symbols. Both come straight from ExecutorProcessControl;
// the protocol itself (what the bytes mean) lives in Rust.
//
// Results are handed to the library on a task of the EPC's dispatcher, not on the connection's
// listener thread: the library's completion runs ORC continuations, and those may make
// blocking calls to the executor themselves (EPCEHFrameRegistrar does). That needs a
// dispatcher that runs tasks on threads of their own (DynamicThreadPoolTaskDispatcher, what
// SimpleRemoteEPC setups use); InPlaceTaskDispatcher would run them on the listener thread.
//
//===----------------------------------------------------------------------===//

#include "Transport.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ExecutionEngine/Orc/ExecutorProcessControl.h"

#include <atomic>

using namespace llvm;
using namespace llvm::orc;

namespace jitslab {

struct TransportLink {
  explicit TransportLink(ExecutorProcessControl &EPC) : EPC(EPC) {}
  ExecutorProcessControl &EPC;
  std::atomic<bool> Closed{false};
};

namespace {

/// The library's completion for one call. Reports exactly once: with the result, or, if ORC
/// drops the handler without calling it (a dispatcher that was shut down drops its tasks),
/// with an error from the destructor.
class Completion {
public:
  Completion(JitslabCallDone Done, void *Ctx) : Done(Done), Ctx(Ctx) {}
  Completion(const Completion &) = delete;
  ~Completion() {
    if (Done)
      Done(Ctx, nullptr, 0, "the call was dropped unanswered (the executor session ended)");
  }
  void operator()(const compat::WrapperResult &R) {
    auto D = std::exchange(Done, nullptr);
    if (const char *Err = R.getOutOfBandError())
      D(Ctx, nullptr, 0, Err);
    else
      D(Ctx, reinterpret_cast<const uint8_t *>(R.data()), R.size(), nullptr);
  }

private:
  JitslabCallDone Done;
  void *Ctx;
};

TransportLink &link(void *Ctx) { return *static_cast<TransportLink *>(Ctx); }

void call(void *Ctx, uint64_t Fn, const uint8_t *Args, size_t Len, JitslabCallDone Done,
          void *DoneCtx) {
  if (link(Ctx).Closed.load(std::memory_order_acquire)) {
    Done(DoneCtx, nullptr, 0, "the executor session has ended (the connection is closed)");
    return;
  }
  auto &EPC = link(Ctx).EPC;
  auto C = std::make_unique<Completion>(Done, DoneCtx);
  EPC.callWrapperAsync(
      ExecutorProcessControl::RunAsTask(EPC.getDispatcher()), ExecutorAddr(Fn),
      [C = std::move(C)](compat::WrapperResult R) mutable { (*C)(R); },
      ArrayRef<char>(reinterpret_cast<const char *>(Args), Len));
}

uint8_t lookup(void *Ctx, const char *Name, uint64_t *Out) {
  auto &Map = link(Ctx).EPC.getBootstrapSymbolsMap();
  auto I = Map.find(Name);
  if (I == Map.end())
    return 0;
  *Out = I->second.getValue();
  return 1;
}

} // namespace

JitslabTransport makeTransport(ExecutorProcessControl &EPC, TransportLink *&Link) {
  // The EPC outlives the manager (ORC destroys the object layer before the session, and an
  // EPC destroys the manager it owns before its connection), so the transport borrows it.
  Link = new TransportLink(EPC);
  return JitslabTransport{Link, call, lookup,
                          [](void *Ctx) { delete static_cast<TransportLink *>(Ctx); }};
}

void closeTransport(TransportLink &Link) { Link.Closed.store(true, std::memory_order_release); }

} // namespace jitslab
