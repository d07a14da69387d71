//===- Inputs.h - jitslab-repl's inputs: read, run, and counted -------------===//
//
// How the session reads an input (lines joined while brackets are open or a line ends in '\\'),
// runs it (parse, initializers hoisted where the platform cannot run them, linked in full at
// its own turn, run, value printed; taken back if it fails to link or run), and what %stats
// reports about it.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_REPL_INPUTS_H
#define JITSLAB_REPL_INPUTS_H

#include "InterpreterCompat.h"
#include "jitslab/MemoryManager.h"
#include "jitslab/PassPlugin.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <istream>
#include <mutex>
#include <string>

namespace jitslab::repl {

/// Reads inputs: one line, or several joined when a line ends in '\' or leaves brackets open.
/// As in clang-repl, a line ending in '\' (blanks after it allowed) loses the '\', its
/// blanks at either end and its line break (on LLVM 22 a preprocessor directive's keeps it:
/// DirectiveContinuationKeepsLineBreak), and so does the line that follows it; a line joined
/// because brackets are open keeps its line break (a '//' comment in it ends there). Inputs of
/// nothing but blanks and comments are skipped (clang would make each an empty translation
/// unit, which %undo would then count), unless `KeepComments`: clang's -verify reads its
/// expectations from comments, and names an input's diagnostics by its number, which counts
/// every line clang-repl reads, blank ones too.
class InputReader {
public:
  /// With `Prompt`, each line is asked for on stdout (a terminal): "jitslab-repl> " for the first
  /// line of an input, "... " for the next ones.
  InputReader(std::istream &In, bool Prompt, bool KeepComments)
      : In(In), Prompt(Prompt), KeepComments(KeepComments) {}

  bool next(std::string &Input) {
    Input.clear();
    bool Joining = false; // the previous line ended in '\'
    for (std::string Raw; prompt(Input.empty()), std::getline(In, Raw);) {
      llvm::StringRef Line = Raw;
      bool Continued = Line.rtrim().ends_with("\\");
      if (Continued || Joining)
        Line = Line.trim();
      Input += Continued ? Line.drop_back() : Line;
      Joining = Continued;
      if (Continued) {
        if (DirectiveContinuationKeepsLineBreak && Line.starts_with("#"))
          Input += '\n';
        continue;
      }
      Input += '\n';
      if (bracketBalance(Input) > 0)
        continue;
      if (worthRunning(Input))
        return true;
      Input.clear();
    }
    return worthRunning(Input);
  }

private:
  void prompt(bool First) {
    if (!Prompt)
      return;
    std::fputs(First ? "jitslab-repl> " : "... ", stdout);
    std::fflush(stdout);
  }

  bool worthRunning(llvm::StringRef Text) const {
    return hasCode(Text) || (KeepComments && !Text.empty());
  }

  // Whether `Text` holds anything but white space and comments.
  static bool hasCode(llvm::StringRef Text) {
    while (!(Text = Text.ltrim()).empty()) {
      if (Text.consume_front("//"))
        Text = Text.drop_until([](char C) { return C == '\n'; });
      else if (Text.consume_front("/*"))
        Text = Text.drop_front(std::min(Text.size(), Text.find("*/") + 2));
      else
        return true;
    }
    return false;
  }

  // Opening minus closing brackets in `Text`, skipping string and character literals and
  // '//' comments.
  static int bracketBalance(llvm::StringRef Text) {
    int D = 0;
    char Quote = 0;
    for (size_t I = 0; I < Text.size(); ++I) {
      char C = Text[I];
      if (Quote) {
        if (C == '\\')
          ++I;
        else if (C == Quote)
          Quote = 0;
      } else if (C == '"' || C == '\'') {
        Quote = C;
      } else if (C == '/' && I + 1 < Text.size() && Text[I + 1] == '/') {
        I = std::min(Text.size(), Text.find('\n', I));
      } else if (C == '{' || C == '(' || C == '[') {
        ++D;
      } else if (C == '}' || C == ')' || C == ']') {
        --D;
      }
    }
    return D;
  }

  std::istream &In;
  bool Prompt, KeepComments;
};

/// Where linked code and data landed: the lowest and highest address of any block of any
/// graph this session linked, for the one-span check of %stats.
class AddressRecorder : public jitslab::PassPlugin {
public:
  void modifyPassConfig(llvm::orc::MaterializationResponsibility &, llvm::jitlink::LinkGraph &,
                        llvm::jitlink::PassConfiguration &Config) override {
    Config.PostAllocationPasses.push_back([this](llvm::jitlink::LinkGraph &G) {
      std::lock_guard<std::mutex> Lock(M);
      for (auto *B : G.blocks()) {
        if (B->getSize() == 0)
          continue;
        uint64_t Lo = B->getAddress().getValue(), Hi = Lo + B->getSize();
        Lowest = std::min(Lowest, Lo);
        Highest = std::max(Highest, Hi);
      }
      ++Graphs;
      return llvm::Error::success();
    });
  }

  struct Range {
    uint64_t Lowest, Highest, Graphs;
  };
  Range get() {
    std::lock_guard<std::mutex> Lock(M);
    return {Graphs ? Lowest : 0, Highest, Graphs};
  }

private:
  std::mutex M;
  uint64_t Lowest = UINT64_MAX, Highest = 0, Graphs = 0;
};

/// Where --time says the session's time went: parsing and generating IR, and linking and
/// running (the JIT's compile of the IR, the link, the memory manager, the input's code).
extern double ParseMs, LinkRunMs;

/// Runs one input: parse, hoist its initializers (where the platform cannot run them), link
/// it, run them, and print the value of a final expression. Returns false if clang rejected
/// the input (it has printed why); an input that fails to link or run is taken back, as if
/// undone, and the error returned.
llvm::Expected<bool> runInput(ReplInterpreter &Interp, llvm::StringRef Input);

/// The figures %stats prints: one line of key=value pairs, for tests and tools.
std::string statsLine(MemoryManager *Slab, AddressRecorder &Addresses, pid_t Executor,
                      unsigned UserInputs);

} // namespace jitslab::repl

#endif
