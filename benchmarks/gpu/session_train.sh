#!/usr/bin/env bash
# A lent GPU machine, part 1 of 2: CUDA tests, the speed benchmark, then UCSD Ped2 training of the
# paper-ped2 model with its schedule fitted to the time left (benchmarks/plan_schedule.py).
# Needs Ped2's training split at .gpu/ped2tr/ped2 (carried). Part 2 (session_test.sh) tests it.
# Logs and results go to $OUT. BUDGET_S: seconds this script may use in all (default 560).
set -u
T0=$(date +%s); BUDGET_S=${BUDGET_S:-560}; DEADLINE=$((T0 + BUDGET_S))
OUT=${OUT:-/tmp/ammcnet-gpu-out}; mkdir -p "$OUT"
# $OUT brings back at most 8 files: logs go to $LOGS and leave as one archive, whatever happens
LOGS=$(mktemp -d); trap 'tar -czf "$OUT/train-logs.tgz" -C "$LOGS" .' EXIT
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 AMMCNET_CACHE=$PWD/cache
log() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$LOGS/session.log"; }
PRESET=${PRESET:-paper-ped2}; TAG=${TAG:-gpu}; DEVICE=${DEVICE:-cuda}; SIZE=${SIZE:-256 256}
TRAIN_ROOT=${TRAIN_ROOT:-.gpu/ped2tr/ped2}; TEST_ROOT=${TEST_ROOT:-.gpu/ped2te/ped2}; WORKERS=${WORKERS:-12}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$LOGS/session.log"
python3 -c "import torch, cv2, numpy; print('torch', torch.__version__, torch.cuda.get_device_name(), 'cv2', cv2.__version__, 'numpy', numpy.__version__, 'cpus', __import__('os').cpu_count())" | tee -a "$LOGS/session.log"

log "CUDA tests"
timeout 180 python3 -m pytest -q -x -p no:cacheprovider tests/test_cuda.py > "$LOGS/cuda-tests.log" 2>&1
rc=$?; tail -5 "$LOGS/cuda-tests.log"
[ $rc -eq 0 ] || { log "tests failed (rc $rc): stopping before training"; tail -60 "$LOGS/cuda-tests.log"; exit 1; }

if [ "${SKIP_BENCH:-0}" != 1 ]; then
  log "speed benchmark ($PRESET, cuda)"
  timeout 150 python3 -m ammcnet bench --preset "$PRESET" --device "$DEVICE" --seconds 0.5 --batches 1,8,32,64 \
      --frames 300 --train-steps 5 --no-onnx --json "$LOGS/speed-$PRESET-cuda.json" > "$LOGS/bench.log" 2>&1
  log "bench rc $?"; tail -22 "$LOGS/bench.log"
fi

log "prepare Ped2 training split"
python3 -m ammcnet prepare "$TRAIN_ROOT" --size $SIZE --flow-preset ${FLOW_PRESET:-medium} --split train --workers ${PREP_WORKERS:-14} --no-progress > "$LOGS/prepare.log" 2>&1 \
  || { log "prepare failed"; tail -20 "$LOGS/prepare.log"; exit 1; }
log "prepared"

LEFT=$(( DEADLINE - $(date +%s) - 75 ))  # kept back: planning (~25 s), calibration, final save, copy-back
MIN=$(python3 -c "print(round(max(0.5, ($LEFT - 25) / 60), 2))")
SETS=$(python3 benchmarks/plan_schedule.py --preset "$PRESET" --device "$DEVICE" --minutes "$MIN" --json "$LOGS/plan.json" 2>>"$LOGS/session.log")
log "training budget $MIN min: $SETS"
# shellcheck disable=SC2086
timeout $(( DEADLINE - $(date +%s) - 10 )) python3 benchmarks/ped2.py --preset "$PRESET" --tag "$TAG" --device "$DEVICE" \
    --root "$TRAIN_ROOT" --train-only --no-progress --set data.workers=$WORKERS $SETS > "$LOGS/train.log" 2>&1
log "train rc $?"; tail -5 "$LOGS/train.log"
RUN=runs/bench/ped2-$PRESET-$TAG-full-seed0
cp "$RUN/metrics.csv" "$RUN/config.yaml" "$RUN/bench_timing.json" "$LOGS/" 2>/dev/null
echo "$SETS" | tee "$LOGS/sets.txt" > "runs/bench/sets-$PRESET-$TAG.txt"
ls -la "$RUN" | tee -a "$LOGS/session.log"
# the weights come back too (float16, in parts of <= 15 MiB), in case part 2 cannot run here
python3 - "$RUN/model.pt" "$OUT" <<'PY' 2>&1 | tee -a "$LOGS/session.log"
import io, sys, torch
from pathlib import Path
src, out = Path(sys.argv[1]), Path(sys.argv[2])
if src.is_file():
    obj = torch.load(src, map_location="cpu", weights_only=False)
    def half(x):
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            return x.half()
        if isinstance(x, dict):
            return {k: half(v) for k, v in x.items()}
        return x
    buf = io.BytesIO(); torch.save(half(obj), buf); data = buf.getvalue(); step = 15 << 20
    for i in range(0, len(data), step):
        (out / f"model-fp16.pt.part{i // step}").write_bytes(data[i:i + step])
    print("model.pt as float16:", len(data), "bytes")
PY
log "done"
