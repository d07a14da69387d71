//===- repl/InterpreterCompat.h - clang's Interpreter as jitslab-repl uses it -*- C++ -*-===//
//
// jitslab-repl drives clang::Interpreter with an LLJITBuilder of its own and runs each input
// itself: Parse, then Execute, then the input's initializers (see main.cpp). What that
// asks of clang is spelled differently by the two LLVM majors jitslab builds on; this unit adapts
// it, so that the driver reads the same on both. ORC-level differences are in jitslab/OrcCompat.h.
//
//   the driver needs               LLVM 19                              LLVM 22
//   clang to build its JIT from    the protected constructor that takes IncrementalExecutorBuilder::
//   the driver's LLJITBuilder      one (a derived class)                JITBuilder (public)
//   the LLJIT                      Interpreter::getExecutionEngine      the builder's NotifyCreated
//                                                                       callback (clang's engine is
//                                                                       an opaque IncrementalExecutor)
//   in process, the value of an    a RuntimeInterfaceBuilder whose      the value store in the input's
//   input's final expression       store goes to the driver's Value     IR, redirected to it (clang's
//                                                                       own Value is private)
//   ...printed                     here (Value::print says "Not         Value::print
//                                  implement yet.")
//   out of process, the value      a runtime interface that stores a    an ASTConsumer in place of
//   stored into a SharedValueBuffer scalar or a string, leaves anything   clang's printing one that
//   (clang's store calls into      else as it is                        rewrites the expression into
//   this process)                                                       a store of any kind of value
//   ...printed                     here                                 a clang::Value built from the
//                                                                       buffer, by Value::print
//   the LLVMContext's lock while   ThreadSafeContext::getLock           ThreadSafeContext::
//   clang parses                                                        withContextDo
//   who runs an input's            the driver                           the driver
//   initializers
//   a failed input's code kept     clang's (its consumers are private)  nothing: HeldCodeGen queues
//   out of the next input's                                             the code generator's events
//   module                                                              until the parse succeeds
//   the ORC runtime's platform     initialize opens the JITDylib once;  as it is (dlopen, then
//                                  later ones do nothing                dlupdate); the JITDylib is
//                                                                       opened at creation
//   a continued directive line     joined without its line break        joined with it
//
// Why the driver runs initializers itself: LLJIT's in-process platform, on 19 and 22 alike, keeps
// asking for the initializers of an input that failed to link, even after Undo, so every later
// input fails too (stock clang-repl 22 shows it); and 19's ORC runtime runs a JITDylib's
// initializers at its first dlopen only. 22's ORC runtime could run the initializers each input
// adds at the next dlupdate, but that costs two round trips to the executor where the driver's
// call costs one.
//
// Concurrency: everything here runs on the driver's thread, except ContextGuard::learn, which
// the JIT calls from whichever thread materializes a module.
//
//===----------------------------------------------------------------------------------------===//
#ifndef JITSLAB_REPL_INTERPRETERCOMPAT_H
#define JITSLAB_REPL_INTERPRETERCOMPAT_H

#include "jitslab/PassPlugin.h"

#include "clang/Frontend/CompilerInstance.h"
#include "clang/Interpreter/Interpreter.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ThreadSafeModule.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace jitslab {
namespace repl {

/// Out of process: where the executor leaves the value of an input's final expression, as this
/// process sees it. The buffer is a global of the interpreter's first input, linked into memory
/// that the linker shares with the executor (jitslab's slab, or LLVM's shared-memory mapper);
/// this plugin finds it while its graph is linked and keeps its address in the linker's view,
/// so reading a value back takes no round trip to the executor (on LLVM 22 a string longer than
/// the copy takes one, to read the rest).
class SharedValueBuffer : public jitslab::PassPlugin {
public:
  /// The buffer's symbol, and its layout: the value in the first ValueBytes (any scalar fits;
  /// for a string, its address and its length), then CopyBytes of copied memory: a string's
  /// first characters and a terminating zero, or an array's bytes.
  static constexpr const char *Symbol = "__jitslab_repl_value";
  static constexpr size_t ValueBytes = 16, CopyBytes = 4096;

  void modifyPassConfig(llvm::orc::MaterializationResponsibility &, llvm::jitlink::LinkGraph &,
                        llvm::jitlink::PassConfiguration &Config) override;

