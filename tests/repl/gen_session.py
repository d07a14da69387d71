#!/usr/bin/env python3
"""Writes session.repl (a jitslab-repl script of more than 200 inputs) and session.expected (its
standard output), computing every expected line here, independently of the code under test;
session.plain.repl, the same session for stock clang-repl: every input on one line, no
jitslab-repl command (%undo and the definition it takes back are left out), same output; and
session.stock.repl, the plain session with clang-repl's own %undo kept, for the tests of
jitslab's preload under stock clang-repl (same output again).

Run it after changing the session: python3 tests/repl/gen_session.py. The tests read only the
two files it writes."""
import os

inputs = []  # one entry per input (an input may span lines)
plain = []  # the inputs of the plain session
stock = []  # the inputs of the stock session
expected = []  # lines the session prints, in order

def inp(code, *out, in_plain=True, in_stock=None, in_repl=True):
    one_line = " ".join(line.strip() for line in code.split("\n"))
    if in_repl:
        inputs.append(code)
    if in_plain:
        plain.append(one_line)
    if in_plain if in_stock is None else in_stock:
        stock.append(one_line)
    expected.extend(out)

# --- headers ---------------------------------------------------------------------------------
for h in ["cstdio", "cstring", "string", "vector", "map", "memory", "stdexcept", "functional"]:
    inp(f"#include <{h}>")

# --- functions defined in one input, called in later ones --------------------------------------
K = 40
for k in range(1, K + 1):
    inp(f"int f_{k}(int x) {{ return x * {k} + 1; }}")
for k in range(1, K + 1):
    inp(f'printf("f_{k}(3) = %d\\n", f_{k}(3));', f"f_{k}(3) = {3 * k + 1}")

# --- state kept across inputs ----------------------------------------------------------------
inp("int counter = 0;")
inp("void bump(int by) { counter += by; }")
total = 0
for by in range(1, 21):
    inp(f"bump({by});")
    total += by
inp('printf("counter = %d\\n", counter);', f"counter = {total}")
inp("std::map<std::string, int> tally;")
words = ["jit", "slab", "span", "jit", "page", "slab", "jit"]
for w in words:
    inp(f'tally["{w}"]++;')
inp('for (auto &[w, n] : tally) printf("%s: %d\\n", w.c_str(), n);',
    *[f"{w}: {words.count(w)}" for w in sorted(set(words))])

# --- classes across inputs ---------------------------------------------------------------------
inp("struct Shape {\n"
    "  virtual ~Shape() {}\n"
    "  virtual long area() const = 0;\n"
    "  virtual const char *name() const = 0;\n"
    "};")
inp("struct Square : Shape {\n"
    "  long side;\n"
    "  explicit Square(long s) : side(s) {}\n"
    "  long area() const override { return side * side; }\n"
    "  const char *name() const override { return \"square\"; }\n"
    "};")
inp("struct Rect : Shape {\n"
    "  long w, h;\n"
    "  Rect(long w, long h) : w(w), h(h) {}\n"
    "  long area() const override { return w * h; }\n"
    "  const char *name() const override { return \"rect\"; }\n"
    "};")
inp("std::vector<std::unique_ptr<Shape>> shapes;")
shapes = []
for i in range(1, 9):
    if i % 2:
        inp(f"shapes.push_back(std::make_unique<Square>({i}));")
        shapes.append(("square", i * i))
    else:
        inp(f"shapes.push_back(std::make_unique<Rect>({i}, {i + 1}));")
        shapes.append(("rect", i * (i + 1)))
inp("long describe(const Shape &s) { printf(\"%s %ld\\n\", s.name(), s.area()); return s.area(); }")
inp("long sum = 0;")
inp("for (auto &s : shapes) sum += describe(*s);", *[f"{n} {a}" for n, a in shapes])
inp('printf("total area %ld\\n", sum);', f"total area {sum(a for _, a in shapes)}")

# --- templates, instantiated in later inputs --------------------------------------------------
inp("template <typename T> T twice(T v) { return v + v; }")
for v in range(1, 11):
    inp(f'printf("twice({v}) = %d\\n", twice({v}));', f"twice({v}) = {2 * v}")
inp('printf("%s\\n", twice(std::string("ab")).c_str());', "abab")
inp('printf("%.1f\\n", twice(1.25));', "2.5")
inp("template <typename T> struct Stack {\n"
    "  std::vector<T> items;\n"
    "  void push(T v) { items.push_back(v); }\n"
    "  T pop() { T v = items.back(); items.pop_back(); return v; }\n"
    "  bool empty() const { return items.empty(); }\n"
    "};")
