//===- LibraryOrder.h - tell ThreadSanitizer what libjitslab's lock orders -===//
//
// libjitslab does its bookkeeping under a lock of its own (a Rust std::sync::Mutex). Under
// -DJITSLAB_SANITIZE=thread the shim is instrumented but the Rust library is not (std cannot be
// without nightly's -Zbuild-std), so ThreadSanitizer does not see that lock. It then takes the
// library's reuse of memory for a race: one thread writes into an allocation and frees it, the
// library hands the same bytes to another thread's next allocation, and the second thread's
// writes look unordered with the first's (shim_segment_alloc_test's concurrent allocations).
//
// The shim says what the lock guarantees instead: a call that gives memory back to the library
// releases, a call that takes memory from it acquires, on one address. Outside a TSan build
// both are empty.
//
//===----------------------------------------------------------------------===//

#ifndef JITSLAB_SHIM_LIBRARYORDER_H
#define JITSLAB_SHIM_LIBRARYORDER_H

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define JITSLAB_SHIM_TSAN 1
#endif
#endif
#if !defined(JITSLAB_SHIM_TSAN) && defined(__SANITIZE_THREAD__)
#define JITSLAB_SHIM_TSAN 1
#endif

#ifdef JITSLAB_SHIM_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace jitslab::library_order {

#ifdef JITSLAB_SHIM_TSAN
/// One address stands for the library's lock. It is one lock per manager; a single address
/// claims a little more order than that (calls on different managers look ordered too), which
/// can only hide a race between shim code working on two managers at once.
inline char Lock;
/// Before a call that gives memory back (abandon, deallocate, finalize's hand-over).
inline void givingBack() { __tsan_release(&Lock); }
/// After a call that hands out memory (allocate), and where a completion starts.
inline void tookFrom() { __tsan_acquire(&Lock); }
#else
inline void givingBack() {}
inline void tookFrom() {}
#endif

} // namespace jitslab::library_order

#endif // JITSLAB_SHIM_LIBRARYORDER_H
