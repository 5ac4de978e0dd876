#!/usr/bin/env bash
# Builds llama.cpp's own llama-server from the exact llama.cpp source that MaaS's native engine comes from:
# the source bundle inside the npm package node-llama-cpp@3.22.1 (package/llama/gitRelease.bundle).
# The build lives outside the repository (default ~/.cache/maas/llama-server) and is skipped when already there.
# Prints the path of the llama-server binary on its last line.
#
#   bench/llama-server/build.sh            # build (or reuse) and print the binary's path
#   MAAS_LLAMA_SERVER_DIR=/opt/ls bench/llama-server/build.sh
set -euo pipefail

VERSION="3.22.1"
ROOT="${MAAS_LLAMA_SERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/maas/llama-server}"
OUT="$ROOT/$VERSION"
BIN="$OUT/build/bin/llama-server"
JOBS="${JOBS:-$(nproc)}"

if [[ -x "$BIN" ]]; then
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

# Static libraries, native CPU code, no network at build time (no curl, no prebuilt web UI download).
cmake -S src -B build -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=ON \
  -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=ON \
  -DLLAMA_OPENSSL=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_BUILD_UI=OFF >&2
cmake --build build --target llama-server -j "$JOBS" >&2

echo "$BIN"
