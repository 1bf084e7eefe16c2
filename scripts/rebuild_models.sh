#!/usr/bin/env bash
# Rebuild every committed model from one teacher, then every table, in stages that skip what is
# done (run it again after a cut-off). The same commands as docs/training.md, on any device:
#
#   bash scripts/rebuild_models.sh                          # CPU: a day (the teacher alone 5.5-6 h with both cores to itself)
#   DEVICE=cuda bash scripts/rebuild_models.sh              # one GPU: about 15 minutes
#   STAGES="students tables" bash scripts/rebuild_models.sh # a teacher is already in checkpoints/teacher
#
# Stages (STAGES, default all, in this order):
#   study     scripts/recipe_study.py at STUDY_STEPS (default 6000), variants JOBS at a time -> checkpoints/recipe-study.json
#   teacher   the long teacher (scripts/train_teacher_long.sh: R1 γ10, dropout 0, EMA, LR decay,
#             30,000 steps, resumable) -> copied to checkpoints/teacher once it has finished, and
#             its kept snapshots scored (scripts/teacher_progress.py -> checkpoints/teacher-progress.json)
#   distill-study  scripts/distill_study.py at DISTILL_STUDY_STEPS (default 2000), variants JOBS at a time
#             -> checkpoints/distill-study.json
#   students  the committed students, distilled from that teacher with their committed recipes
#   tables    evaluate.py, ablation.py, default_run.py, bench_precision.py, sweep_width.py (widths JOBS at
#             a time), then results.py
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --no-deps -e . >/dev/null  # the ganlab package the scripts import (pyproject.toml)
DEVICE="${DEVICE:-cpu}"
THREADS="${THREADS:-2}"
STAGES="${STAGES:-study teacher distill-study students tables}"
RUN="${GANLAB_TEACHER_RUN:-$(cd .. && pwd)/ganlab-runs/teacher-r1}"
has() { [[ " $STAGES " == *" $1 "* ]]; }
say() { echo "== $(date -u +%H:%M:%S) $*"; }
# a GPU step takes ~10 ms: a 34 MB training state every 200 steps would dominate it there
CHECKPOINT_EVERY=$([ "$DEVICE" = cpu ] && echo 200 || echo 5000)

# On CPU two trainings run side by side on THREADS/2 threads each: measured on 2 cores, two
# 1-thread student runs made 1.00 + 1.02 steps/s where one 2-thread run made 1.62 (+25 %); for
# teacher-sized runs with R1 it is about even (1.47 s a step on 1 thread beside another run, 0.73
# s alone on 2). One at a time on a GPU.
JOBS="${JOBS:-$([ "$DEVICE" = cpu ] && [ "$THREADS" -ge 2 ] && echo 2 || echo 1)}"
JOB_THREADS="$(( THREADS / JOBS > 0 ? THREADS / JOBS : 1 ))"
pids=()
# a stopped rebuild stops every process it started (its process group), background trainings
# included: a rerun would otherwise race them for their folders
trap 'trap - INT TERM; kill 0' INT TERM
queue() {  # queue COMMAND...: run COMMAND in the background, at most JOBS at a time
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 2; done
  "$@" & pids+=($!)
}
wait_all() {  # wait_all WHAT: wait for every queued job; exit 1 if any failed (the others have finished)
  local failed=0 pid
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done  # bash keeps each child's status for wait
  pids=()
  [ "$failed" = 0 ] || { say "$1 failed (above): run this stage again, finished ones are kept"; exit 1; }
}

python scripts/fetch_mnist.py  # once, before trainings that start side by side would each download it

run_study() {  # run_study SCRIPT STEPS RUNS: the study's variants JOBS at a time (train only), then one pass scores them all
  local script="$1" variant variants
  local args=(--steps "$2" --device "$DEVICE" --runs "$3")
  variants="$(python -c "import runpy; print(*runpy.run_path('scripts/$script')['VARIANTS'], sep=chr(10))")"
  while IFS= read -r variant; do
    queue python "scripts/$script" "${args[@]}" --threads "$JOB_THREADS" --only "$variant" --train-only
  done <<< "$variants"
  wait_all "a $script variant"
  python "scripts/$script" "${args[@]}" --threads "$THREADS"  # a trained variant is scored, not retrained
}

