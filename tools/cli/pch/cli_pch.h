// Precompiled header of the loupe binary: CLI11 and nlohmann/json are header-only and
// take most of each cmd_*.cpp's compile time, so they are parsed once per build.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
