#!/usr/bin/env bash
# The layer test files on a GPU, JAX and PyTorch backends (CI has no GPU).
#
#   bash docs/scripts/gpu_layer_tests.sh [OUT_DIR]
#
# TF32 is turned off (NVIDIA_TF32_OVERRIDE=0, JAX's matmul precision "highest")
# so that float32 results compare with a CPU's (the equivalence tests allow
# 1e-4 on a GPU, where cuDNN sums in another order, and 1e-5 on a CPU).
# FILES replaces the list of test files. Logs go to OUT_DIR (default: the
# current folder); PYTEST_ARGS adds pytest
# options (`PYTEST_ARGS="-n 8"` with pytest-xdist and
# XLA_PYTHON_CLIENT_PREALLOCATE=false: JAX's compiles then share 8 cores).
# Last run: 27 Nov 2026 on an H200 (torch 2.11 + cu130, jax 0.11.2, keras
# 3.15.1): PyTorch 396 passed / 53 skipped; JAX 352 passed / 96 skipped / 1
# failed, since marked a strict xfail (Keras's own cuDNN LSTM on JAX flips
# go_backwards outputs: tests/test_equivalence.py).
# FILES="tests/test_serialization.py tests/test_registry.py" the same day: 63
# passed on each backend; the 2 failures each were the device's (no TensorFlow
# installed there; a subprocess whose PYTHONPATH lost the carried Keras).
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${1:-.}"
export NVIDIA_TF32_OVERRIDE=0 JAX_DEFAULT_MATMUL_PRECISION=highest PYTHONUNBUFFERED=1
files="${FILES:-tests/test_equivalence.py tests/test_fast_paths.py tests/test_minimal.py tests/test_variants.py tests/test_mixed_precision.py tests/test_dropout.py}"
status=0
for backend in torch jax; do
    KERAS_BACKEND=$backend timeout "${TIMEOUT:-600}" python3 -m pytest ${PYTEST_ARGS:-} -q -p no:cacheprovider -W ignore -o addopts="" -rfE $files \
        2>&1 | tee "$out/gpu_tests_$backend.log" | tail -5 || status=1
done
exit $status