inp("Stack<int> st;")
for v in range(10, 60, 10):
    inp(f"st.push({v});")
inp('while (!st.empty()) printf("pop %d\\n", st.pop());',
    *[f"pop {v}" for v in range(50, 0, -10)])
inp("Stack<std::string> names;")
for n in ["ada", "grace", "linus"]:
    inp(f'names.push("{n}");')
inp('printf("top %s\\n", names.pop().c_str());', "top linus")

# --- static objects: constructed when their input runs, destroyed at the end -------------------
inp("struct Tracer {\n"
    "  const char *n;\n"
    "  explicit Tracer(const char *n) : n(n) { printf(\"construct %s\\n\", n); }\n"
    "  ~Tracer() { printf(\"destroy %s\\n\", n); }\n"
    "};")
inp('Tracer first("first");', "construct first")
inp('Tracer second("second");', "construct second")

# --- exceptions thrown in one input's code and caught in another's -----------------------------
inp("struct AppError : std::runtime_error {\n"
    "  int code;\n"
    "  AppError(const char *m, int c) : std::runtime_error(m), code(c) {}\n"
    "};")
inp("void check(int v) { if (v < 0) throw AppError(\"negative\", v); }")
inp("int guarded(int v) {\n"
    "  try { check(v); return v; }\n"
    "  catch (const AppError &e) { printf(\"caught %s %d\\n\", e.what(), e.code); return 0; }\n"
    "}")
for v in [5, -5, 7, -1]:
    out = [f"caught negative {v}"] if v < 0 else []
    inp(f'printf("guarded(%d) = %d\\n", {v}, guarded({v}));', *out, f"guarded({v}) = {max(v, 0)}")
inp("void rethrow(int v) { try { check(v); } catch (...) { printf(\"rethrowing\\n\"); throw; } }")
inp('try { rethrow(-9); } catch (const std::exception &e) { printf("outer caught %s\\n", e.what()); }',
    "rethrowing", "outer caught negative")
inp("std::vector<int> small{1, 2, 3};")
inp('try { small.at(10); } catch (const std::out_of_range &) { printf("out of range\\n"); }',
    "out of range")

# --- lambdas and std::function kept across inputs ----------------------------------------------
# (A lambda written directly in a top-level statement crashes LLVM 19's clang::Interpreter, with
# any memory manager; one inside a function is fine.)
inp("std::vector<std::function<int(int)>> steps;")
inp("void add_step(int k) { steps.push_back([k](int x) { return x + k; }); }")
for k in range(1, 9):
    inp(f"add_step({k});")
inp("int run_steps(int x) { for (auto &s : steps) x = s(x); return x; }")
inp('printf("run_steps(0) = %d\\n", run_steps(0));', f"run_steps(0) = {sum(range(1, 9))}")

# --- %undo inside the session: a definition removed, then made again differently ------------
inp("int tmp = 1;", in_plain=False, in_stock=True)
inp("%undo", in_plain=False, in_stock=True)
# More of them for stock clang-repl: each round links a graph and takes it back.
for k in range(1, 6):
    inp(f"int scratch_{k} = f_{k}(1);", in_plain=False, in_stock=True, in_repl=False)
    inp("%undo", in_plain=False, in_stock=True, in_repl=False)
inp("int tmp = 2;")
inp('printf("tmp = %d\\n", tmp);', "tmp = 2")

# --- a long tail of small inputs, each using earlier ones --------------------------------------
inp("long acc = 0;")
for k in range(1, 31):
    inp(f"acc += f_{k}(1);")
inp('printf("acc = %ld\\n", acc);', f"acc = {sum(k + 1 for k in range(1, 31))}")

# Destructors run in reverse order of construction when the session ends.
expected += ["destroy second", "destroy first"]

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "session.repl"), "w") as f:
    f.write("// jitslab-repl session: written by gen_session.py; see that file.\n")
    for code in inputs:
        f.write(code + "\n")
with open(os.path.join(here, "session.plain.repl"), "w") as f:
    for code in plain:
        f.write(code + "\n")
with open(os.path.join(here, "session.stock.repl"), "w") as f:
    for code in stock:
        f.write(code + "\n")
with open(os.path.join(here, "session.expected"), "w") as f:
    f.write("\n".join(expected) + "\n")
print(f"{len(inputs)} inputs ({len(plain)} plain, {len(stock)} stock), "
      f"{len(expected)} lines of output")
