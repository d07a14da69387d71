//===- repl/InterpreterCompat.cpp - clang's Interpreter as jitslab-repl uses it ------===//
//
// See InterpreterCompat.h. One section per major, then what both share.
//
//===----------------------------------------------------------------------------------===//

#include "InterpreterCompat.h"
#include "jitslab/OrcCompat.h"

#include "clang/AST/ASTConsumer.h"
#include "clang/AST/Decl.h"
#include "clang/AST/Expr.h"
#include "clang/AST/ExprCXX.h"
#include "clang/Basic/TokenKinds.h"
#include "clang/Frontend/MultiplexConsumer.h"
#include "clang/Interpreter/Value.h"
#include "clang/Sema/Ownership.h"
#include "clang/Sema/Sema.h"
#include "clang/Sema/SemaConsumer.h"

#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/Instructions.h"
#include "llvm/Support/Format.h"

#include <cstring>
#include <functional>
#include <vector>

#if LLVM_VERSION_MAJOR != 19 && LLVM_VERSION_MAJOR != 22
#error "jitslab-repl builds against LLVM 19 or LLVM 22"
#endif

using namespace llvm;
using namespace llvm::orc;

namespace jitslab {
namespace repl {

namespace {

// Out of process: the buffer a final expression's value is stored into (see SharedValueBuffer)
// and the stores that are calls rather than assignments: a string's characters, an array's
// bytes, an address in the place clang's own store has its value (the fourth argument; see
// ValueToBuffer). Its sizes come from SharedValueBuffer. The buffer has an initializer so that
// it has bytes in the linked image (zero-filled blocks have none). Written in C89 and free of
// warnings, whatever the session's language and warning flags: it is the session's first input.
std::string outOfProcessValueRuntime() {
  return "enum { __jitslab_repl_value_bytes = " + std::to_string(SharedValueBuffer::ValueBytes) +
         ", __jitslab_repl_copy_bytes = " + std::to_string(SharedValueBuffer::CopyBytes) + " };" +
         R"(
#ifdef __cplusplus
extern "C" {
#endif
__attribute__((aligned(16))) unsigned char
    __jitslab_repl_value[__jitslab_repl_value_bytes + __jitslab_repl_copy_bytes] = {1};
void __jitslab_repl_keep_string(const char *S) {
  unsigned char *Copy = __jitslab_repl_value + __jitslab_repl_value_bytes;
  unsigned long N = 0;
  for (; S && S[N]; ++N)
    if (N < __jitslab_repl_copy_bytes - 1)
      Copy[N] = S[N];
  Copy[N < __jitslab_repl_copy_bytes - 1 ? N : __jitslab_repl_copy_bytes - 1] = 0;
  ((const char **)__jitslab_repl_value)[0] = S;
  ((unsigned long *)__jitslab_repl_value)[1] = N;
}
void __jitslab_repl_keep_bytes(const void *P, unsigned long N) {
  unsigned char *Copy = __jitslab_repl_value + __jitslab_repl_value_bytes;
  unsigned long I;
  for (I = 0; I < N && I < __jitslab_repl_copy_bytes; ++I)
    Copy[I] = ((const unsigned char *)P)[I];
}
void __jitslab_repl_keep_address(void *This, void *Out, void *Type, const void *P) {
  (void)This, (void)Out, (void)Type;
  *(const void **)__jitslab_repl_value = P;
}
#ifdef __cplusplus
}
#endif
)";
}

/// Sets `V`, of a builtin type clang::Value holds, to the value of its type stored at `Bytes`.
void loadScalar(clang::Value &V, const unsigned char *Bytes) {
  switch (V.getKind()) {
#define X(type, name)                                                                              \
  case clang::Value::K_##name: {                                                                   \
    type Val;                                                                                      \
    std::memcpy(&Val, Bytes, sizeof Val);                                                          \
    V.set##name(Val);                                                                              \
    break;                                                                                         \
  }
    REPL_BUILTIN_TYPES
#undef X
  default:
    break;
  }
}

constexpr const char *KeepString = "__jitslab_repl_keep_string";
constexpr const char *KeepBytes = "__jitslab_repl_keep_bytes";
constexpr const char *KeepAddress = "__jitslab_repl_keep_address";
/// What the runtime defines: looked up once it is executed, so that all of it is linked (and
/// SharedValueBuffer has found the buffer) before any input can use it.
constexpr const char *ValueRuntimeSymbols[] = {SharedValueBuffer::Symbol, KeepString, KeepBytes,
                                               KeepAddress};

/// Out of process, the first initialize of a JITDylib goes to the ORC runtime (a dlopen, which
/// sets the JITDylib up, and with it __cxa_atexit); later ones do nothing, because the driver
/// runs each input's initializers itself (hoistInitializers in Inputs.cpp, one call to the
/// executor). LLVM 19's runtime runs a JITDylib's initializers at its first dlopen only, so it
/// has no other way. LLVM 22's can run the new ones at each later initialize (a dlupdate), but
/// that costs two round trips per input where the hoisted function costs one: the dlupdate,
/// and inside it the runtime's call back for the initializers to run. Deinitialize closes what
/// the first initialize opened.
class IncrementalORCPlatformSupport : public ORCPlatformSupport {
public:
  using ORCPlatformSupport::ORCPlatformSupport;
  Error initialize(JITDylib &JD) override {
    if (!Opened.insert(&JD).second)
      return Error::success();
    return ORCPlatformSupport::initialize(JD);
  }
  Error deinitialize(JITDylib &JD) override {
    if (!Opened.erase(&JD))
      return Error::success();
    return ORCPlatformSupport::deinitialize(JD);
  }

private:
  SmallPtrSet<JITDylib *, 2> Opened;
};

} // namespace

#if LLVM_VERSION_MAJOR >= 22
//===----------------------------------------------------------------------------------===//
// LLVM 22
//===----------------------------------------------------------------------------------===//