if has study; then
  say "recipe study (${STUDY_STEPS:-6000} steps per variant)"
  run_study recipe_study.py "${STUDY_STEPS:-6000}" "$(dirname "$RUN")/recipe-study"
fi

if has teacher; then
  say "teacher -> $RUN"
  GANLAB_TEACHER_RUN="$RUN" THREADS="$THREADS" bash scripts/train_teacher_long.sh --device "$DEVICE" --checkpoint-every "$CHECKPOINT_EVERY" --quiet
  python - "$RUN" <<'EOF'
import json, sys
training = json.load(open(f"{sys.argv[1]}/training.json"))
if training["status"] not in ("completed", "time budget"):
    sys.exit(f"the teacher run in {sys.argv[1]} has not finished (status {training['status']!r}): run this stage again")
EOF
  say "FID along the run"
  python scripts/teacher_progress.py --run "$RUN" --threads "$THREADS"
  mkdir -p checkpoints/teacher
  cp "$RUN/model.safetensors" "$RUN/config.json" "$RUN/training.json" checkpoints/teacher/
  rm -rf checkpoints/teacher-12k checkpoints/samples-teacher-12k.png
fi

if has distill-study; then
  say "distillation study (${DISTILL_STUDY_STEPS:-2000} steps per variant)"
  run_study distill_study.py "${DISTILL_STUDY_STEPS:-2000}" "$(dirname "$RUN")/distill-study"
fi

if has students; then
  COMMON=(--device "$DEVICE" --threads "$JOB_THREADS" --quiet)
  RECIPE=(--steps 3000 --lr-g 1e-3 --ema 0.999 "${COMMON[@]}")
  LONG=(--steps 6000 --lr-g 1e-3 --ema 0.999 --lr-decay "${COMMON[@]}")
  # the committed pair: the distillation study's winner (R1, pixel L1, α 0.9 -> 0.5) and its α 0
  # baseline, 20,000 steps each with the same discriminator, schedule and precision
  KD20K=(--recipe committed --r1 10 --d-dropout 0 --pixel-distance l1 --lr-decay --steps 20000 --precision bf16 --keep-every 2000 --sample-every 0 "${COMMON[@]}")
  # Each student trains in its own folder beside the teacher's run, with a training state every
  # CHECKPOINT_EVERY steps, so a cut-off costs at most that many steps; only a finished student is
  # copied into checkpoints/. A folder left by another teacher is started over.
  STUDENT_RUNS="$(dirname "$RUN")/students"
  of_this_teacher() {  # of_this_teacher DIR [STATUS]: DIR's training.json names this teacher (and STATUS)
    python - "$1" "${2:-}" <<'EOF'
import json, os, sys
path = f"{sys.argv[1]}/training.json"
training = json.load(open(path)) if os.path.isfile(path) else {}
# a baseline (alpha 0) reads no teacher and records none: any teacher's rebuild keeps it
baseline = training.get("train_config", {}).get("alpha") == 0 and not training.get("teacher_sha256")
ok = (baseline or training.get("teacher_sha256") == os.environ["TEACHER_SHA"]) and sys.argv[2] in ("", training.get("status"))
sys.exit(0 if ok else 1)
EOF
  }
  distil() {  # distil NAME ARGS...: checkpoints/NAME, unless it already holds a student of this teacher
    local name="$1"; shift
    local out="checkpoints/$name" run="$STUDENT_RUNS/$name" resume=()
    if of_this_teacher "$out" completed; then say "$out: distilled from this teacher before, kept"; return; fi
    if of_this_teacher "$run" completed; then
      say "$out: finished in $run before"
    else
      if [ -f "$run/training-state.safetensors" ] && of_this_teacher "$run"; then resume=(--resume "$run"); else rm -rf "$run"; fi
      say "$out (training in $run)"
      python scripts/distill.py "$@" --checkpoint-every "$CHECKPOINT_EVERY" --out "$run" "${resume[@]}"
    fi
    mkdir -p "$out"
    cp "$run/model.safetensors" "$run/config.json" "$run/training.json" "$out/"
  }
  export TEACHER_SHA="$(sha256sum checkpoints/teacher/model.safetensors | cut -d' ' -f1)"
  # longest first, so that the last job to start is a short one
  queue distil student "${KD20K[@]}" --alpha 0.9 --alpha-final 0.5
  queue distil student-baseline "${KD20K[@]}" --alpha 0
  queue distil student-6k "${LONG[@]}" --alpha 0.75 --layers 7x7 14x14 pixels
  queue distil student-baseline-6k "${LONG[@]}" --alpha 0
  queue distil student-3k "${RECIPE[@]}" --alpha 0.75 --layers 7x7 14x14 pixels
  queue distil student-original "${RECIPE[@]}" --alpha 0.5 --layers 14x14
  queue distil student-baseline-3k "${RECIPE[@]}" --alpha 0
  wait_all "a student"
