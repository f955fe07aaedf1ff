// What `loupe explore` says of each op beside its numbers: the equation of its forward and
// backward, the file that implements it (autograd/ops/, each op's forward and backward side by
// side) and, for a fused kernel, its textbook twin (tensor/reference/: the same maths as plain
// loops). Every registered op has an entry: tests/test_explore.cpp walks the op registry.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace loupe::tools {

struct OpNote {
  const char* forward;   // y = f(x), in the op's own notation
  const char* backward;  // the gradients it sends back, from dy = ∂L/∂y
  const char* source;    // repository path of its forward and backward
  const char* twin;      // repository path of its textbook twin ("" when the op is its own twin)
};

const OpNote* op_note(const std::string& op);  // nullptr when the op has none
// {op: {"forward", "backward", "source", "twin"}} for every op that has a note.
nlohmann::json op_notes_json();

}  // namespace loupe::tools