namespace {

/// The value-printing runtime functions that clang's code for a final expression calls:
/// (interpreter, where the value goes, its type[, the value]).
constexpr StringRef ValueStores[] = {"__clang_Interpreter_SetValueNoAlloc",
                                     "__clang_Interpreter_SetValueWithAlloc"};

/// Out of process: how the value of an input's final expression was left in the
/// SharedValueBuffer, and as what type, for the driver to build a clang::Value of.
struct StoredValue {
  enum Shape {
    None,    // nothing stored (no final expression, or a void one)
    Scalar,  // the value itself, in the first bytes
    Pointer, // an address in the executor: a pointer's value, an object's or a function's
    String,  // a pointer to characters, its length, and its first characters copied
    Bytes,   // an array or a member pointer, copied
  } How = None;
  clang::QualType Type; // as clang's value printer would have it: an lvalue object as `T &`
};

/// Out of process: takes the place of clang's value-printing consumer (clang installs its own
/// only when given none) and ahead of code generation rewrites an input's final expression
/// `E` into a store of its value into the SharedValueBuffer, which the executor runs as part of
/// the input: `*(T *)__jitslab_repl_value = E` for a scalar or a pointer, the address of an
/// object, a call that copies a string's characters or an array's bytes, a call that has a
/// function's address as clang's own store has it (its printer shows the function's body from
/// that call). The type of the value is what clang's convertExprToValue gives it, so that
/// clang::Value prints it exactly as in process. What cannot be stored (no buffer, an rvalue
/// record in C, an array larger than the buffer, a builtin type clang's printer does not know)
/// runs as it is written and is marked skipped.
class ValueToBuffer : public clang::ASTConsumer {
public:
  ValueToBuffer(clang::CompilerInstance &CI, bool HaveBuffer, StoredValue &Out, bool &Skipped)
      : CI(CI), HaveBuffer(HaveBuffer), Out(Out), Skipped(Skipped) {}

  bool HandleTopLevelDecl(clang::DeclGroupRef DGR) override {
    for (clang::Decl *D : DGR)
      if (auto *S = dyn_cast<clang::TopLevelStmtDecl>(D); S && S->isSemiMissing())
        rewrite(*S);
    return true;
  }

private:
  void rewrite(clang::TopLevelStmtDecl &TLSD) {
    if (CI.getDiagnostics().hasErrorOccurred())
      return; // the input will not run
    auto *E = cast<clang::Expr>(TLSD.getStmt());
    auto *Cleanups = dyn_cast<clang::ExprWithCleanups>(E);
    if (Cleanups)
      E = Cleanups->getSubExpr();
    clang::QualType T = E->IgnoreImpCasts()->getType();
    if (T->isVoidType())
      return;
    StoredValue V;
    clang::ExprResult R = HaveBuffer ? store(E, T, V) : clang::ExprError();
    if (R.isInvalid()) {
      Skipped = true;
      return;
    }
    clang::Expr *New = R.get();
    if (Cleanups) // the temporaries of E are still destroyed at the end of the input
      New = clang::ExprWithCleanups::Create(
          sema().getASTContext(), New, Cleanups->cleanupsHaveSideEffects(), Cleanups->getObjects());
    TLSD.setStmt(New);
    Out = V;
  }

  // The store of `E`'s value, whose type (as the expression is written) is `T`; `V` says how
  // the value is left in the buffer.
  clang::ExprResult store(clang::Expr *E, clang::QualType T, StoredValue &V) {
    clang::ASTContext &Ctx = sema().getASTContext();
    clang::Expr *Bare = E->IgnoreImpCasts();
    clang::QualType D = T.getDesugaredType(Ctx);
    V.Type = T;
    if (D->isRecordType()) {
      V.How = StoredValue::Pointer;
      if (Bare->isLValue()) { // printed as a reference to the object
        V.Type = Ctx.getLValueReferenceType(T);
        return storePointer(addressOf(Bare));
      }
      // A temporary: its address, while it lives (to the end of the input). Passed to a call,
      // where clang does not warn of a dangling pointer as it would of an assignment.
      if (!Ctx.getLangOpts().CPlusPlus)
        return clang::ExprError();
      return keepAddress(addressOf(boundToConstReference(E, T)));
    }
    if (const auto *A = Ctx.getAsConstantArrayType(D)) {
      uint64_t Size = Ctx.getTypeSizeInChars(A).getQuantity();
      if (!Bare->isLValue() || Size > SharedValueBuffer::CopyBytes)
        return clang::ExprError();
      V.How = StoredValue::Bytes;
      return call(KeepBytes, {Bare, sizeLiteral(Size)});
    }
    if (D->isMemberPointerType()) { // clang prints the address of its copy, as of an array
      V.How = StoredValue::Bytes;
      return assign(E, T.getUnqualifiedType(), SharedValueBuffer::ValueBytes);
    }
    if (D->isFunctionType()) { // clang's printer shows its body, found in the call
      V.How = StoredValue::Pointer;
      return keepAddress(Bare);
    }
    if (D->isPointerType() && D->getPointeeType()->isCharType()) {
      V.How = StoredValue::String;
      return call(KeepString, {E});
    }
    if (D->isPointerType() || D->isNullPtrType()) {
      V.How = StoredValue::Pointer;
      return storePointer(E);
    }
    if (printableScalar(D)) {
      V.How = StoredValue::Scalar;
      return assign(E, T.getUnqualifiedType());
    }
    return clang::ExprError();
  }

  // The builtin types clang::Value holds (REPL_BUILTIN_TYPES), directly or under an enum.
  static bool printableScalar(clang::QualType T) {
    if (const auto *ED = T->getAsEnumDecl())
      T = ED->getIntegerType();
    const auto *BT = T->getAs<clang::BuiltinType>();
    if (!BT)
      return false;
    switch (BT->getKind()) {
#define X(type, name) case clang::BuiltinType::name:
      REPL_BUILTIN_TYPES
#undef X
      return true;
    default:
      return false;
    }
  }

  clang::ExprResult storePointer(clang::ExprResult P) {
    if (P.isInvalid())
      return P;
    clang::ExprResult Untyped = toVoidPointer(P.get());
    if (Untyped.isInvalid())
      return Untyped;
    return assign(Untyped.get(), sema().getASTContext().VoidPtrTy);
  }

