//===- test_support.h - small helpers shared by the shim's gtest suites -----===//
#ifndef JITSLAB_UNIT_TEST_SUPPORT_H
#define JITSLAB_UNIT_TEST_SUPPORT_H

#include "jitslab.h"

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <utility>

/// Fails the test with the error's message if `Expr` (an llvm::Error) is a failure.
#define ASSERT_NO_ERROR(Expr)                                                                      \
  do {                                                                                             \
    if (llvm::Error Err_ = (Expr))                                                                 \
      FAIL() << llvm::toString(std::move(Err_));                                                   \
  } while (false)

/// Fails the test with the error's message if `Value` (an llvm::Expected) holds an error.
#define ASSERT_EXPECTED(Value)                                                                     \
  ASSERT_TRUE(static_cast<bool>(Value)) << llvm::toString((Value).takeError())

/// Runs a function when the scope ends (llvm::make_scope_exit is deprecated in LLVM 22, whose
/// replacement LLVM 19 lacks).
template <typename F> class AtScopeExit {
public:
  explicit AtScopeExit(F Fn) : Fn(std::move(Fn)) {}
  AtScopeExit(const AtScopeExit &) = delete;
  AtScopeExit &operator=(const AtScopeExit &) = delete;
  ~AtScopeExit() { Fn(); }

private:
  F Fn;
};

/// Live bytes of all three pools.
inline uint64_t liveBytes(const JitslabStats &S) {
  return S.pools[JITSLAB_POOL_CODE].live + S.pools[JITSLAB_POOL_READ_ONLY].live +
         S.pools[JITSLAB_POOL_READ_WRITE].live;
}

#endif // JITSLAB_UNIT_TEST_SUPPORT_H
