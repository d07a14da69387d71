/*
 * Stub.c: libjitslab-preload-MAJOR.so, what users put in LD_PRELOAD to run a stock LLVM tool
 * (clang-repl, lli, llvm-jitlink) on jitslab:
 *
 *   LD_PRELOAD=libjitslab-preload-22.so clang-repl
 *
 * It is loaded into every program the variable reaches (shells, ls, the compiler the tool
 * starts), so it is small, plain C, links nothing but libc and does nothing at load time but
 * look at the names of the objects already loaded (no file is opened, no memory mapped).
 *
 * Its only exported symbols are four member functions of LLVM's, with LLVM's own symbol
 * version (LLVM_MAJOR.MINOR, from the version script beside this file):
 * LLJITBuilderState::prepareForConstruction() and LLLazyJITBuilderState's (clang-repl, lli),
 * the SelfExecutorProcessControl constructor that takes a memory manager and
 * SimpleRemoteEPC::setup (llvm-jitlink, in process and out of process). A tool calls them
 * from outside libLLVM, through the PLT, so the dynamic linker binds those calls here; a
 * program that does not link this LLVM major never refers to them, so nothing of jitslab ever
 * runs in it. On the first call the stub dlopens the implementation
 * (libjitslab-preload-impl-MAJOR.so, beside it: C++, links LLVM and jitslab) and hands it the
 * call, then calls LLVM's real function, found with dlvsym. Why these functions are the least
 * fragile interposition points is said in Preload.cpp and ProcessControl.cpp.
 *
 * A program linked to another LLVM major refers to the same names with another version, which
 * the dynamic linker does not bind here: the stub says so once, at load, and stays out.
 */
#define _GNU_SOURCE
#include "Interface.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From CMake: JITSLAB_LLVM_MAJOR (22), JITSLAB_LLVM_SYMBOL_VERSION ("LLVM_22.1"),
 * JITSLAB_PRELOAD_IMPL ("libjitslab-preload-impl-22.so"). */

#define EXPORT __attribute__((visibility("default")))

/* The implementation's entry points: all null when it could not be loaded. */
static JitslabPreloadPrepareFn ImplPrepare;
static JitslabPreloadSelfEPCFn ImplSelfEPC;
static JitslabPreloadRemoteSetupFn ImplRemoteSetup;
static pthread_once_t InitOnce = PTHREAD_ONCE_INIT;

/* The LLVM major of a loaded object's name, if it is libLLVM (libLLVM.so.22.1 or
 * libLLVM-22.so), else 0. */
static int llvmMajorOf(const char *Path) {
  const char *Base = strrchr(Path, '/');
  Base = Base ? Base + 1 : Path;
  if (strncmp(Base, "libLLVM.so.", 11) == 0)
    return atoi(Base + 11);
  if (strncmp(Base, "libLLVM-", 8) == 0)
    return atoi(Base + 8);
  return 0;
}

static int findOtherLLVM(struct dl_phdr_info *Info, size_t Size, void *Found) {
  (void)Size;
  int Major = llvmMajorOf(Info->dlpi_name);
  if (Major != 0 && Major != JITSLAB_LLVM_MAJOR) {
    *(int *)Found = Major;
    return 1;
  }
  return 0;
}

/* At load: a program of another major gets one line and is left alone. */
__attribute__((constructor)) static void checkLLVMMajor(void) {
  int Other = 0;
  dl_iterate_phdr(findOtherLLVM, &Other);
  if (Other)
    fprintf(stderr,
            "jitslab-preload: this program uses LLVM %d, this preload is for LLVM %d "
            "(use libjitslab-preload-%d.so); jitslab is not used\n",
            Other, JITSLAB_LLVM_MAJOR, Other);
}

/* Loads the implementation from the directory this stub was loaded from. */
static void loadImpl(void) {
  Dl_info Self;
  if (!dladdr((void *)&loadImpl, &Self) || !Self.dli_fname) {
    fprintf(stderr, "jitslab-preload: cannot tell where libjitslab-preload is; jitslab is not "
                    "used\n");
    return;
  }
  const char *Slash = strrchr(Self.dli_fname, '/');
  size_t DirLen = Slash ? (size_t)(Slash - Self.dli_fname + 1) : 0;
  char Path[4096];
  if (DirLen + sizeof JITSLAB_PRELOAD_IMPL > sizeof Path) {
    fprintf(stderr, "jitslab-preload: the path of %s is too long; jitslab is not used\n",
            Self.dli_fname);
    return;
  }
  memcpy(Path, Self.dli_fname, DirLen);
  memcpy(Path + DirLen, JITSLAB_PRELOAD_IMPL, sizeof JITSLAB_PRELOAD_IMPL);
  /* RTLD_LOCAL: the implementation's own symbols must not interpose anything of the tool's. */
  void *Impl = dlopen(Path, RTLD_NOW | RTLD_LOCAL);
  if (!Impl) {
    fprintf(stderr, "jitslab-preload: %s; jitslab is not used\n", dlerror());
    return;
  }
  JitslabPreloadPrepareFn Prepare =
      (JitslabPreloadPrepareFn)dlsym(Impl, JITSLAB_PRELOAD_PREPARE_SYMBOL);
  JitslabPreloadSelfEPCFn SelfEPC =
      (JitslabPreloadSelfEPCFn)dlsym(Impl, JITSLAB_PRELOAD_SELF_EPC_SYMBOL);
  JitslabPreloadRemoteSetupFn RemoteSetup =
      (JitslabPreloadRemoteSetupFn)dlsym(Impl, JITSLAB_PRELOAD_REMOTE_SETUP_SYMBOL);
  if (!Prepare || !SelfEPC || !RemoteSetup) {
    /* An implementation from another build: use none of it. */
    fprintf(stderr,
            "jitslab-preload: %s lacks the entry points of this stub; jitslab is not "
            "used\n",
            Path);
    return;
  }
  ImplPrepare = Prepare;
  ImplSelfEPC = SelfEPC;
  ImplRemoteSetup = RemoteSetup;
}

