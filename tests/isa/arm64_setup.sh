#!/usr/bin/env bash
# Configures build/isa-arm64: loupe cross-compiled for aarch64 (NEON) with Debian's
# g++-aarch64-linux-gnu, run under qemu-aarch64 (qemu-user). The header-only dependencies
# (xsimd, nlohmann-json, CLI11, xxHash in its inline mode) are the host's headers, staged in
# build/isa-arm64-deps with pkg-config files of their own, so no arm64 Debian packages (no
# multiarch) are needed; GoogleTest is built from Debian's sources (/usr/src/googletest).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=build/isa-arm64
deps=$PWD/build/isa-arm64-deps
[ -f "$dir/build.ninja" ] && exit 0
mkdir -p "$deps/include" "$deps/pkgconfig"
for h in xsimd nlohmann CLI xxhash.h; do ln -sfn "/usr/include/$h" "$deps/include/$h"; done
pc() {  # name, extra cflags
  printf 'Name: %s\nDescription: host headers for the arm64 cross build\nVersion: %s\nCflags: -I%s %s\n' \
    "$1" "$2" "$deps/include" "$3" > "$deps/pkgconfig/$1.pc"
}
pc xsimd "$(pkg-config --modversion xsimd)" ""
pc nlohmann_json "$(pkg-config --modversion nlohmann_json)" ""
pc CLI11 "$(pkg-config --modversion CLI11 2>/dev/null || echo 2.3)" ""
pc libxxhash "$(pkg-config --modversion libxxhash)" "-DXXH_INLINE_ALL"
cat > "$deps/cross.ini" <<INI
[binaries]
cpp = 'aarch64-linux-gnu-g++'
ar = 'aarch64-linux-gnu-ar'
strip = 'aarch64-linux-gnu-strip'
pkgconfig = 'pkg-config'  # meson 1.0's name (later: pkg-config)
exe_wrapper = ['qemu-aarch64', '-L', '/usr/aarch64-linux-gnu']

[properties]
pkg_config_libdir = ['$deps/pkgconfig']

[host_machine]
system = 'linux'
cpu_family = 'aarch64'
cpu = 'armv8-a'
endian = 'little'
INI
# -O1 (as the sanitizer build): quick to compile; IEEE arithmetic gives the -O3 bits.
meson setup "$dir" --cross-file "$deps/cross.ini" --buildtype=plain -Dcpp_args=-O1 -Dnative=false \
  -Dbenchmarks=disabled -Dmpi=disabled >/dev/null
