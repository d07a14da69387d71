# Sanitizer builds: -DJITSLAB_SANITIZE=address|thread (docs/sanitizers.md; `./x test
# --sanitize=...` configures target/cmake-22-asan or target/cmake-22-tsan with it).
#
#   address  ASan + UBSan: -fsanitize=address,undefined, every UBSan finding fatal
#   thread   TSan: -fsanitize=thread (the C and C++ code only)
#
# Applied to every C and C++ target of the tree (the shim, the tools, the test and benchmark
# executables; compile and link), not to the test workloads, which are JIT'd code compiled by
# custom commands. The Rust library is built by cargo with the same sanitizer
# (-Zsanitizer=..., on the stable toolchain through RUSTC_BOOTSTRAP=1: CI has no nightly) into a
# target directory of its own, target/san-address, so that the normal build's target/release
# stays valid. Its std is the toolchain's uninstrumented one. Under TSan the Rust library is
# not instrumented (below).
#
# Runtimes: the executables link clang's sanitizer runtime (clang-22's, statically, as clang
# does for executables); libjitslab.so and libjitslab-orc-22.so carry none and use the
# executable's. rustc links no runtime into a cdylib or staticlib on Linux, so the one runtime
# in every process is clang's. Hence only LLVM 22 (rustc 1.95 is LLVM 22 too: one
# instrumentation ABI) with its clang; LLVM's own libraries (libLLVM-22.so, libclang-cpp) are
# Debian's, not instrumented: findings inside them are not seen, and calls through them are.
#
# Sets, for the top level:
#   JITSLAB_RUST_DIR         where cargo leaves libjitslab.so and libjitslab.a
#   JITSLAB_CARGO_PREFIX     the command words before `cargo` (an environment for it)
#   JITSLAB_CARGO_ARGS       cargo build's target directory and target
set(JITSLAB_SANITIZE "" CACHE STRING
  "Build with a sanitizer: address (ASan + UBSan) or thread (TSan); empty: none")
set_property(CACHE JITSLAB_SANITIZE PROPERTY STRINGS "" address thread)

set(JITSLAB_RUST_DIR "${JITSLAB_ROOT}/target/release")
set(JITSLAB_CARGO_PREFIX "")
set(JITSLAB_CARGO_ARGS --target-dir "${JITSLAB_ROOT}/target")
if(NOT JITSLAB_SANITIZE)
  return()
endif()

if(NOT JITSLAB_SANITIZE MATCHES "^(address|thread)$")
  message(FATAL_ERROR "JITSLAB_SANITIZE=${JITSLAB_SANITIZE}: expected address or thread")
endif()
if(NOT (MAJOR EQUAL 22 AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang"
        AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 22))
  message(FATAL_ERROR "JITSLAB_SANITIZE needs LLVM 22 and clang-22 (found LLVM ${MAJOR}, "
    "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}): the sanitizer runtime is "
    "clang's and rustc's instrumentation must match it (docs/sanitizers.md)")
endif()

if(JITSLAB_SANITIZE STREQUAL "address")
  # UBSan's `function` check reads a signature word before every function called through a
  # pointer: JIT'd code (main and the ORC runtime's entry points, called through casts) has
  # none. Every other UBSan check stays on, and none recovers.
  set(JITSLAB_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize=function
    -fno-sanitize-recover=undefined)
  set(RUST_SANITIZER address)
else()
  set(JITSLAB_SANITIZE_FLAGS -fsanitize=thread)
  set(RUST_SANITIZER thread)
endif()
list(APPEND JITSLAB_SANITIZE_FLAGS -fno-omit-frame-pointer)
add_compile_options(${JITSLAB_SANITIZE_FLAGS})
add_link_options(${JITSLAB_SANITIZE_FLAGS})

# The Rust library, under ASan: instrumented. Under TSan it is the normal release build
# (target/release, shared with the normal tree): the toolchain's std is not instrumented, so
# TSan does not see the synchronization inside std's Mutex and reported races on the data every
# jitslab lock protects (the slab's free ranges under the manager's Mutex, the first run);
# jitslab's Rust side is checked for races by its own tests, TSan checks the C++ side.
if(JITSLAB_SANITIZE STREQUAL "thread")
  message(STATUS "sanitizer build (thread): ${JITSLAB_SANITIZE_FLAGS}; libjitslab not "
    "instrumented (docs/sanitizers.md)")
  return()
endif()
# An explicit --target keeps the sanitizer off the build script and
# cbindgen (host code, which would otherwise need the runtime too); the toolchain's std is not
# instrumented, which the ABI check has to be told it is allowed.
set(JITSLAB_RUST_TARGET x86_64-unknown-linux-gnu)
set(JITSLAB_RUST_DIR
  "${JITSLAB_ROOT}/target/san-${JITSLAB_SANITIZE}/${JITSLAB_RUST_TARGET}/release")
set(JITSLAB_CARGO_PREFIX "${CMAKE_COMMAND}" -E env RUSTC_BOOTSTRAP=1
  "RUSTFLAGS=-Zsanitizer=${RUST_SANITIZER} -Cunsafe-allow-abi-mismatch=sanitizer -Cforce-frame-pointers=yes")
set(JITSLAB_CARGO_ARGS --target-dir "${JITSLAB_ROOT}/target/san-${JITSLAB_SANITIZE}"
  --target ${JITSLAB_RUST_TARGET})
message(STATUS "sanitizer build (${JITSLAB_SANITIZE}): ${JITSLAB_SANITIZE_FLAGS}; "
  "libjitslab from ${JITSLAB_RUST_DIR}")
