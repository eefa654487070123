#!/bin/bash
# Second recipe screen (after screen.sh): a student that starts from, and is pulled towards, the ORIGINAL
# teacher's layers. Same budget (STEPS=150) and seed as screen.sh's base56.
# Usage, from the repository root: bash studies/recipe_screen/screen2.sh   (writes into results/recipe_screen/)
#   headonly: teacher prepared with teacher_head_only (MLM head fitted, encoder untouched), paper recipe
#   orig_init: the same student initialisation as headonly (original encoder layers + the fitted head),
#              hidden-state targets from the original, soft targets from the (adapted) prepared teacher
set -euo pipefail
B=.venv/bin/bertdistil
DATA=${DATA:-../shared/data}
RUNS=${RUNS:-runs/screen}
OUT=results/recipe_screen
STEPS=${STEPS:-150}
ORIG=$(.venv/bin/python -c "from bertdistil.data.shipped import default_teacher; print(default_teacher())")
PREP=$(.venv/bin/python -c "import json; print(json.load(open('$OUT/prepare_teacher.json'))['dir'])")
COMMON=(--data-dir "$DATA" --quiet --set distill.max_steps=$STEPS --set distill.eval_every=0 --set distill.log_every=10)
echo "$(date +%T) prepare head-only teacher"
$B prepare-teacher --quiet --data-dir "$DATA" --set teacher_head_only=true > $OUT/prepare_teacher_head_only.json
HEAD=$(.venv/bin/python -c "import json; print(json.load(open('$OUT/prepare_teacher_head_only.json'))['dir'])")
echo "$(date +%T) distil headonly"
$B distill --teacher "$HEAD" "${COMMON[@]}" --out "$RUNS/headonly" > /dev/null
echo "$(date +%T) distil orig_init"
$B distill --teacher "$PREP" --original-teacher "$ORIG" --student "$RUNS/headonly/student_init" "${COMMON[@]}" \
  --set loss.hidden_teacher=original --out "$RUNS/orig_init" > /dev/null
for n in headonly orig_init; do
  mkdir -p $OUT/$n && cp "$RUNS/$n/runs/student/summary.json" $OUT/$n/summary.json
done
$B zero-shot --data-dir "$DATA" --models teacher_head_only="$HEAD" truncated_original="$RUNS/headonly/student_init" \
  headonly="$RUNS/headonly/student" orig_init="$RUNS/orig_init/student" --out $OUT/zero_shot2.json
echo "$(date +%T) done"
