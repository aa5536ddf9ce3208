#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install dcign, train a DC-IGN (small-64) on the
# built-in rendered faces, evaluate it on test identities, and print where the report is.
# Usage: bash scripts/main_job.sh [RUN_DIR]   (default runs/faces-small64; run again to resume or re-evaluate)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=${1:-runs/faces-small64}
STEPS=${DCIGN_STEPS:-2500}
# The CPU budget (about 17 minutes of training on 2 cores) is short, so the main job uses
# Adam at 1e-3 instead of the paper's 5e-4: measured here, it reaches the same Fig. 6
# correlations in fewer steps (elevation is the slowest factor to disentangle).
LR=${DCIGN_LR:-1e-3}

if [ -e "$RUN_DIR/model.json" ]; then
  echo "$RUN_DIR already holds a trained model; evaluating it again (pass another RUN_DIR to train anew)."
else
  echo "== installing dcign (CPU build of torch) =="
  python3 -m pip install --quiet "torch==2.13.0" || python3 -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
  python3 -m pip install --quiet -e ".[test]"
  if [ -e "$RUN_DIR/config.json" ]; then
    echo "== resuming the interrupted run in $RUN_DIR =="
    python3 -m dcign train --out "$RUN_DIR" --resume --steps "$STEPS"
  else
    echo "== training a DC-IGN on rendered faces: $STEPS steps =="
    python3 -m dcign train --dataset faces --preset small-64 --steps "$STEPS" --lr "$LR" --out "$RUN_DIR"
  fi
fi
echo "== evaluating on test identities =="
python3 -m dcign evaluate "$RUN_DIR"