  /// The buffer, once linked (else null).
  const unsigned char *bytes() const { return Bytes.load(); }

private:
  std::atomic<const unsigned char *> Bytes{nullptr};
};

/// Whether a preprocessor directive's line that ends in '\' keeps its line break when joined
/// to the next (clang-repl 22 keeps it, so that `#if 0 \` `#error \` `#endif` are three
/// directives; clang-repl 19 joins every continued line without one).
constexpr bool DirectiveContinuationKeepsLineBreak = LLVM_VERSION_MAJOR >= 22;

/// clang::Interpreter whose JIT is built from the driver's LLJITBuilder, and the value of the
/// expression an input ends in. The driver never destroys it (see the end of main.cpp).
///
/// In process, that value is captured into a Value of this object's and printed by
/// printValue. Out of process clang's value printing cannot work (it stores the value by
/// calling into the interpreter's own process): the value is stored into a SharedValueBuffer
/// and read from there (on LLVM 19 scalars and strings; on 22 every kind clang's printer
/// shows, printed by it); other values, and any value where there is no such buffer, are
/// computed and not printed, which takeSkippedValue says.
class ReplInterpreter {
public:
  /// The interpreter, its JIT created from `JB` (whose NotifyCreated callback this takes).
  /// `InProcess` says whether `JB` runs code in this process; out of process, `Values` (null
  /// when the memory manager shares no memory with the executor) is a plugin of JB's linking
  /// layer.
  static llvm::Expected<std::unique_ptr<ReplInterpreter>>
  create(std::unique_ptr<clang::CompilerInstance> CI, std::unique_ptr<llvm::orc::LLJITBuilder> JB,
         bool InProcess, std::shared_ptr<SharedValueBuffer> Values);

  ~ReplInterpreter();

  /// clang's interpreter itself: Execute and Undo as they are.
  clang::Interpreter &clang() { return *Interp; }

  /// Parses an input, as clang's Parse does. On LLVM 22, an input that fails leaves nothing
  /// in the next input's module: clang's own Parse lets code generated before the input's
  /// first error (and, out of process, after it) run with the next input, and so does this
  /// on LLVM 19, where clang's consumers cannot be reached.
  llvm::Expected<clang::PartialTranslationUnit &> parse(llvm::StringRef Input);

  /// The JIT that clang created from the builder.
  llvm::Expected<llvm::orc::LLJIT &> jit();

  /// Adapts a parsed input's module before it is executed (on 22, in process: the value store).
  void prepareModule(llvm::Module &M);

  /// Prints the value of the expression the last executed input ended in, as "(type) value"
  /// and a newline, and forgets it. False if there is none.
  bool printValue(llvm::raw_ostream &OS);

  /// Forgets what the last input left to print: called before each input, so that an input
  /// that failed after its value was prepared leaves nothing for the next one.
  void forgetValue();

  /// Whether the last input ended in an expression whose value could not be printed because
  /// the code runs out of process (cleared by the call).
  bool takeSkippedValue();

private:
  ReplInterpreter() = default;

  struct Impl; // what differs between the majors

  std::unique_ptr<clang::Interpreter> Interp;
  std::unique_ptr<Impl> I;
};

/// The LLVMContext that clang generates IR into and that the JIT compiles and frees modules in.
/// clang::Interpreter parses without taking the context's lock (it keeps its ThreadSafeContext
/// private), which is safe only while the JIT does its work on the same thread. Out of process,
/// ORC materializes on the executor connection's thread pool, and a compiled module is freed
/// there (under the lock) while the next input is being parsed: the driver parses through
/// whileLocked. The context is learned from the first module the JIT transforms.
class ContextGuard {
public:
  void learn(const llvm::orc::ThreadSafeContext &C);

  /// Runs `F` holding the context's lock, or without a lock if no module has been compiled yet
  /// (then none can be freed concurrently either).
  void whileLocked(llvm::function_ref<void()> F);

private:
  std::mutex M;
  std::optional<llvm::orc::ThreadSafeContext> Ctx;
};

/// The platform out of process: the ORC runtime at `OrcRuntimePath`, fit for a JITDylib that
/// grows input by input. The first initialize opens the JITDylib (which sets up __cxa_atexit for
/// it), later ones do nothing (the driver runs each input's initializers: hoistInitializers in
/// Inputs.cpp), deinitialize closes it (which runs what JIT'd code registered there).
llvm::orc::LLJITBuilderState::PlatformSetupFunction orcRuntimePlatform(std::string OrcRuntimePath);

} // namespace repl
} // namespace jitslab

#endif // JITSLAB_REPL_INTERPRETERCOMPAT_H
