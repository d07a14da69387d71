// jitslab's variant of llvm-22/help.cpp: jitslab-repl's %help lists its own commands, in its
// own words (%undo takes a count, and there is %stats); see README.md, jitslab-repl.
// RUN: cat %s | clang-repl | FileCheck %s
%help
// CHECK: %undo [N]  remove the last N inputs (default 1)
// CHECK-NEXT: %lib PATH  load a shared library for later inputs
// CHECK-NEXT: %stats  print one line of figures on stderr
// CHECK-NEXT: %help  list these commands
// CHECK-NEXT: %quit  end the session
%quit
