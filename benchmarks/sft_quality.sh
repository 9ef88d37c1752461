#!/usr/bin/env bash
# Quality of the fine-tuned MiniLM detectors on three Flow-Bench workflows (run split, seed 0,
# threshold = max F1 on validation, metrics on the test part), one `llmad train` + `llmad evaluate`
# per line, next to the gradient-boosted baseline. Results: runs/quality/<name>/eval.json and one JSONL
# summary (`python benchmarks/summarise.py runs/quality` prints the table).
#   usage: LLMAD_DATA_DIR=../shared/data bash benchmarks/sft_quality.sh [max_train_deciles] [max_train_paper]
#   (L3_ADAPTERS="lora" or "" limits the three-layer block; PAPER=0 skips the paper-template block)
set -euo pipefail
MAX_DECILES="${1:-40000}"
MAX_PAPER="${2:-4000}"
OUT="${OUT:-runs/quality}"
mkdir -p "$OUT"
run() {  # name dataset args...
  local name=$1 ds=$2; shift 2
  if [ -f "$OUT/$name/eval.json" ]; then echo "skip $name"; return; fi
  local t0=$(date +%s)
  llmad train "$ds" --seed 0 --out "$OUT/$name" "$@"
  llmad evaluate "$OUT/$name" --json > "$OUT/$name/eval.json"
  python - "$OUT/$name" "$name" "$(( $(date +%s) - t0 ))" "llmad train $ds --seed 0 $*" <<'PY' >> "$OUT/summary.jsonl"
import json, sys
d, name, secs, cmd = sys.argv[1:]
m = json.load(open(f"{d}/eval.json"))
info = json.load(open(f"{d}/detector.json")).get("info", {})
tr = info.get("training", {})
print(json.dumps({"name": name, "command": cmd, "f1": m["f1"], "roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"],
                  "n_test": m["n"], "n_train_used": info.get("n_train_used"),
                  "train_samples_per_s": tr.get("train_samples_per_s"), "wall_seconds": int(secs),
                  "inference_engine": info.get("inference_engine")}))
PY
  tail -1 "$OUT/summary.jsonl"
}
for wf in 1000genome montage predict_future_sales; do
  run "$wf-gbdt" "flowbench/$wf" --detector gbdt
  for adapter in lora reft; do
    run "$wf-$adapter-deciles" "flowbench/$wf" --detector sft --backbone minilm --adapter "$adapter" --template deciles \
      --max-length 32 --epochs 1 --max-train "$MAX_DECILES"
  done
done
# the first 3 of MiniLM's 6 layers (= --backbone minilm-l3), 3 epochs: about the cost of one epoch of the full model
for adapter in ${L3_ADAPTERS-lora reft}; do
  for wf in 1000genome montage predict_future_sales; do
    run "$wf-$adapter-deciles-l3-e3" "flowbench/$wf" --detector sft --backbone minilm --adapter "$adapter" --template deciles \
      --max-length 32 --layers 3 --epochs 3 --max-train "$MAX_DECILES"
  done
done
if [ "${PAPER:-1}" = 1 ]; then
  for wf in 1000genome montage predict_future_sales; do
    for adapter in lora reft; do
      run "$wf-$adapter-paper" "flowbench/$wf" --detector sft --backbone minilm --adapter "$adapter" --template paper \
        --max-length 128 --epochs 1 --max-train "$MAX_PAPER"
    done
  done
fi
