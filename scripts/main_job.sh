#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install dcign, train a DC-IGN with `dcign train`'s
# defaults (the README's options table: preset, data set, steps, learning rate) on the built-in
# rendered faces, evaluate it on test identities, and print where the report is.
# Usage: bash scripts/main_job.sh [RUN_DIR]   (default runs/faces; run again to resume or re-evaluate)
# DCIGN_STEPS=N and DCIGN_LR=X override the default steps and learning rate (a resumed run
# keeps its learning rate; only its steps may change).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=${1:-runs/faces}
STEPS_OPT=()
LR_OPT=()
if [ -n "${DCIGN_STEPS:-}" ]; then STEPS_OPT=(--steps "$DCIGN_STEPS"); fi
if [ -n "${DCIGN_LR:-}" ]; then LR_OPT=(--lr "$DCIGN_LR"); fi

if [ -e "$RUN_DIR/model.json" ]; then
  echo "$RUN_DIR already holds a trained model; evaluating it again (pass another RUN_DIR to train anew)."
else
  echo "== installing dcign and torch 2.13.0 (pip; falls back to the CPU wheel index) =="
  python3 -m pip install --quiet "torch==2.13.0" || python3 -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
  python3 -m pip install --quiet -e ".[test]"
  if [ -e "$RUN_DIR/config.json" ]; then
    echo "== resuming the interrupted run in $RUN_DIR =="
    python3 -m dcign train --out "$RUN_DIR" --resume ${STEPS_OPT[@]+"${STEPS_OPT[@]}"}
  else
    echo "== training a DC-IGN on rendered faces =="
    python3 -m dcign train --out "$RUN_DIR" ${STEPS_OPT[@]+"${STEPS_OPT[@]}"} ${LR_OPT[@]+"${LR_OPT[@]}"}
  fi
fi
echo "== evaluating on test identities =="
python3 -m dcign evaluate "$RUN_DIR"
