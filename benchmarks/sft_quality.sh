#!/usr/bin/env bash
# Quality of the fine-tuned MiniLM detectors on three Flow-Bench workflows (run split, seed 0,
# threshold = max F1 on validation, metrics on the test part), one `llmad train` + `llmad evaluate`
# per line. Results: runs/quality/<name>/eval.json and one JSONL summary.
#   usage: LLMAD_DATA_DIR=../shared/data bash benchmarks/sft_quality.sh [max_train_compact] [max_train_paper]
set -euo pipefail
MAX_COMPACT="${1:-20000}"
MAX_PAPER="${2:-10000}"
OUT=runs/quality
mkdir -p "$OUT"
run() {  # name dataset args...
  local name=$1 ds=$2; shift 2
  if [ -f "$OUT/$name/eval.json" ]; then echo "skip $name"; return; fi
  local t0=$(date +%s)
  llmad train "$ds" --detector sft --seed 0 --epochs 1 --out "$OUT/$name" "$@"
  llmad evaluate "$OUT/$name" --json > "$OUT/$name/eval.json"
  python - "$OUT/$name" "$name" "$(( $(date +%s) - t0 ))" "llmad train $ds --detector sft --seed 0 --epochs 1 $*" <<'PY' >> "$OUT/summary.jsonl"
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
for adapter in lora reft; do
  run "1000genome-$adapter-compact" flowbench/1000genome --adapter "$adapter" --template compact
done
for wf in montage predict_future_sales; do
  for adapter in lora reft; do
    run "$wf-$adapter-compact" "flowbench/$wf" --adapter "$adapter" --template compact --max-train "$MAX_COMPACT"
  done
done
for wf in 1000genome montage predict_future_sales; do
  for adapter in lora reft; do
    run "$wf-$adapter-paper" "flowbench/$wf" --adapter "$adapter" --template paper --max-length 128 --max-train "$MAX_PAPER"
  done
done
