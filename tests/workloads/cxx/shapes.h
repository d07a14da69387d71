// The C++ workload: exceptions thrown in one translation unit and caught in another, static
// constructors and destructors, virtual calls, templates and the standard library.
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct Shape {
  virtual ~Shape() = default;
  virtual double area() const = 0;
  virtual std::string name() const = 0;
};

struct BadShape : std::runtime_error {
  explicit BadShape(const std::string &why) : std::runtime_error(why) {}
};

// shapes.cpp
std::unique_ptr<Shape> makeShape(const std::string &kind, double size); // throws BadShape
int registryCount();

// geometry.cpp
double totalArea(const std::vector<std::string> &kinds, double size, int &errors);