/* LLVM's definition of `Name`, the next after this stub in the lookup order. The tool was
 * linked against it with this version, so the dynamic linker has it loaded. */
static void *realFunction(const char *Name) {
  void *Real = dlvsym(RTLD_NEXT, Name, JITSLAB_LLVM_SYMBOL_VERSION);
  if (!Real) {
    /* Unreachable short of a broken installation: the caller was bound here through a
     * reference to LLVM's versioned symbol, so libLLVM is loaded. */
    fprintf(stderr, "jitslab-preload: %s@%s not found: %s\n", Name, JITSLAB_LLVM_SYMBOL_VERSION,
            dlerror());
    abort();
  }
  return Real;
}

#define LLJIT_PREPARE "_ZN4llvm3orc17LLJITBuilderState22prepareForConstructionEv"
#define LAZY_PREPARE "_ZN4llvm3orc21LLLazyJITBuilderState22prepareForConstructionEv"
/* SelfExecutorProcessControl::SelfExecutorProcessControl(shared_ptr<SymbolStringPool>,
 * unique_ptr<TaskDispatcher>, Triple, unsigned, unique_ptr<jitlink::JITLinkMemoryManager>),
 * the complete-object constructor (C1), the one a tool calls. */
#define SELF_EPC_CTOR                                                                              \
  "_ZN4llvm3orc26SelfExecutorProcessControlC1ESt10shared_ptrINS0_16SymbolStringPoolEESt10uniq"     \
  "ue_ptrINS0_14TaskDispatcherESt14default_deleteIS6_EENS_6TripleEjS5_INS_7jitlink20JITLinkMe"     \
  "moryManagerES7_ISC_EE"
#define REMOTE_SETUP "_ZN4llvm3orc15SimpleRemoteEPC5setupENS1_5SetupE"

static JitslabPrepareFn RealLLJITPrepare, RealLazyPrepare;
static JitslabSelfEPCCtorFn RealSelfEPCCtor;
static JitslabRemoteSetupFn RealRemoteSetup;

/* Once, on the first call of a hook: LLVM's functions and the implementation. */
static void initialize(void) {
  RealLLJITPrepare = (JitslabPrepareFn)realFunction(LLJIT_PREPARE);
  RealLazyPrepare = (JitslabPrepareFn)realFunction(LAZY_PREPARE);
  RealSelfEPCCtor = (JitslabSelfEPCCtorFn)realFunction(SELF_EPC_CTOR);
  RealRemoteSetup = (JitslabRemoteSetupFn)realFunction(REMOTE_SETUP);
  loadImpl();
}

static void prepare(void *Ret, void *Builder, JitslabPrepareFn *Real) {
  pthread_once(&InitOnce, initialize);
  if (ImplPrepare)
    ImplPrepare(Ret, Builder, *Real);
  else
    (*Real)(Ret, Builder);
}

EXPORT void lljitPrepare(void *Ret, void *Builder) __asm__(LLJIT_PREPARE);
void lljitPrepare(void *Ret, void *Builder) { prepare(Ret, Builder, &RealLLJITPrepare); }

EXPORT void lazyPrepare(void *Ret, void *Builder) __asm__(LAZY_PREPARE);
void lazyPrepare(void *Ret, void *Builder) { prepare(Ret, Builder, &RealLazyPrepare); }

EXPORT void selfEPCCtor(void *This, void *StringPool, void *Dispatcher, void *Triple,
                        unsigned PageSize, void *MemMgr) __asm__(SELF_EPC_CTOR);
void selfEPCCtor(void *This, void *StringPool, void *Dispatcher, void *Triple, unsigned PageSize,
                 void *MemMgr) {
  pthread_once(&InitOnce, initialize);
  if (ImplSelfEPC)
    ImplSelfEPC(MemMgr);
  RealSelfEPCCtor(This, StringPool, Dispatcher, Triple, PageSize, MemMgr);
}

EXPORT void remoteSetup(void *Ret, void *This, void *Setup) __asm__(REMOTE_SETUP);
void remoteSetup(void *Ret, void *This, void *Setup) {
  pthread_once(&InitOnce, initialize);
  if (ImplRemoteSetup)
    ImplRemoteSetup(Setup);
  RealRemoteSetup(Ret, This, Setup);
}
