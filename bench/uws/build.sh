#!/usr/bin/env bash
# Builds uWebSockets' echo for the benchmarks (bench/uws/echo.cpp): `uws_echo` with
# compression compiled out (-DUWS_NO_ZLIB; the load bench), and `uws_echo_z` with zlib
# (its SHARED_COMPRESSOR and DEDICATED modes; the deflate_modes bench).
#
#   usage: bash bench/uws/build.sh [OUT_DIR]     (default target/uws)
#
# Needs git, make, g++ (C++20) and zlib's headers (Debian: zlib1g-dev). The sources are
# cloned from UWS_REPO and USOCKETS_REPO (default: uNetworking's GitHub repositories; a
# local clone or mirror works too), at their default branch unless UWS_REF/USOCKETS_REF.
# Then, for instance:
#   LOAD_EXTERNAL="uws=$PWD/target/uws/uws_echo {port}" cargo bench -p wisp-bench --bench load
#   DEFLATE_MODES_UWS=$PWD/target/uws/uws_echo_z cargo bench -p wisp-bench --bench deflate_modes
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$(realpath -m "${1:-$root/target/uws}")"
mkdir -p "$out"
src="$out/src"
fetch() { # fetch NAME URL REF
  if [ ! -d "$src/$1/.git" ]; then
    git clone -q "$2" "$src/$1"
  fi
  if [ -n "$3" ]; then git -C "$src/$1" checkout -q "$3"; fi
}
fetch uWebSockets "${UWS_REPO:-https://github.com/uNetworking/uWebSockets}" "${UWS_REF:-}"
fetch uSockets "${USOCKETS_REPO:-https://github.com/uNetworking/uSockets}" "${USOCKETS_REF:-}"
make -s -C "$src/uSockets" -j"$(nproc)" >/dev/null
inc=(-I "$src/uWebSockets/src" -I "$src/uSockets/src")
g++ -O3 -flto -std=c++2b -DUWS_NO_ZLIB "${inc[@]}" "$here/echo.cpp" "$src"/uSockets/*.o -o "$out/uws_echo"
g++ -O3 -flto -std=c++2b "${inc[@]}" "$here/echo.cpp" "$src"/uSockets/*.o -lz -o "$out/uws_echo_z"
echo "built $out/uws_echo and $out/uws_echo_z ($(git -C "$src/uWebSockets" rev-parse --short HEAD), uSockets $(git -C "$src/uSockets" rev-parse --short HEAD))"
