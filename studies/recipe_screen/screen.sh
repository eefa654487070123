#!/bin/bash
# Recipe screen on a 2-core CPU: distil the same student with each hidden-state recipe
# at a small budget, then score every student by zero-shot STS-B (no fine-tuning, no fine-tuning seeds).
# Usage, from the repository root: bash studies/recipe_screen/screen.sh   (STEPS=150 by default)
set -euo pipefail
B=.venv/bin/bertdistil
DATA=${DATA:-../shared/data}
RUNS=${RUNS:-runs/screen}
OUT=results/recipe_screen
STEPS=${STEPS:-150}
ORIG=$(.venv/bin/python -c "from bertdistil.data.shipped import default_teacher; print(default_teacher())")
$B prepare-teacher --quiet --data-dir "$DATA" > $OUT/prepare_teacher.json
PREP=$(.venv/bin/python -c "import json; print(json.load(open('$OUT/prepare_teacher.json'))['dir'])")
COMMON=(--teacher "$PREP" --original-teacher "$ORIG" --data-dir "$DATA" --quiet
        --set distill.max_steps=$STEPS --set distill.eval_every=0 --set distill.log_every=10)
RECIPES=(
  "base56:"
  "base57:distill_seed=57"
  "base58:distill_seed=58"
  "original:loss.hidden_teacher=original"
  "tinybert:loss.alpha_layers_mse=1"
  "pkd:loss.alpha_pkd=10"
  "minilm:loss.alpha_attn=1 loss.alpha_value_rel=1"
  "combo:loss.hidden_teacher=original loss.alpha_layers_mse=1 loss.alpha_attn=1 loss.alpha_value_rel=1"
)
MODELS=(teacher_original="$ORIG" teacher="$PREP" truncated="$RUNS/base56/student_init")
for r in "${RECIPES[@]}"; do
  name=${r%%:*}; sets=()
  for s in ${r#*:}; do sets+=(--set "$s"); done
  echo "$(date +%T) distil $name ${r#*:}"
  $B distill "${COMMON[@]}" "${sets[@]}" --out "$RUNS/$name"
  mkdir -p $OUT/$name && cp "$RUNS/$name/runs/student/summary.json" $OUT/$name/summary.json
  MODELS+=("$name=$RUNS/$name/student")
done
$B zero-shot --data-dir "$DATA" --models "${MODELS[@]}" --out $OUT/zero_shot.json
