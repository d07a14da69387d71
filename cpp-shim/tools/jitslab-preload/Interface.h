/*
 * Interface.h: the calls between the preload's stub (Stub.c, libjitslab-preload-MAJOR.so, what
 * users LD_PRELOAD) and its implementation (libjitslab-preload-impl-MAJOR.so, which the stub
 * dlopens the first time an interposed function of LLVM's is called).
 *
 * The stub's hooks have the names and symbol versions of LLVM's member functions, so the
 * dynamic linker binds the tool's calls to them. Each such function returns an llvm::Error,
 * a class with a non-trivial destructor: the Itanium C++ ABI returns it through a hidden
 * pointer passed first, before `this`. In C the hooks are therefore `void f(void *Ret,
 * void *This)`, and LLVM's real function is called the same way.
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

#ifdef __cplusplus
}
#endif

#endif
