// C++ errors as Python exceptions. loupe::Error (a bad shape, dtype, key or file; its message
// names them) becomes loupe.Error, a subclass of both ValueError and RuntimeError, so both a
// Python habit (`except ValueError`) and a PyTorch habit (`except RuntimeError`) catch it;
// loupe::FileError (a file missing or unreadable) becomes loupe.FileError, also a FileNotFoundError.
// Wrong argument types are nanobind's TypeError; bad indices the binding's IndexError.
#include "python/src/bindings.h"

#include "tensor/error.h"

namespace loupe::py {

void bind_errors(nb::module_& m) {
  nb::object type = nb::module_::import_("builtins").attr("type");
  nb::object bases = nb::make_tuple(nb::handle(PyExc_ValueError), nb::handle(PyExc_RuntimeError));
  nb::dict ns;
  ns["__module__"] = "loupe";
  ns["__doc__"] = "An error raised by loupe's C++ core; its message names the op, shape, key or file.";
  // Never released: the translator may run until the interpreter is gone.
  static PyObject* error = type("Error", bases, ns).release().ptr();
  m.attr("Error") = nb::handle(error);
  nb::dict fns;
  fns["__module__"] = "loupe";
  fns["__doc__"] = "A file that loupe's C++ core could not find or open; its message names it.";
  static PyObject* file_error =
      type("FileError", nb::make_tuple(nb::handle(error), nb::handle(PyExc_FileNotFoundError)), fns).release().ptr();
  m.attr("FileError") = nb::handle(file_error);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const loupe::FileError& e) {
      PyErr_SetString(file_error, e.what());
    } catch (const loupe::Error& e) {
      PyErr_SetString(error, e.what());
    }
  });
}

}  // namespace loupe::py
