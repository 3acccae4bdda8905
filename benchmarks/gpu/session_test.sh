#!/usr/bin/env bash
# A lent GPU machine, part 2 of 2 (the same warm machine): test the run trained by session_train.sh
# on Ped2's test split (carried at .gpu/ped2te/ped2) and copy the result files to $OUT.
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/ammcnet-gpu-out}; mkdir -p "$OUT"
LOGS=$(mktemp -d); trap 'tar -czf "$OUT/test-logs.tgz" -C "$LOGS" .' EXIT
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 AMMCNET_CACHE=$PWD/cache
log() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$LOGS/session.log"; }
PRESET=${PRESET:-paper-ped2}; TAG=${TAG:-gpu}; DEVICE=${DEVICE:-cuda}; SIZE=${SIZE:-256 256}
TRAIN_ROOT=${TRAIN_ROOT:-.gpu/ped2tr/ped2}; TEST_ROOT=${TEST_ROOT:-.gpu/ped2te/ped2}
SETS=$(cat runs/bench/sets-$PRESET-$TAG.txt 2>/dev/null || true)
log "prepare Ped2 test split"
python3 -m ammcnet prepare "$TEST_ROOT" --size $SIZE --flow-preset ${FLOW_PRESET:-medium} --split test --workers ${PREP_WORKERS:-14} --no-progress > "$LOGS/prepare-test.log" 2>&1 \
  || { log "prepare failed"; tail -20 "$LOGS/prepare-test.log"; exit 1; }
log "test"
# shellcheck disable=SC2086
python3 benchmarks/ped2.py --preset "$PRESET" --tag "$TAG" --device "$DEVICE" --root "$TRAIN_ROOT" \
    --test-root "$TEST_ROOT" --no-progress ${MAPS:-} $SETS > "$LOGS/test.log" 2>&1
log "test rc $?"; tail -8 "$LOGS/test.log"
RUN=runs/bench/ped2-$PRESET-$TAG-full-seed0
cp benchmarks/results/ped2-$PRESET-$TAG-full-seed0.json "$OUT/" 2>/dev/null
cp "$RUN/test/metrics.json" "$OUT/test-metrics.json" 2>/dev/null
cp "$RUN/test/table.txt" "$OUT/" 2>/dev/null
cp "$RUN"/test/plots/roc*.png "$OUT/" 2>/dev/null
log "done"
