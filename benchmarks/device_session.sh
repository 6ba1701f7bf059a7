#!/usr/bin/env bash
# One GPU lease, one command (the `device` tool runs it in the repository root):
#   bash ../shared/device/prepare-wheels.sh            # here, once: PyAV and friends as wheels in .whl
#   run: bash benchmarks/device_session.sh             # carry .whl
# Correctness first (exit 1 stops before timing), then the standard cases; everything under $OUT,
# to be committed to benchmarks/results/.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
OUT=${OUT:-benchmarks/results}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.csv" 2>&1
python3 benchmarks/gpu_check.py --out "$OUT" 2>&1 | tee "$OUT/gpu-check.log" || exit 1
python3 benchmarks/run_standard.py --out "$OUT" 2>&1 | tee "$OUT/standard.log"
