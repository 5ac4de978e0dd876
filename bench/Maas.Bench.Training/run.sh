#!/usr/bin/env bash
# Trains the same CNN on Fashion-MNIST with MaaS's ggml trainer and with PyTorch in one run (see docs/benchmarks.md).
# Needs Debian's dataset-fashion-mnist; installs python3-torch with apt-get when it is missing (a benchmark need,
# not CI's). Arguments go to the benchmark: --epochs N (2), --threads N (2), --batch N (32), --train-limit N (all),
# --compare-im2col (also trains with the im2col convolution path, in the same run), --compare-padded (also trains
# with the first convolution's contraction padded from 9 to 16, in the same run), --compare-whole-batch (also trains
# with one ggml graph over the whole batch instead of two halves on a thread each, in the same run),
# --compare-unpadded-gather (also trains with the second convolution's gathered contraction left unpadded, in the same
# run), --compare-pool2d (also trains with ggml's pool_2d for the max-pools instead of the quadrants, in the same run),
# --out FILE.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Debian's python3-torch belongs to Debian's interpreter, not to whatever python3 comes first on the PATH (pyenv).
export MAAS_BENCH_PYTHON="${MAAS_BENCH_PYTHON:-/usr/bin/python3}"
if ! "$MAAS_BENCH_PYTHON" -c 'import torch' 2>/dev/null; then
  echo "python3-torch is missing; installing it with apt-get" >&2
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get install -y python3-torch
fi
exec dotnet run -c Release --project "$here/Maas.Bench.Training.csproj" -- "$@"