  // `__jitslab_repl_keep_address(0, 0, 0, (void *)P)`: P where clang's own store has the value.
  clang::ExprResult keepAddress(clang::ExprResult P) {
    if (P.isInvalid())
      return P;
    clang::ExprResult Untyped = toVoidPointer(P.get());
    if (Untyped.isInvalid())
      return Untyped;
    clang::ASTContext &Ctx = sema().getASTContext();
    clang::Expr *Null = clang::IntegerLiteral::Create(Ctx, APInt(Ctx.getTypeSize(Ctx.IntTy), 0),
                                                      Ctx.IntTy, clang::SourceLocation());
    return call(KeepAddress, {Null, Null, Null, Untyped.get()});
  }

  // `*(T *)(__jitslab_repl_value + Offset) = Val`.
  clang::ExprResult assign(clang::Expr *Val, clang::QualType T, uint64_t Offset = 0) {
    auto *Buffer = dyn_cast_or_null<clang::VarDecl>(lookup(SharedValueBuffer::Symbol));
    if (!Buffer)
      return clang::ExprError();
    clang::Sema &S = sema();
    clang::ASTContext &Ctx = S.getASTContext();
    clang::SourceLocation Loc = Val->getExprLoc();
    clang::ExprResult Ref = S.BuildDeclRefExpr(Buffer, Buffer->getType(), clang::VK_LValue, Loc);
    if (Ref.isInvalid())
      return clang::ExprError();
    if (Offset)
      Ref = S.BuildBinOp(nullptr, Loc, clang::BO_Add, Ref.get(), sizeLiteral(Offset));
    if (Ref.isInvalid())
      return clang::ExprError();
    clang::ExprResult Ptr = S.BuildCStyleCastExpr(
        Loc, Ctx.getTrivialTypeSourceInfo(Ctx.getPointerType(T)), Loc, Ref.get());
    if (Ptr.isInvalid())
      return clang::ExprError();
    clang::ExprResult Slot = S.CreateBuiltinUnaryOp(Loc, clang::UO_Deref, Ptr.get());
    if (Slot.isInvalid())
      return clang::ExprError();
    return S.BuildBinOp(nullptr, Loc, clang::BO_Assign, Slot.get(), Val);
  }

  clang::ExprResult toVoidPointer(clang::Expr *E) {
    clang::ASTContext &Ctx = sema().getASTContext();
    return sema().BuildCStyleCastExpr(E->getExprLoc(), Ctx.getTrivialTypeSourceInfo(Ctx.VoidPtrTy),
                                      E->getExprLoc(), E);
  }

  // The address of an lvalue, never through an overloaded operator&.
  clang::ExprResult addressOf(clang::ExprResult LValue) {
    if (LValue.isInvalid())
      return LValue;
    return sema().CreateBuiltinUnaryOp(LValue.get()->getExprLoc(), clang::UO_AddrOf, LValue.get());
  }

  // `static_cast<const T &>(E)`: the temporary `E` materialized, as an lvalue.
  clang::ExprResult boundToConstReference(clang::Expr *E, clang::QualType T) {
    clang::ASTContext &Ctx = sema().getASTContext();
    clang::QualType Ref = Ctx.getLValueReferenceType(T.withConst());
    clang::SourceLocation Loc = E->getExprLoc();
    return sema().BuildCXXNamedCast(Loc, clang::tok::kw_static_cast,
                                    Ctx.getTrivialTypeSourceInfo(Ref), E,
                                    clang::SourceRange(Loc, Loc), clang::SourceRange(Loc, Loc));
  }

  clang::ExprResult call(StringRef Name, ArrayRef<clang::Expr *> Args) {
    auto *F = dyn_cast_or_null<clang::FunctionDecl>(lookup(Name));
    if (!F)
      return clang::ExprError();
    for (clang::Expr *A : Args)
      if (!A)
        return clang::ExprError();
    clang::Sema &S = sema();
    clang::SourceLocation Loc = Args.front()->getExprLoc();
    clang::ExprResult Callee = S.BuildDeclRefExpr(F, F->getType(), clang::VK_LValue, Loc);
    if (Callee.isInvalid())
      return clang::ExprError();
    SmallVector<clang::Expr *, 4> A(Args.begin(), Args.end());
    return S.BuildCallExpr(nullptr, Callee.get(), Loc, A, Loc);
  }

  clang::Expr *sizeLiteral(uint64_t N) {
    clang::ASTContext &Ctx = sema().getASTContext();
    return clang::IntegerLiteral::Create(Ctx, APInt(Ctx.getTypeSize(Ctx.UnsignedLongTy), N),
                                         Ctx.UnsignedLongTy, clang::SourceLocation());
  }

  clang::NamedDecl *lookup(StringRef Name) {
    clang::Sema &S = sema();
    return S.LookupSingleName(S.TUScope, &S.getASTContext().Idents.get(Name),
                              clang::SourceLocation(), clang::Sema::LookupOrdinaryName);
  }

  clang::Sema &sema() { return CI.getSema(); }

  clang::CompilerInstance &CI;
  bool HaveBuffer;
  StoredValue &Out;
  bool &Skipped;
};

/// clang::Interpreter through the constructor that takes an ASTConsumer (protected). What
/// Interpreter::create adds, the value-printing runtime's declarations and the boundary below
/// which Undo must not go, is not wanted without value printing: the driver keeps that
/// boundary itself.
class InterpreterWithConsumer : public clang::Interpreter {
public:
  InterpreterWithConsumer(std::unique_ptr<clang::CompilerInstance> CI, Error &Err,
                          std::unique_ptr<clang::IncrementalExecutorBuilder> IEB,
                          std::unique_ptr<clang::ASTConsumer> Consumer)
      : Interpreter(std::move(CI), Err, std::move(IEB), std::move(Consumer)) {}
};

/// Stands between clang's consumers and code generation, and while an input is parsed holds
/// everything for code generation until the input is known to be good. clang hands code
/// generation each declaration as it is parsed, and an input that fails later leaves what was
/// generated for the declarations before its first error (a statement's code, a global's
/// initializer) in the module that the next input's code goes into, where it runs as the next
/// input's initializers. In process clang stops after an input's first error, not before it;
/// out of process (ValueToBuffer, next to clang's code generation) it did not stop at all, and
/// an error that is a warning made one (C's implicit declaration of `printf`) does not stop code
/// generation either. Held, a failed input's declarations never reach code generation
/// (`drop`); a good input's reach it in the order clang gave them, at the end of the input
/// (HandleTranslationUnit), before clang takes the module.
class HeldCodeGen final : public clang::ASTConsumer {
public:
  explicit HeldCodeGen(std::unique_ptr<clang::ASTConsumer> CodeGen) : Inner(std::move(CodeGen)) {}

