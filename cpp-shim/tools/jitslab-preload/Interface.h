/*
 * Interface.h: the calls between the preload's stub (Stub.c, libjitslab-preload-MAJOR.so, what
 * users LD_PRELOAD) and its implementation (libjitslab-preload-impl-MAJOR.so, which the stub
 * dlopens the first time an interposed function of LLVM's is called).
 *
 * The stub's hooks have the names and symbol versions of LLVM's member functions, so the
 * dynamic linker binds the tool's calls to them; in C they take the arguments as the Itanium
 * C++ ABI passes them. A function that returns an llvm::Error, a class with a non-trivial
 * destructor, returns it through a hidden pointer passed first, before `this`: the
 * prepareForConstruction hooks are `void f(void *Ret, void *This)`, and LLVM's real function
 * is called the same way. An argument of such a class is passed as a pointer to the caller's
 * copy, which the callee may change in place before LLVM's function takes it.
 */
#ifndef JITSLAB_PRELOAD_INTERFACE_H
#define JITSLAB_PRELOAD_INTERFACE_H

#ifdef __cplusplus
extern "C" {
#endif

/* LLJITBuilderState::prepareForConstruction() or LLLazyJITBuilderState's, as seen from C. */
typedef void (*JitslabPrepareFn)(void *Ret, void *Builder);

/*
 * The implementation's side of a prepareForConstruction hook: calls `Real` (LLVM's) with Ret
 * and Builder, then gives the builder jitslab's object-linking layer if LLVM chose its own
 * default. Builder is an llvm::orc::LLJITBuilderState (also for the lazy builder, whose state
 * derives from it at offset 0).
 */
#define JITSLAB_PRELOAD_PREPARE_SYMBOL "jitslab_preload_prepare"
typedef void (*JitslabPreloadPrepareFn)(void *Ret, void *Builder, JitslabPrepareFn Real);

/*
 * SelfExecutorProcessControl's constructor, as seen from C: `this`, then its arguments, each of
 * a class type with a non-trivial destructor (shared_ptr<SymbolStringPool>,
 * unique_ptr<TaskDispatcher>, Triple, unique_ptr<JITLinkMemoryManager>) passed as a pointer to
 * the caller's temporary, which the caller destroys after the call.
 */
typedef void (*JitslabSelfEPCCtorFn)(void *This, void *StringPool, void *Dispatcher, void *Triple,
                                     unsigned PageSize, void *MemMgr);

/*
 * The implementation's side of the constructor's hook, called before LLVM's constructor:
 * MemMgr is the std::unique_ptr<jitlink::JITLinkMemoryManager> the constructor is about to
 * take; if it holds one of LLVM's own managers (or none, for which LLVM would make its
 * default), a jitslab manager in this process replaces it.
 */
#define JITSLAB_PRELOAD_SELF_EPC_SYMBOL "jitslab_preload_self_epc"
typedef void (*JitslabPreloadSelfEPCFn)(void *MemMgr);

/* SimpleRemoteEPC::setup(Setup), as seen from C: Ret, `this`, then a pointer to the caller's
 * Setup (a class type with a non-trivial destructor, so passed by reference in the ABI). */
typedef void (*JitslabRemoteSetupFn)(void *Ret, void *This, void *Setup);

/*
 * The implementation's side of the setup hook, called before LLVM's setup: Setup is an
 * llvm::orc::SimpleRemoteEPC::Setup; if its CreateMemoryManager is empty (LLVM's default), it
 * gets one that makes a jitslab manager in the executor.
 */
#define JITSLAB_PRELOAD_REMOTE_SETUP_SYMBOL "jitslab_preload_remote_setup"
typedef void (*JitslabPreloadRemoteSetupFn)(void *Setup);

#ifdef __cplusplus
}
#endif

#endif