fi

if has tables; then
  # Each table is stamped (in runs/tables of this checkout) with what it was made from: every model
  # in checkpoints/, the code in ganlab/ and scripts/, the device and threads, the table's command
  # line, and the sha256 of the file it wrote. Run again after a cut-off, a table whose stamp still
  # matches is kept; a changed model, script, command or output file makes it again.
  mkdir -p runs/tables
  MADE_FROM="$(cat checkpoints/*/model.safetensors ganlab/*.py ganlab/*/*.py scripts/*.py scripts/*.sh | sha256sum | cut -d' ' -f1) $DEVICE $THREADS"
  table() {  # table NAME OUTPUT COMMAND...: run COMMAND (which writes OUTPUT) unless its stamp matches
    local name="$1" output="$2"; shift 2
    local stamp="$MADE_FROM $(echo "$*" | sha256sum | cut -d' ' -f1)"
    if [ -f "$output" ] && [ "$(cat "runs/tables/$name" 2>/dev/null)" = "$stamp $(sha256sum < "$output")" ]; then
      say "$name: made from these models and this code before, kept"; return
    fi
    say "$name"; "$@"; echo "$stamp $(sha256sum < "$output")" > "runs/tables/$name"
  }
  # The recipes of the committed tables (docs/results.md#regenerate); the sweep, hours on CPU, goes
  # last and keeps each trained width in runs/sweep, so a cut-off costs at most one width.
  table evaluate checkpoints/metrics.json python scripts/evaluate.py --threads "$THREADS"
  table ablation checkpoints/ablation.json python scripts/ablation.py --steps 300 --alpha 0.5 --layers 14x14 pixels \
    --lr-g 1e-3 --ema 0.999 --n 3000 --device "$DEVICE" --threads "$THREADS"
  table default-run checkpoints/default-run.json python scripts/default_run.py --threads "$THREADS"
  # bf16 against fp32 on the same noise: faithfulness and FID depend on the weights (speed does not)
  table precision checkpoints/precision.json python scripts/bench_precision.py --threads "$THREADS"
  sweep() {  # sweep ARGS...: each width trains (or is loaded from runs/sweep) JOBS at a time, then one run scores them all
    local width
    for width in 128 64 32 16; do
      queue python scripts/sweep_width.py "$@" --widths "$width" --threads "$JOB_THREADS" --train-only
    done
    wait_all "a sweep width"
    python scripts/sweep_width.py "$@" --threads "$THREADS"
  }
  table sweep checkpoints/sweep.json sweep --steps 3000 --alpha 0.75 --layers 7x7 14x14 pixels --lr-g 1e-3 --ema 0.999 --device "$DEVICE"
  say "results"; python scripts/results.py
fi
say "done"