  /// Holds from now until the input is released (or dropped).
  void hold() { Holding = true; }
  /// The input was good: what is left reaches code generation; later calls pass straight on.
  void release() {
    replay();
    Holding = false;
  }
  /// The input failed: what it held is forgotten.
  void drop() {
    Held.clear();
    Holding = false;
  }

  bool HandleTopLevelDecl(clang::DeclGroupRef D) override {
    pass([this, D] { Inner->HandleTopLevelDecl(D); });
    return true;
  }
  void HandleInlineFunctionDefinition(clang::FunctionDecl *D) override {
    pass([this, D] { Inner->HandleInlineFunctionDefinition(D); });
  }
  void HandleInterestingDecl(clang::DeclGroupRef D) override {
    pass([this, D] { Inner->HandleInterestingDecl(D); });
  }
  void HandleTagDeclDefinition(clang::TagDecl *D) override {
    pass([this, D] { Inner->HandleTagDeclDefinition(D); });
  }
  void HandleTagDeclRequiredDefinition(const clang::TagDecl *D) override {
    pass([this, D] { Inner->HandleTagDeclRequiredDefinition(D); });
  }
  void HandleCXXImplicitFunctionInstantiation(clang::FunctionDecl *D) override {
    pass([this, D] { Inner->HandleCXXImplicitFunctionInstantiation(D); });
  }
  void HandleTopLevelDeclInObjCContainer(clang::DeclGroupRef D) override {
    pass([this, D] { Inner->HandleTopLevelDeclInObjCContainer(D); });
  }
  void HandleImplicitImportDecl(clang::ImportDecl *D) override {
    pass([this, D] { Inner->HandleImplicitImportDecl(D); });
  }
  void CompleteTentativeDefinition(clang::VarDecl *D) override {
    pass([this, D] { Inner->CompleteTentativeDefinition(D); });
  }
  void CompleteExternalDeclaration(clang::DeclaratorDecl *D) override {
    pass([this, D] { Inner->CompleteExternalDeclaration(D); });
  }
  void AssignInheritanceModel(clang::CXXRecordDecl *RD) override {
    pass([this, RD] { Inner->AssignInheritanceModel(RD); });
  }
  void HandleCXXStaticMemberVarInstantiation(clang::VarDecl *D) override {
    pass([this, D] { Inner->HandleCXXStaticMemberVarInstantiation(D); });
  }
  void HandleVTable(clang::CXXRecordDecl *RD) override {
    pass([this, RD] { Inner->HandleVTable(RD); });
  }
  void HandleTranslationUnit(clang::ASTContext &Ctx) override {
    replay();
    Inner->HandleTranslationUnit(Ctx);
  }
  // Questions, not events: answered at once.
  void Initialize(clang::ASTContext &Ctx) override { Inner->Initialize(Ctx); }
  clang::ASTMutationListener *GetASTMutationListener() override {
    return Inner->GetASTMutationListener();
  }
  clang::ASTDeserializationListener *GetASTDeserializationListener() override {
    return Inner->GetASTDeserializationListener();
  }
  void PrintStats() override { Inner->PrintStats(); }
  bool shouldSkipFunctionBody(clang::Decl *D) override { return Inner->shouldSkipFunctionBody(D); }

  /// Puts a HeldCodeGen in front of code generation in the consumers clang made for
  /// `Interp` (every one of them a MultiplexConsumer on LLVM 22: clang's value-printing one in
  /// process, or ours and code generation out of process). `Ours` is the consumer jitslab gave
  /// clang, if any. Null where the consumers are not as expected (a plugin's added): clang's
  /// own behaviour is kept there.
  static HeldCodeGen *insert(clang::Interpreter &Interp, const clang::ASTConsumer *Ours) {
    auto &Outer =
        static_cast<clang::MultiplexConsumer &>(Interp.getCompilerInstance()->getASTConsumer());
    auto &Cs = Outer.*(&Reach::Consumers);
    size_t Want = Ours ? 2 : 1;
    if (Cs.size() != Want || (Ours && Cs[0].get() != Ours) || isa<clang::SemaConsumer>(*Cs.back()))
      return nullptr;
    auto Gate = std::make_unique<HeldCodeGen>(std::move(Cs.back()));
    HeldCodeGen *Raw = Gate.get();
    Cs.back() = std::move(Gate);
    return Raw;
  }

private:
  /// The consumers a MultiplexConsumer owns are a protected member.
  struct Reach : clang::MultiplexConsumer {
    using clang::MultiplexConsumer::Consumers;
  };

  void pass(std::function<void()> Call) {
    if (Holding)
      Held.push_back(std::move(Call));
    else
      Call();
  }
  void replay() {
    // Calls that a replayed one causes (if any) are held behind the rest, and replayed next.
    while (!Held.empty())
      for (auto &Call : std::exchange(Held, {}))
        Call();
  }

  std::unique_ptr<clang::ASTConsumer> Inner;
  bool Holding = false;
  std::vector<std::function<void()>> Held;
};

} // namespace

struct ReplInterpreter::Impl {
  LLJIT *J = nullptr; // set by the builder's NotifyCreated callback
  bool InProcess = true;
  clang::Value Captured; // in process: where a final expression's value is stored
  // Out of process: the buffer (null when the memory manager shares none), what the last
  // input left there (set by ValueToBuffer), and whether its value could not be stored.
  std::shared_ptr<SharedValueBuffer> Values;
  StoredValue Stored;
  bool Skipped = false;
  HeldCodeGen *Gate = nullptr; // owned by clang's consumers; null where it could not be put

