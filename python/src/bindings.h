// The Python extension loupe._loupe (nanobind): what each binding file adds to the module, and
// the conversions they share. The Python package (python/loupe/) builds PyTorch's names on these.
//
// A Python `loupe.Tensor` IS a loupe::Var (a handle: copying it shares the value, grad and graph
// node), so every op is the C++ op, recorded and differentiated exactly as in a C++ program.
// Kernels run with the GIL released.
#pragma once
#include <nanobind/nanobind.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "autograd/var.h"
#include "tools/train/run_config.h"

namespace loupe::py {

namespace nb = nanobind;

void bind_errors(nb::module_& m);   // errors.cpp: loupe::Error -> loupe.Error (ValueError, RuntimeError)
nb::class_<Var> bind_tensor(nb::module_& m);  // tensor.cpp: the Tensor class, autograd, NumPy/DLPack
void bind_index(nb::class_<Var>& t);  // index.cpp: t[...] and t[...] = v
void bind_ops(nb::module_& m, nb::class_<Var>& t);  // ops.cpp: the registry's ops, as functions and methods
void bind_nn(nb::module_& m);       // nn.cpp: fused layer ops, module scopes, init, gradcheck, threads
void bind_optim(nb::module_& m);    // optim.cpp: SGD, Adam, AdamW over named parameters
void bind_models(nb::module_& m);   // models.cpp: the registry's models, sampling, checkpoints
void bind_pipeline(nb::module_& m); // train.cpp: the trainer, tokenizers, safetensors files
void bind_audit(nb::module_& m);    // audit.cpp: tracing, anomaly mode, attention maps
void bind_data(nb::module_& m);     // data.cpp: a run's tokenizer, batches and evaluation

// A shape from Python: (2, 3), [2, 3], or the varargs of t.view(2, 3).
Shape shape_arg(nb::handle h);
Shape shape_args(const nb::args& args);
// A dim list from None (all dims), an int, or a sequence of ints.
std::vector<int64_t> dims_arg(nb::handle h);
// A 0-d tensor holding the Python number `s` in `like`'s dtype (for x + 2, 2 / x, where(c, x, 0)).
Var scalar_like(double s, const Var& like);
// A run config as the CLI reads it: a file with "section.key=value" sets (config_json empty), or JSON.
tools::RunConfig read_run_config(const std::string& config_json, const std::string& path,
                                 const std::vector<std::string>& sets);
// Named tensors between C++ (state dicts, safetensors files, optimizer state) and Python, sharing memory.
std::map<std::string, Var> vars_of(const std::map<std::string, Tensor>& m);
std::map<std::string, Tensor> tensors_of(const std::map<std::string, Var>& m);
// Refuses, PyTorch's way, to change in place a tensor that autograd may need.
void check_inplace(const Var& t, const char* op);

}  // namespace loupe::py
