#!/usr/bin/env bash
# What limits the language model with run context on 1000genome (seed 0, run split, batch context)?
#   text:     LightGBM on the codes the `context` template writes (what the LM reads) vs on the raw context
#   data:     LightGBM on those codes with the LM's cap of 8,000 training jobs; the LM on all training jobs
#             (2 epochs, and 4: another 49 min on the 2026-12-04 machine)
#   capacity: the LM with full fine-tuning, and with all six layers, at the same cap
#   steps:    a small workflow trained for 2 epochs (400 steps) vs 10 epochs (2,000 steps)
#   overlap:  the LM on all training jobs averaged with LightGBM on the raw context (llmad ensemble)
# The LM rows use today's default pooling (mean since 2026-12-02); the README's [CLS] rows were measured before.
# Usage: LLMAD_DATA_DIR=../shared/data bash benchmarks/context_lm_limits.sh [OUT]  (≈ 20 min on 2 CPU cores
# of an earlier machine; the all-jobs LM alone took 24 min on the 2026-12-04 one)
set -euo pipefail
OUT=${1:-runs/context-limits}
mkdir -p "$OUT"
python benchmarks/flowbench_ceiling.py --kinds context,context-codes 1000genome montage > "$OUT/gbdt_codes_all.jsonl"
python benchmarks/flowbench_ceiling.py --kinds context,context-codes --max-train 8000 1000genome montage > "$OUT/gbdt_codes_8000.jsonl"
common=(flowbench/1000genome --seed 0 --detector sft --template context --context batch --max-length 32 --epochs 2 --batch-size 32)
run() {  # name, extra options
  local name=$1; shift
  [ -f "$OUT/$name/eval.json" ] && return 0
  llmad train "${common[@]}" "$@" --out "$OUT/$name"
  llmad evaluate "$OUT/$name" --json > "$OUT/$name/eval.json"
}
run l3-lora-8000 --backbone minilm-l3 --adapter lora --max-train 8000
run l3-lora-all --backbone minilm-l3 --adapter lora --max-train 40000
run l3-lora-all-4ep --backbone minilm-l3 --adapter lora --max-train 40000 --epochs 4  # the last --epochs wins
run l3-full-8000 --backbone minilm-l3 --adapter full --max-train 8000
run l6-lora-8000 --backbone minilm --adapter lora --max-train 8000
# steps: a small workflow (eht_smili, 6,400 training jobs) gets 400 steps from 2 epochs; 10 epochs make 2,000
common=(flowbench/eht_smili --seed 0 --detector sft --template context --context batch --max-length 32 --batch-size 32)
run smili-l3-lora-2ep --backbone minilm-l3 --adapter lora --max-train 8000 --epochs 2
run smili-l3-lora-10ep --backbone minilm-l3 --adapter lora --max-train 8000 --epochs 10
if [ ! -f "$OUT/ens-l3-all-gbdt-ctx/eval.json" ]; then
  llmad train flowbench/1000genome --seed 0 --detector gbdt --features context --context batch --out "$OUT/gbdt-ctx"
  llmad ensemble "$OUT/l3-lora-all" "$OUT/gbdt-ctx" --out "$OUT/ens-l3-all-gbdt-ctx"
  llmad evaluate "$OUT/ens-l3-all-gbdt-ctx" --json > "$OUT/ens-l3-all-gbdt-ctx/eval.json"
fi
if [ ! -f "$OUT/ens-l3-all-4ep-gbdt-ctx/eval.json" ]; then
  llmad ensemble "$OUT/l3-lora-all-4ep" "$OUT/gbdt-ctx" --out "$OUT/ens-l3-all-4ep-gbdt-ctx"
  llmad evaluate "$OUT/ens-l3-all-4ep-gbdt-ctx" --json > "$OUT/ens-l3-all-4ep-gbdt-ctx/eval.json"
fi
# seeds 1 and 2 of the 4-epoch LM on every training job, each beside GBDT + context on the same seed (another run
# split each) and their ensemble: about 30-55 minutes of training a seed on two cores
for seed in 1 2; do
  d="$OUT/seed$seed"
  [ -f "$d/ens4/eval.json" ] && continue
  llmad train flowbench/1000genome --seed $seed --detector sft --template context --context batch --max-length 32 \
    --batch-size 32 --backbone minilm-l3 --adapter lora --epochs 4 --out "$d/lm4"
  llmad evaluate "$d/lm4" --json > "$d/lm4/eval.json"
  llmad train flowbench/1000genome --seed $seed --detector gbdt --features context --context batch --out "$d/gbdt"
  llmad evaluate "$d/gbdt" --json > "$d/gbdt/eval.json"
  llmad ensemble "$d/lm4" "$d/gbdt" --out "$d/ens4"
  llmad evaluate "$d/ens4" --json > "$d/ens4/eval.json"
done
for f in "$OUT"/*/eval.json "$OUT"/seed*/*/eval.json; do
  python -c "import json,sys; m=json.load(open(sys.argv[1])); print('/'.join(sys.argv[1].split('/')[-3:-1]), 'F1 %.3f ROC-AUC %.3f' % (m['f1'], m['roc_auc']))" "$f"
done
cat "$OUT"/gbdt_codes_*.jsonl
