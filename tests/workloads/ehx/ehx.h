// Exceptions across two objects with no static constructor, no static object with a
// destructor and no atexit: a program that links and runs without the ORC runtime, in
// process and out of process, and that ends in std::terminate when the JIT registered no
// exception frames for either object.
#pragma once
#include <exception>

struct Failure : std::exception {
  explicit Failure(int Code) : Code(Code) {}
  const char *what() const noexcept override; // the key function: typeinfo lives in thrower.o
  int Code;
};

// thrower.cpp
int checked(int V);                    // throws Failure(V) for negative V
int callThrough(int (*F)(int), int V); // calls F(V) from a frame in thrower.o
int rethrowAsCode(int V);              // catches main.o's exceptions, throws a Failure
