#!/usr/bin/env bash
# Full run on one GPU machine: simulate (parallel) -> train LV segmentation + view/quality at once -> evaluate on
# the hard test set -> package into $OUT. Every stage has a wall-clock budget, so the run always ends and always
# leaves $OUT/log.txt and $OUT/results.tar.gz (re-packed after each stage and on exit).
#
#   OUT=/some/dir PYTHONPATH=training bash training/scripts/full_run.sh                       # GPU, ~7.5 min
#   SONOEDGE_SCALE=tiny OUT=/tmp/x PYTHON=training/.venv/bin/python bash training/scripts/full_run.sh  # CPU, < 3 min
#
# Environment: OUT (required), PYTHON (default python3), SONOEDGE_SCALE (full | tiny), WORK (scratch folder,
# default training/runs/full_run), SIM_WORKERS (default: number of CPUs).
# $OUT gets: log.txt (all output), results.tar.gz (report, plots, metrics, resolved configs, training logs,
# final checkpoints, dataset indexes, run info), and copies of report.md, metrics.json, run_info.json.
set -euo pipefail

: "${OUT:?set OUT to the output folder}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
if [[ -z "${_FULLRUN_TEED:-}" ]]; then  # re-run this script with all output through tee into $OUT/log.txt
  export _FULLRUN_TEED=1
  set +e
  bash "${BASH_SOURCE[0]}" "$@" 2>&1 | tee "$OUT/log.txt"
  exit "${PIPESTATUS[0]}"
fi

SECONDS=0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
SCALE="${SONOEDGE_SCALE:-full}"
export PYTHONPATH="$ROOT/training${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
NCPU="$(nproc 2>/dev/null || echo 4)"
WORK="${WORK:-training/runs/full_run}"
DATA="$WORK/data"
RUNS="$WORK/runs"
EVAL="$WORK/eval"
CFG=training/configs

# Budgets are absolute deadlines in seconds since the start (bash SECONDS).
case "$SCALE" in
  full)
    SIM_WORKERS="${SIM_WORKERS:-$NCPU}"
    TEST_CINES=300; VAL_CINES=150; TRAIN_CINES=5000; FRAMES=16; SHARD=16
    T_SIM_END=125        # simulation (test and val complete, train cut at the deadline)
    T_TRAIN_END=375      # both trainings; max_minutes = time left minus TRAIN_OVERHEAD, at most TRAIN_MAX_S
    TRAIN_OVERHEAD=30    # data loading, CUDA start, final validation and save
    TRAIN_MAX_S=230
    T_EVAL_END=450
    BOOT=1000; EVAL_THREADS="$NCPU"
    DL_WORKERS=$(( NCPU >= 16 ? 6 : (NCPU >= 6 ? (NCPU - 4) / 2 : 0) ))
    TRAIN_SETS=(--set "train.workers=$DL_WORKERS")
    ;;
  tiny)
    SIM_WORKERS="${SIM_WORKERS:-2}"
    TEST_CINES=10; VAL_CINES=5; TRAIN_CINES=20; FRAMES=6; SHARD=4
    T_SIM_END=60; T_TRAIN_END=130; TRAIN_OVERHEAD=20; TRAIN_MAX_S=40; T_EVAL_END=165
    BOOT=100; EVAL_THREADS=1
    TRAIN_SETS=(--set train.workers=1 --set train.threads=1 --set train.batch_size=16 --set train.epochs=2
                --set train.checkpoint_every=5 --set train.log_every=2 --set train.val_max_frames=32)
    ;;
  *) echo "SONOEDGE_SCALE expected full or tiny but received '$SCALE'" >&2; exit 2 ;;
esac

log() { echo "[full_run t=${SECONDS}s] $*"; }
left() { local s=$(( $1 - SECONDS )); (( s < 1 )) && s=1; echo "$s"; }
minutes() { printf '%d.%02d' $(( $1 / 60 )) $(( ($1 % 60) * 100 / 60 )); }  # seconds -> decimal minutes
STAGES=()
stage_done() { STAGES+=("$1=$2"); log "stage $1 finished with status $2"; }

