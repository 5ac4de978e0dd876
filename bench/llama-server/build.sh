#!/usr/bin/env bash
# Builds llama.cpp's own llama-server from the exact llama.cpp source that MaaS's native engine comes from:
# the source bundle inside the npm package node-llama-cpp@3.22.1 (package/llama/gitRelease.bundle).
# The build lives outside the repository (default ~/.cache/maas/llama-server) and is skipped when already there.
# Prints the path of the llama-server binary on its last line.
#
#   bench/llama-server/build.sh            # build (or reuse) and print the binary's path
#   MAAS_LLAMA_SERVER_DIR=/opt/ls JOBS=2 bench/llama-server/build.sh
#   TARGET=llama-quantize bench/llama-server/build.sh   # another tool of the same build (the optimisation benchmark's reference)
#   NATIVE=OFF TARGET=llama-quantize bench/llama-server/build.sh   # generic x86-64 code (GGML_NATIVE=OFF), in build-generic/
#   TARGET=llama-finetune bench/llama-server/build.sh   # an example program (the fine-tuning benchmark's reference), built in build-examples/
#
# Threading matches the engine MaaS loads: node-llama-cpp's prebuilt CPU backends use ggml's own thread pool,
# not OpenMP, so this build turns OpenMP off too (GGML_OPENMP=OFF); otherwise the two would differ in how their
# threads wait for each other, which matters a lot on a busy 2-core machine.
set -euo pipefail

VERSION="3.22.1"
ROOT="${MAAS_LLAMA_SERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/maas/llama-server}"
OUT="$ROOT/$VERSION"
TARGET="${TARGET:-llama-server}"
NATIVE="${NATIVE:-ON}"
# A generic build (no -march=native) gets a folder of its own, so both can be compared side by side. Example programs
# (llama-finetune) need LLAMA_BUILD_EXAMPLES; they get a folder of their own too, so switching the flag never
# reconfigures (or rebuilds) the server's build.
BUILD="$OUT/build"
[[ "$NATIVE" == "ON" ]] || BUILD="$OUT/build-generic"
EXAMPLES=OFF
case "$TARGET" in
  llama-finetune) BUILD="$BUILD-examples"; EXAMPLES=ON ;;
esac
BIN="$BUILD/bin/$TARGET"
JOBS="${JOBS:-$(nproc)}"
# Static libraries, native CPU code, ggml's thread pool, no network at build time (no curl, no prebuilt web UI).
FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_NATIVE="$NATIVE"
  -DGGML_OPENMP=OFF
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=$EXAMPLES
  -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_BUILD_UI=OFF
)
STAMP="$BUILD/maas-flags"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "${FLAGS[*]}" ]]; then
  echo "$BIN"
  exit 0
fi

for tool in npm git cmake tar; do
  command -v "$tool" >/dev/null || { echo "build.sh: '$tool' is needed to build llama-server (apt-get install $tool)" >&2; exit 1; }
done

mkdir -p "$OUT"
cd "$OUT"
if [[ ! -f gitRelease.bundle ]]; then
  echo "build.sh: fetching node-llama-cpp@$VERSION with npm pack" >&2
  tarball="$(npm pack "node-llama-cpp@$VERSION" --silent | tail -n 1)"
  tar -xzf "$tarball" package/llama/gitRelease.bundle
  mv package/llama/gitRelease.bundle gitRelease.bundle
  rm -rf package "$tarball"
fi

if [[ ! -d src/.git ]]; then
  rm -rf src
  git clone --quiet gitRelease.bundle src
fi

cmake -S src -B "$BUILD" -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" "${FLAGS[@]}" >&2
cmake --build "$BUILD" --target "$TARGET" -j "$JOBS" >&2
echo "${FLAGS[*]}" > "$STAMP"

echo "$BIN"