  bool printStored(const clang::Interpreter &Interp, raw_ostream &OS);
  Expected<std::string> readString(uint64_t Addr);
};

Expected<std::unique_ptr<ReplInterpreter>>
ReplInterpreter::create(std::unique_ptr<clang::CompilerInstance> CI,
                        std::unique_ptr<LLJITBuilder> JB, bool InProcess,
                        std::shared_ptr<SharedValueBuffer> Values) {
  std::unique_ptr<ReplInterpreter> R(new ReplInterpreter);
  R->I = std::make_unique<Impl>();
  R->I->InProcess = InProcess;
  R->I->Values = std::move(Values);
  JB->setNotifyCreatedCallback([Impl = R->I.get()](LLJIT &J) {
    Impl->J = &J;
    return Error::success();
  });
  auto IEB = std::make_unique<clang::IncrementalExecutorBuilder>();
  IEB->IsOutOfProcess = !InProcess;
  IEB->JITBuilder = std::move(JB);

  const clang::ASTConsumer *Ours = nullptr;
  if (InProcess) {
    auto Interp = clang::Interpreter::create(std::move(CI), std::move(IEB));
    if (!Interp)
      return Interp.takeError();
    R->Interp = std::move(*Interp);
  } else {
    Error Err = Error::success();
    clang::CompilerInstance &C = *CI;
    auto Consumer =
        std::make_unique<ValueToBuffer>(C, R->I->Values != nullptr, R->I->Stored, R->I->Skipped);
    Ours = Consumer.get();
    R->Interp = std::make_unique<InterpreterWithConsumer>(std::move(CI), Err, std::move(IEB),
                                                          std::move(Consumer));
    if (Err)
      return std::move(Err);
  }
  // clang creates no JIT when it only parses (-fsyntax-only, -ast-dump): jit() says so.
  LLJIT *J = R->I->J;
  if (J)
    R->I->Gate = HeldCodeGen::insert(*R->Interp, Ours);
  if (!J || InProcess)
    return std::move(R);
  // Interpreter::create's first input (the runtime) opens the JITDylib through the platform;
  // without it, open it here, or the session's final deinitialize has nothing to close and
  // fails ("dlclose failed").
  if (Error E = J->initialize(J->getMainJITDylib()))
    return std::move(E);
  if (R->I->Values) {
    auto PTU = R->parse(outOfProcessValueRuntime());
    if (!PTU)
      return PTU.takeError();
    if (Error E = R->Interp->Execute(*PTU))
      return std::move(E);
    for (const char *Name : ValueRuntimeSymbols)
      if (auto Addr = J->lookup(Name); !Addr)
        return Addr.takeError();
  }
  return std::move(R);
}

Expected<clang::PartialTranslationUnit &> ReplInterpreter::parse(StringRef Input) {
  if (!I->Gate)
    return Interp->Parse(Input);
  I->Gate->hold();
  auto PTU = Interp->Parse(Input);
  if (PTU)
    I->Gate->release();
  else
    I->Gate->drop();
  return PTU;
}

Expected<LLJIT &> ReplInterpreter::jit() {
  if (!I->J)
    return make_error<StringError>("no JIT: clang generates no code with these options",
                                   inconvertibleErrorCode());
  return *I->J;
}

void ReplInterpreter::prepareModule(Module &M) {
  if (!I->InProcess)
    return;
  // clang's code stores the value into the interpreter's private Value, whose address it
  // passes as the second argument; only ParseAndExecute reads that one. Store into ours.
  Constant *Ours = nullptr;
  for (StringRef Name : ValueStores) {
    Function *F = M.getFunction(Name);
    if (!F)
      continue;
    for (User *U : F->users()) {
      auto *Call = dyn_cast<CallBase>(U);
      if (!Call || Call->getCalledOperand() != F || Call->arg_size() < 2)
        continue;
      if (!Ours) {
        Type *IntPtr = M.getDataLayout().getIntPtrType(M.getContext());
        Ours = ConstantExpr::getIntToPtr(
            ConstantInt::get(IntPtr, reinterpret_cast<uintptr_t>(&I->Captured)),
            Call->getArgOperand(1)->getType());
      }
      Call->setArgOperand(1, Ours);
    }
  }
}

bool ReplInterpreter::printValue(raw_ostream &OS) {
  if (!I->InProcess)
    return I->printStored(*Interp, OS);
  bool Print = I->Captured.hasValue(); // a void expression has none
  if (Print)
    I->Captured.print(OS);
  I->Captured.clear();
  return Print;
}

void ReplInterpreter::forgetValue() {
  I->Captured.clear();
  I->Stored = StoredValue();
  I->Skipped = false;
}

// Builds the clang::Value that clang's own store would have made from what the executor left
// in the buffer, and prints it with clang's printer. Its data points into this process: at the
// buffer's copy of a string or an array, or at a string read from the executor when the copy
// holds only its beginning; anything else it points at is printed as an address, never read.
bool ReplInterpreter::Impl::printStored(const clang::Interpreter &Interp, raw_ostream &OS) {
  StoredValue S = std::exchange(Stored, StoredValue());
  const unsigned char *Bytes = Values ? Values->bytes() : nullptr;
  if (S.How == StoredValue::None || !Bytes)
    return false;
  const unsigned char *Copy = Bytes + SharedValueBuffer::ValueBytes;
  if (S.How == StoredValue::Scalar) {
    clang::Value V(&Interp, S.Type.getAsOpaquePtr());
    loadScalar(V, Bytes);
    V.print(OS);
    return true;
  }
  // A Value made for a record or array type would allocate storage for the object here and
  // run its destructor (an executor address) here: it is made as a void * and then retyped.
  const clang::ASTContext &Ctx = Interp.getASTContext();
  clang::Value V(&Interp, Ctx.VoidPtrTy.getAsOpaquePtr());
  V.setOpaqueType(S.Type.getAsOpaquePtr());
  uint64_t Addr, Length;
  std::memcpy(&Addr, Bytes, sizeof Addr);
  std::memcpy(&Length, Bytes + sizeof Addr, sizeof Length);
  std::string Long;
  switch (S.How) {
  case StoredValue::Bytes:
    V.setPtr(const_cast<unsigned char *>(Copy));
    break;
  case StoredValue::String:
    if (Addr && Length >= SharedValueBuffer::CopyBytes) { // only the beginning was copied
      auto Read = readString(Addr);
      if (!Read) {
        OS << "error: reading the string at " << format("0x%llx", (unsigned long long)Addr)
           << " in the executor: " << toString(Read.takeError()) << "\n";
        return true;
      }
      Long = std::move(*Read);
    }
    V.setPtr(!Addr           ? nullptr
             : !Long.empty() ? static_cast<void *>(Long.data())
                             : const_cast<unsigned char *>(Copy));
    break;
  default:
    V.setPtr(reinterpret_cast<void *>(static_cast<uintptr_t>(Addr)));
    break;
  }
  V.print(OS);
  return true;
}

