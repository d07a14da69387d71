// jitslab's variant of llvm-19/pretty-print.c: clang-repl 19 prints "Not implement yet." for
// every value; jitslab-repl prints the value, in and out of process, as clang-repl 22 does.
// REQUIRES: host-supports-jit
// RUN: cat %s | clang-repl -Xcc -xc  | FileCheck %s
// RUN: cat %s | clang-repl -Xcc -std=c++11 | FileCheck %s

const char* c_str = "Hello, world!"; c_str

// CHECK: (const char *) "Hello, world!"
