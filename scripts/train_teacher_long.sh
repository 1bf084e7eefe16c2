#!/usr/bin/env bash
# The long teacher run (issue: a teacher worth distilling). Starts it, or continues it from its
# own training state after an interruption, so the same command is run again after a cut-off.
#
#   nohup bash scripts/train_teacher_long.sh > teacher.log 2>&1 &
#   GANLAB_TEACHER_RUN=/elsewhere THREADS=2 bash scripts/train_teacher_long.sh
#
# The state (~34 MB: G, D, EMA, both Adams, schedules, random streams) is written every 200
# steps outside the repository by default, so a fresh checkout does not wipe it. Extra
# arguments pass through (e.g. --device cuda where a GPU is available).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --no-deps -e . >/dev/null  # the ganlab package the scripts import (pyproject.toml)
OUT="${GANLAB_TEACHER_RUN:-$(cd .. && pwd)/ganlab-runs/teacher-r1}"
if [ -f "$OUT/training.json" ] && python -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["status"] != "completed")' "$OUT/training.json"; then
  echo "the teacher run in $OUT has finished"  # resuming a finished run is an error; re-running this is not
  exit 0
fi
RESUME=()
[ -f "$OUT/training-state.safetensors" ] && RESUME=(--resume "$OUT")
exec python scripts/train_teacher.py --steps 30000 --ema 0.999 --lr-decay --r1 10 --d-dropout 0 \
  --precision fp32 --threads "${THREADS:-2}" --checkpoint-every 200 --keep-every 1000 --sample-every 0 \
  --out "$OUT" "${RESUME[@]}" "$@"