// A string longer than the buffer's copy, read from the executor (the one case that costs a
// round trip).
Expected<std::string> ReplInterpreter::Impl::readString(uint64_t Addr) {
  if (!J)
    return make_error<StringError>("no JIT", inconvertibleErrorCode());
  auto Strings = J->getExecutionSession().getExecutorProcessControl().getMemoryAccess().readStrings(
      {ExecutorAddr(Addr)});
  if (!Strings)
    return Strings.takeError();
  return std::move(Strings->front());
}

bool ReplInterpreter::takeSkippedValue() { return std::exchange(I->Skipped, false); }

void ContextGuard::whileLocked(function_ref<void()> F) {
  std::optional<ThreadSafeContext> C;
  {
    std::lock_guard<std::mutex> L(M);
    C = Ctx;
  }
  if (!C)
    return F();
  C->withContextDo([&](LLVMContext *) { F(); });
}

#else
//===----------------------------------------------------------------------------------===//
// LLVM 19
//===----------------------------------------------------------------------------------===//

namespace {

/// Whether a value of type `T` prints as a string: a pointer to a character type.
bool isString(clang::QualType T) {
  return T->isPointerType() && T->getPointeeType()->isAnyCharacterType();
}

/// How an expression's value reaches the driver. clang::Interpreter turns an input that ends
/// in an expression into a call that stores the value into its own private Value, which only
/// its ParseAndExecute reads. In process the call is built by LLVM's runtime interface but made
/// to store into `Out`, a Value of the driver's. Out of process a scalar is stored into the
/// SharedValueBuffer (`OutType` says the type) and anything else is left as it is (evaluated,
/// value discarded; `Skipped` is set).
class ValueCapture : public clang::RuntimeInterfaceBuilder {
public:
  ValueCapture(std::unique_ptr<clang::RuntimeInterfaceBuilder> InProcess, clang::Sema &S)
      : Base(std::move(InProcess)), S(S) {}
  TransformExprFunction *getPrintValueTransformer() override { return &transform; }

  clang::Value Out;
  clang::QualType OutType; // out of process: the type of the value in the buffer
  bool Skipped = false;

private:
  static clang::ExprResult transform(RuntimeInterfaceBuilder *Self, clang::Expr *E,
                                     ArrayRef<clang::Expr *> Args) {
    auto &C = *static_cast<ValueCapture *>(Self);
    if (!C.Base)
      return C.storeInBuffer(E);
    // Args are (the interpreter, where to store the value); only the second changes.
    clang::ASTContext &Ctx = C.S.getASTContext();
    auto *Addr = clang::IntegerLiteral::Create(
        Ctx, APInt(Ctx.getTypeSize(Ctx.UnsignedLongLongTy), uintptr_t(&C.Out)),
        Ctx.UnsignedLongLongTy, clang::SourceLocation());
    clang::ExprResult Ptr = C.S.BuildCStyleCastExpr(clang::SourceLocation(),
                                                    Ctx.getTrivialTypeSourceInfo(Ctx.VoidPtrTy),
                                                    clang::SourceLocation(), Addr);
    if (Ptr.isInvalid() || Args.size() != 2)
      return E;
    clang::Expr *Redirected[] = {Args[0], Ptr.get()};
    return C.Base->getPrintValueTransformer()(C.Base.get(), E, Redirected);
  }

  // `E` rewritten to store its value into the buffer: `__jitslab_repl_keep_string(E)` for a
  // string, `*(T *)__jitslab_repl_value = E` for any other scalar. Anything else, or a
  // rewrite that fails, leaves `E` as it is.
  clang::ExprResult storeInBuffer(clang::Expr *E) {
    clang::QualType T = E->getType().getUnqualifiedType();
    if (T->isVoidType())
      return E;
    bool Scalar = T->isIntegralOrEnumerationType() || T->isRealFloatingType() ||
                  T->isPointerType() || T->isNullPtrType();
    clang::ExprResult R = isString(T) ? callKeepString(E)
                          : Scalar    ? assignToBuffer(E, T)
                                      : clang::ExprError();
    if (R.isInvalid()) {
      Skipped = true;
      return E;
    }
    OutType = T;
    return R;
  }

  clang::ExprResult callKeepString(clang::Expr *E) {
    auto *F = dyn_cast_or_null<clang::FunctionDecl>(lookup(KeepString));
    if (!F)
      return clang::ExprError();
    clang::SourceLocation Loc = E->getExprLoc();
    clang::ExprResult Callee = S.BuildDeclRefExpr(F, F->getType(), clang::VK_LValue, Loc);
    if (Callee.isInvalid())
      return clang::ExprError();
    clang::Expr *Arg[] = {E};
    return S.BuildCallExpr(nullptr, Callee.get(), Loc, Arg, Loc);
  }

