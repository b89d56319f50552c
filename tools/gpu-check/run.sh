#!/usr/bin/env bash
# GPU check of the CUDA path (README.md beside this file). Usage, from the repository root:
#   tools/gpu-check/run.sh prepare   # where a registry is reachable: scratch install + model skeleton
#   tools/gpu-check/run.sh check     # on the GPU host: provider, profile, cosine, timings table
#   tools/gpu-check/run.sh           # both
# SCRATCH (default .cache/gpu-check) holds everything; the project's own lock file is never touched.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SCRATCH="${SCRATCH:-$ROOT/.cache/gpu-check}"
APP="$SCRATCH/app"
ORT_VERSION=1.29.0                                   # the runtime the CUDA providers below were built for
PROVIDERS_PKG=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9   # ONNX Runtime 1.29.0, CUDA 13 providers
MODEL="${MODEL:-$ROOT/.cache/bench/resnet50-op17.onnx}"
step="${1:-all}"

prepare() {
  mkdir -p "$SCRATCH"
  (cd "$ROOT" && npm run build --silent)
  # A copy of the built project whose onnxruntime-node is the scratch 1.29.0 install.
  rm -rf "$APP" && mkdir -p "$APP"
  cp -r "$ROOT/dist" "$ROOT/bin" "$ROOT/package.json" "$ROOT/tools" "$APP/"
  cp -r "$ROOT/node_modules" "$APP/node_modules"
  rm -rf "$APP/node_modules/onnxruntime-node" "$APP/node_modules/onnxruntime-common"
  (cd "$APP" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    "onnxruntime-node@$ORT_VERSION" "$PROVIDERS_PKG")
  local bin="$APP/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
  local found=0
  for lib in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
    local src
    src="$(find "$APP/node_modules/com.github.asus4.onnxruntime.linux-x64-gpu" -name "$lib" | head -n1)"
    if [[ -n "$src" ]]; then cp "$src" "$bin/"; found=$((found + 1)); fi
  done
  [[ $found -eq 2 ]] || { echo "gpu-check: the providers package has no CUDA provider libraries" >&2; exit 1; }
  # The model without its large weights (refilled, seeded, on the GPU host): small enough to carry.
  if [[ ! -f "$MODEL" ]]; then
    (cd "$ROOT" && /usr/bin/python3 tools/fixtures/make_gradient_fixtures.py --full .cache/bench --only resnet50)
  fi
  (cd "$APP" && node tools/gpu-check/skeleton.mjs strip "$MODEL" "$SCRATCH/resnet50.skeleton.onnx")
  echo "gpu-check: prepared $SCRATCH ($(du -sh "$SCRATCH" | cut -f1))"
}

check() {
  [[ -d "$APP/node_modules/onnxruntime-node" ]] || { echo "gpu-check: run '$0 prepare' first" >&2; exit 1; }
  # NVIDIA's CUDA 13 libraries from the nvidia-* Python wheels the host has (cuBLAS, cuDNN, cudart…).
  local libs
  libs="$(find / -path '*/site-packages/nvidia/*/lib' -type d 2>/dev/null | sort -u | paste -sd: -)"
  [[ -n "$libs" ]] || echo "gpu-check: no nvidia-* wheel libraries found; relying on the system's CUDA libraries" >&2
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  (cd "$APP" && LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    node tools/gpu-check/gpu-check.mjs --skeleton "$SCRATCH/resnet50.skeleton.onnx" --out "${OUT:-$SCRATCH/out}")
}

case "$step" in
  prepare) prepare ;;
  check) check ;;
  all) prepare && check ;;
  *) echo "usage: $0 [prepare|check]" >&2; exit 2 ;;
esac