package() {  # never fails; safe to call at any point
  set +e
  local tag="$1" f
  log "packaging ($tag)"
  {
    echo "{"
    echo "  \"scale\": \"$SCALE\", \"package\": \"$tag\", \"elapsed_s\": $SECONDS, \"ncpu\": $NCPU,"
    echo "  \"sim_workers\": ${SIM_WORKERS:-0}, \"requested_cines\": {\"train\": $TRAIN_CINES, \"val\": $VAL_CINES, \"test\": $TEST_CINES},"
    echo "  \"stages\": \"${STAGES[*]:-}\""
    echo "}"
  } > "$WORK/run_info.json"
  local files=()
  mapfile -t files < <(cd "$WORK" && for f in run_info.json env.txt gpu_util.csv eval runs/*/config.json \
    runs/*/log.csv runs/*/summary.json runs/*/final.pt runs/*.out runs/*/tb data/*/index.json; do
    [[ -e "$f" ]] && echo "$f"; done)
  for f in "$WORK"/runs/*/final.pt; do
    [[ -e "$f" ]] || continue
    local sz; sz=$(stat -c %s "$f" 2>/dev/null || wc -c < "$f")
    log "checkpoint $f: $sz bytes$( (( sz >= 5000000 )) && echo ' (WARNING: >= 5 MB)')"
  done
  if (( ${#files[@]} )); then
    tar czf "$OUT/results.tar.gz.tmp" -C "$WORK" "${files[@]}" && mv -f "$OUT/results.tar.gz.tmp" "$OUT/results.tar.gz"
  fi
  for f in eval/report.md eval/metrics.json run_info.json; do
    [[ -e "$WORK/$f" ]] && cp -f "$WORK/$f" "$OUT/"
  done
  ls -l "$OUT"
  set -e
}
GPU_MON=""
on_exit() {
  local rc=$?
  [[ -n "$GPU_MON" ]] && kill "$GPU_MON" 2>/dev/null
  package "exit rc=$rc"
  log "done (rc=$rc)"
}
trap on_exit EXIT

log "scale=$SCALE python=$PYTHON ncpu=$NCPU work=$WORK out=$OUT"
rm -rf "$WORK"
mkdir -p "$DATA" "$RUNS" "$EVAL"
# environment facts, in the background while the simulator runs
( "$PYTHON" -c "import sys, platform, torch, numpy; print('python', sys.version.split()[0], platform.platform()); \
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''); \
print('numpy', numpy.__version__)"; command -v nvidia-smi >/dev/null && nvidia-smi ) > "$WORK/env.txt" 2>&1 &
ENV_PID=$!

# ---- 1. simulate: test (seed 3, hard) and val (seed 2) complete; train (seed 1) up to the deadline -----------
sim() {  # sim NAME MAX_SECONDS args...
  local name="$1" secs="$2"; shift 2
  timeout -k 10 "$(( secs + 20 ))" "$PYTHON" -m sonoedge_train simulate --out "$DATA/$name" --frames "$FRAMES" \
    --workers "$SIM_WORKERS" --shard-cines "$SHARD" --quiet "$@"
}
log "simulate test: $TEST_CINES cines, seed 3, hard"
rc=0; sim test "$(left $T_SIM_END)" --cines "$TEST_CINES" --seed 3 --difficulty hard || rc=$?
stage_done sim_test "$rc"; (( rc == 0 ))
log "simulate val: $VAL_CINES cines, seed 2"
rc=0; sim val "$(left $T_SIM_END)" --cines "$VAL_CINES" --seed 2 || rc=$?
stage_done sim_val "$rc"; (( rc == 0 ))
s=$(left $T_SIM_END)
log "simulate train: up to $TRAIN_CINES cines, seed 1, budget ${s}s"
rc=0; sim train "$s" --cines "$TRAIN_CINES" --seed 1 --max-minutes "$(minutes "$s")" || rc=$?
stage_done sim_train "$rc"; (( rc == 0 ))
wait "$ENV_PID" || true
cat "$WORK/env.txt" || true
"$PYTHON" - "$DATA" <<'EOF' || true
import json, sys
from pathlib import Path
for name in ("train", "val", "test"):
    ix = json.loads((Path(sys.argv[1]) / name / "index.json").read_text())
    n = sum(s["n_frames"] for s in ix["shards"])
    print(f"dataset {name}: {len(ix['cines'])} cines, {n} frames, seed {ix['seed']}, difficulty {ix['difficulty']}")
EOF
package after-sim

# ---- 2. train both models at once (GPU: AMP, large batches, DataLoader workers, time budget) ----------------
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > "$WORK/gpu_util.csv" 2>/dev/null &
  GPU_MON=$!
fi
budget=$(( $(left $T_TRAIN_END) - TRAIN_OVERHEAD ))
(( budget > TRAIN_MAX_S )) && budget=$TRAIN_MAX_S
(( budget < 10 )) && budget=10
hard=$(left $(( T_TRAIN_END + 15 )))
log "train lvseg + view_quality at once: max_minutes $(minutes $budget) each, hard limit ${hard}s"
train_one() {  # train_one NAME BASE_CONFIG GPU_CONFIG
  local name="$1"
  set -o pipefail
  timeout -k 10 "$hard" "$PYTHON" -m sonoedge_train train --config "$CFG/$2" --config "$CFG/$3" --no-resume \
    --set "out_dir=$RUNS/$name" --set "data.train=$DATA/train" --set "data.val=$DATA/val" \
    --set "train.max_minutes=$(minutes $budget)" "${TRAIN_SETS[@]}" 2>&1 | tee "$RUNS/$name.out" | sed -u "s/^/[$name] /"
}
train_one lvseg lvseg.json gpu_lvseg.json & P_SEG=$!
train_one view_quality view_quality.json gpu_view_quality.json & P_VIEW=$!
rc=0; wait "$P_SEG" || rc=$?; stage_done train_lvseg "$rc"
rc=0; wait "$P_VIEW" || rc=$?; stage_done train_view_quality "$rc"
if [[ -n "$GPU_MON" ]]; then kill "$GPU_MON" 2>/dev/null || true; GPU_MON=""; fi
for n in lvseg view_quality; do [[ -e "$RUNS/$n/summary.json" ]] && { echo "$n summary:"; cat "$RUNS/$n/summary.json"; echo; }; done
package after-train

# ---- 3. evaluate on the hard test set ---------------------------------------------------------------------
pick() {  # the checkpoint to evaluate: final.pt, else best.pt, else last.pt (a training cut by its hard limit)
  local f
  for f in final.pt best.pt last.pt; do [[ -e "$RUNS/$1/$f" ]] && { echo "$RUNS/$1/$f"; return; }; done
  echo ""
}
SEG_CK=$(pick lvseg); VIEW_CK=$(pick view_quality)
log "evaluate: seg=${SEG_CK:-none} view=${VIEW_CK:-none}"
if [[ -z "$SEG_CK" && -z "$VIEW_CK" ]]; then
  log "no checkpoint to evaluate"; exit 1
fi
rc=0
timeout -k 10 "$(left $T_EVAL_END)" "$PYTHON" -m sonoedge_train evaluate --data "$DATA/test" --out "$EVAL" \
  --seg "$SEG_CK" --view "$VIEW_CK" --boot "$BOOT" --threads "$EVAL_THREADS" --device auto || rc=$?
stage_done evaluate "$rc"
(( rc == 0 )) && cat "$EVAL/report.md"
exit "$rc"