  clang::ExprResult assignToBuffer(clang::Expr *E, clang::QualType T) {
    auto *V = dyn_cast_or_null<clang::VarDecl>(lookup(SharedValueBuffer::Symbol));
    if (!V)
      return clang::ExprError();
    clang::ASTContext &Ctx = S.getASTContext();
    clang::SourceLocation Loc = E->getExprLoc();
    clang::ExprResult Buffer = S.BuildDeclRefExpr(V, V->getType(), clang::VK_LValue, Loc);
    if (Buffer.isInvalid())
      return clang::ExprError();
    clang::ExprResult Ptr = S.BuildCStyleCastExpr(
        Loc, Ctx.getTrivialTypeSourceInfo(Ctx.getPointerType(T)), Loc, Buffer.get());
    if (Ptr.isInvalid())
      return clang::ExprError();
    clang::ExprResult Slot = S.CreateBuiltinUnaryOp(Loc, clang::UO_Deref, Ptr.get());
    if (Slot.isInvalid())
      return clang::ExprError();
    return S.BuildBinOp(nullptr, Loc, clang::BO_Assign, Slot.get(), E);
  }

  clang::NamedDecl *lookup(StringRef Name) {
    return S.LookupSingleName(S.TUScope, &S.getASTContext().Idents.get(Name),
                              clang::SourceLocation(), clang::Sema::LookupOrdinaryName);
  }

  std::unique_ptr<clang::RuntimeInterfaceBuilder> Base; // null out of process
  clang::Sema &S;
};

// Declarations of the value-printing runtime that LLVM 19's clang::Interpreter looks up by name
// (the definitions are in libclang-cpp, in this process). Interpreter::create parses the same
// interface before any user input; a derived class has to supply it. In C only the store of a
// scalar exists (clang looks up the others in C++ only).
const char *const ValuePrintingRuntime = R"(
#define __CLANG_REPL__ 1
#ifdef __cplusplus
void *__clang_Interpreter_SetValueWithAlloc(void *, void *, void *);
struct __clang_Interpreter_NewTag {} __ci_newtag;
void *operator new(__SIZE_TYPE__, void *, __clang_Interpreter_NewTag) noexcept;
template <class T, class = T (*)()>
void __clang_Interpreter_SetValueCopyArr(T *From, void *To, unsigned long N) {
  for (unsigned long I = 0; I < N; ++I)
    new ((void *)(((T *)To) + I), __ci_newtag) T(From[I]);
}
template <class T, unsigned long M>
void __clang_Interpreter_SetValueCopyArr(const T (*From)[M], void *To, unsigned long N) {
  __clang_Interpreter_SetValueCopyArr(From[0], To, N);
}
extern "C"
#endif
void __clang_Interpreter_SetValueNoAlloc(void *, void *, void *, ...);
)";

/// clang::Interpreter with an LLJITBuilder of our choosing, through the protected constructor
/// (LLVM 19's only way to hand one over). Three things Interpreter::create does are private and
/// done here instead: the value-printing runtime's declarations are parsed and executed as the
/// first input (in process only: that runtime lives in libclang-cpp, in this process); the table
/// those declarations are looked up into is sized (through the const accessor, see
/// enableValuePrinting); the boundary below which Undo must not go is kept by the driver.
class JitslabInterpreter : public clang::Interpreter {
public:
  static Expected<std::unique_ptr<JitslabInterpreter>>
  create(std::unique_ptr<clang::CompilerInstance> CI, std::unique_ptr<LLJITBuilder> JB,
         bool InProcess, bool StoreValues) {
    Error Err = Error::success();
    std::unique_ptr<JitslabInterpreter> I(
        new JitslabInterpreter(std::move(CI), Err, std::move(JB), InProcess));
    if (Err)
      return std::move(Err);
    if (InProcess) {
      if (Error E = I->enableValuePrinting())
        return std::move(E);
    } else if (StoreValues) {
      if (Error E = I->enableValueBuffer())
        return std::move(E);
    }
    return std::move(I);
  }

  ValueCapture *Capture = nullptr; // owned by the base class once made

protected:
  // Called once, at the first input that ends in an expression.
  std::unique_ptr<clang::RuntimeInterfaceBuilder> FindRuntimeInterface() override {
    auto C =
        std::make_unique<ValueCapture>(InProcess ? Interpreter::FindRuntimeInterface() : nullptr,
                                       getCompilerInstance()->getSema());
    Capture = C.get();
    return C;
  }

private:
  JitslabInterpreter(std::unique_ptr<clang::CompilerInstance> CI, Error &Err,
                     std::unique_ptr<LLJITBuilder> JB, bool InProcess)
      : Interpreter(std::move(CI), Err, std::move(JB)), InProcess(InProcess) {}

  Error enableValuePrinting() {
    // The base class looks the four runtime entry points up into a table that only
    // Interpreter::create sizes (the member is private; its accessor is const, the object
    // is not).
    auto &Table = const_cast<SmallVectorImpl<clang::Expr *> &>(getValuePrintingInfo());
    Table.resize(4);
    return ParseAndExecute(ValuePrintingRuntime);
  }

  // Out of process: the buffer and the string store, linked before any input can use them
  // (LLVM 19's lookups do not wait for the graphs a symbol depends on).
  Error enableValueBuffer() {
    if (Error E = ParseAndExecute(outOfProcessValueRuntime()))
      return E;
    auto J = getExecutionEngine();
    if (!J)
      return J.takeError();
    for (const char *Name : ValueRuntimeSymbols)
      if (auto Addr = J->lookup(Name); !Addr)
        return Addr.takeError();
    return Error::success();
  }

  bool InProcess;
};

