#!/bin/bash
# Learning-curve study on a GPU machine: distil at three budgets, fine-tune with 3 seeds.
# Usage on the GPU machine, from the repository root, with this file staged as .gpu/study.sh beside the teacher
# (.gpu/teacher16) and the data (.gpu/data.tar.xz): bash .gpu/study.sh start|wait SECONDS
# The collected JSON files are results/learning_curve/budgets/ (see results/learning_curve/README.md).
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
S=/tmp/study; mkdir -p $S/logs
collect() {
  (cd $S && find runs -name '*.json' -not -path '*/student*/*' -not -path '*/controls/*' -not -name 'config.json' \
     | tar czf $OUT/study_json.tar.gz -T - logs 2>/dev/null)
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
  tail -n 3 $S/logs/*.log
}
if [ "$1" = start ]; then
  python3 - <<'P'
import shutil, torch
from pathlib import Path
from safetensors.torch import load_file, save_file
src, dst = Path('.gpu/teacher16'), Path('/tmp/teacher')
shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns('model.fp16.safetensors'))
save_file({k: v.float() for k, v in load_file(src / 'model.fp16.safetensors').items()}, dst / 'model.safetensors')
print(torch.__version__, torch.cuda.get_device_name(0))
P
  mkdir -p /tmp/data && tar xJf .gpu/data.tar.xz -C /tmp/data
  python3 -c "import transformers, tokenizers, sklearn, scipy; print(transformers.__version__, tokenizers.__version__)"
  COMMON=(--teacher /tmp/teacher --data-dir /tmp/data --quiet)
  python3 -m bertdistil prepare-teacher "${COMMON[@]}" > $S/logs/prep.log 2>&1 || { tail -30 $S/logs/prep.log; exit 1; }
  tail -5 $S/logs/prep.log
  SETS=(--set 'controls=["truncated","mlm_only"]' --set finetune.seeds=[1,2,3] --set finetune.max_train_examples=0
        --set 'finetune.task_max_train_examples={"SST-2":10000}' --set finetune.max_eval_examples=0
        --set finetune.extra_tasks=[] --set finetune.squad=false --set bench=null --set compress=null
        --set train_bench=null --set distill.checkpoint_every=500 --set distill.eval_every=500 --set distill.log_every=50)
  for steps in 340 1400 3500; do
    models='["teacher","teacher_original","truncated","mlm_only","student","student_d"]'
    [ $steps != 340 ] && models='["mlm_only","student"]'
    setsid nohup python3 -m bertdistil reproduce "${COMMON[@]}" "${SETS[@]}" --set distill.max_steps=$steps \
      --set "finetune.models=$models" --out $S/runs/b$steps > $S/logs/b$steps.log 2>&1 < /dev/null &
  done
  sleep 5
fi
end=${2:-60}   # seconds since the script started
while [ $SECONDS -lt $end ] && pgrep -f "bertdistil reproduce" > /dev/null; do sleep 15; done
collect
pgrep -f "bertdistil reproduce" > /dev/null && echo STILL_RUNNING || echo ALL_DONE
