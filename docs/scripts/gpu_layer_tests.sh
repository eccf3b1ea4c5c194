#!/usr/bin/env bash
# The layer test files on a GPU, JAX and PyTorch backends (CI has no GPU).
#
#   bash docs/scripts/gpu_layer_tests.sh [OUT_DIR]
#
# TF32 is turned off (NVIDIA_TF32_OVERRIDE=0, JAX's matmul precision "highest")
# so that the float32 tolerances of the tests (1e-5) mean the same as on a CPU.
# Logs go to OUT_DIR (default: the current folder). Last run: 27 Nov 2026 on an
# H200, before the device fix of layers/fast.py (CHANGELOG, "Fixed"): PyTorch
# 93 of 449 failed (CPU tensors fed to GPU layers), JAX 3 tests that assumed a
# CPU; both fixed since, not yet rerun on a GPU.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${1:-.}"
export NVIDIA_TF32_OVERRIDE=0 JAX_DEFAULT_MATMUL_PRECISION=highest PYTHONUNBUFFERED=1
files="tests/test_equivalence.py tests/test_fast_paths.py tests/test_minimal.py tests/test_variants.py tests/test_mixed_precision.py tests/test_dropout.py"
status=0
for backend in torch jax; do
    KERAS_BACKEND=$backend timeout "${TIMEOUT:-600}" python3 -m pytest -q -p no:cacheprovider -W ignore -o addopts="" -rfE $files \
        2>&1 | tee "$out/gpu_tests_$backend.log" | tail -5 || status=1
done
exit $status