/// Prints a value as "(type) value". LLVM 19's Value::print says "Not implement yet." for every
/// value, so scalars are printed by kind, a string (`Str`, the characters of a non-null pointer
/// to characters) quoted as clang-repl 22 does, everything else (pointers, objects held by
/// address) as an address.
void printValueOf(const clang::Value &V, raw_ostream &OS, const char *Str) {
  OS << "(" << V.getType().getAsString(V.getASTContext().getPrintingPolicy()) << ") ";
  using K = clang::Value::Kind;
  switch (V.getKind()) {
  case K::K_Bool:
    OS << (V.getBool() ? "true" : "false");
    break;
  case K::K_Char_S:
  case K::K_SChar:
  case K::K_Char_U:
  case K::K_UChar: {
    int C = V.getKind() == K::K_Char_S || V.getKind() == K::K_SChar ? V.getSChar() : V.getUChar();
    if (C >= 0x20 && C < 0x7f)
      OS << "'" << char(C) << "'";
    else
      OS << C;
    break;
  }
  case K::K_Short:
    OS << V.getShort();
    break;
  case K::K_UShort:
    OS << V.getUShort();
    break;
  case K::K_Int:
    OS << V.getInt();
    break;
  case K::K_UInt:
    OS << V.getUInt();
    break;
  case K::K_Long:
    OS << V.getLong();
    break;
  case K::K_ULong:
    OS << V.getULong();
    break;
  case K::K_LongLong:
    OS << V.getLongLong();
    break;
  case K::K_ULongLong:
    OS << V.getULongLong();
    break;
  case K::K_Float:
    OS << format("%g", V.getFloat());
    break;
  case K::K_Double:
    OS << format("%g", V.getDouble());
    break;
  case K::K_LongDouble:
    OS << format("%Lg", V.getLongDouble());
    break;
  default:
    if (Str && V.getPtr())
      OS << '"' << Str << '"';
    else
      OS << format("0x%llx", (unsigned long long)(uintptr_t)V.getPtr());
    break;
  }
  OS << "\n";
}

/// The value of type `T` that the executor stored at `Bytes` (see SharedValueBuffer).
clang::Value valueFromBytes(clang::Interpreter &Interp, clang::QualType T,
                            const unsigned char *Bytes) {
  clang::Value V(&Interp, T.getAsOpaquePtr());
  if (V.getKind() == clang::Value::K_PtrOrObj) {
    void *P;
    std::memcpy(&P, Bytes, sizeof P);
    V.setPtr(P);
  } else {
    loadScalar(V, Bytes);
  }
  return V;
}

} // namespace

struct ReplInterpreter::Impl {
  JitslabInterpreter *Interp = nullptr;
  std::shared_ptr<SharedValueBuffer> Values; // out of process, where memory is shared
};

Expected<std::unique_ptr<ReplInterpreter>>
ReplInterpreter::create(std::unique_ptr<clang::CompilerInstance> CI,
                        std::unique_ptr<LLJITBuilder> JB, bool InProcess,
                        std::shared_ptr<SharedValueBuffer> Values) {
  auto Interp =
      JitslabInterpreter::create(std::move(CI), std::move(JB), InProcess, Values != nullptr);
  if (!Interp)
    return Interp.takeError();
  std::unique_ptr<ReplInterpreter> R(new ReplInterpreter);
  R->I = std::make_unique<Impl>();
  R->I->Interp = Interp->get();
  R->I->Values = std::move(Values);
  R->Interp = std::move(*Interp);
  return std::move(R);
}

Expected<clang::PartialTranslationUnit &> ReplInterpreter::parse(StringRef Input) {
  return Interp->Parse(Input);
}

Expected<LLJIT &> ReplInterpreter::jit() { return I->Interp->getExecutionEngine(); }

void ReplInterpreter::prepareModule(Module &) {}

bool ReplInterpreter::printValue(raw_ostream &OS) {
  ValueCapture *C = I->Interp->Capture;
  if (!C)
    return false;
  if (!C->OutType.isNull()) {
    clang::QualType T = std::exchange(C->OutType, clang::QualType());
    const unsigned char *Bytes = I->Values ? I->Values->bytes() : nullptr;
    if (!Bytes)
      return false;
    printValueOf(valueFromBytes(*I->Interp, T, Bytes), OS,
                 reinterpret_cast<const char *>(Bytes + SharedValueBuffer::ValueBytes));
    return true;
  }
  bool Print = C->Out.hasValue(); // a void expression has none
  if (Print)
    printValueOf(C->Out, OS,
                 isString(C->Out.getType()) ? static_cast<const char *>(C->Out.getPtr()) : nullptr);
  C->Out.clear();
  return Print;
}

void ReplInterpreter::forgetValue() {
  if (ValueCapture *C = I->Interp->Capture) {
    C->Out.clear();
    C->OutType = clang::QualType();
    C->Skipped = false;
  }
}

bool ReplInterpreter::takeSkippedValue() {
  ValueCapture *C = I->Interp->Capture;
  return C && std::exchange(C->Skipped, false);
}

void ContextGuard::whileLocked(function_ref<void()> F) {
  std::optional<ThreadSafeContext::Lock> Lock;
  {
    std::lock_guard<std::mutex> L(M);
    if (Ctx)
      Lock.emplace(Ctx->getLock());
  }
  F();
}

#endif

//===----------------------------------------------------------------------------------===//
// Both
//===----------------------------------------------------------------------------------===//

LLJITBuilderState::PlatformSetupFunction orcRuntimePlatform(std::string OrcRuntimePath) {
  return [Path = std::move(OrcRuntimePath)](LLJIT &J) -> Expected<JITDylibSP> {
    auto PlatformJD = ExecutorNativePlatform(Path)(J);
    if (PlatformJD)
      J.setPlatformSupport(std::make_unique<IncrementalORCPlatformSupport>(J));
    return PlatformJD;
  };
}

ReplInterpreter::~ReplInterpreter() = default;

void SharedValueBuffer::modifyPassConfig(MaterializationResponsibility &, jitlink::LinkGraph &,
                                         jitlink::PassConfiguration &Config) {
  Config.PostFixupPasses.push_back([this](jitlink::LinkGraph &G) {
    for (jitlink::Symbol *S : G.defined_symbols())
      if (jitslab::compat::symbolName(*S) == Symbol && !S->getBlock().isZeroFill())
        Bytes = reinterpret_cast<const unsigned char *>(
            S->getBlock().getAlreadyMutableContent().data() + S->getOffset());
    return Error::success();
  });
}

void ContextGuard::learn(const ThreadSafeContext &C) {
  std::lock_guard<std::mutex> L(M);
  if (!Ctx)
    Ctx = C;
}

} // namespace repl
} // namespace jitslab
