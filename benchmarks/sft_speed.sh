#!/usr/bin/env bash
# Speed and peak memory of every adapter on the packaged sample, int8 against a plain transformers
# pipeline, measured side by side in one run. JSON lands in runs/bench/sft_speed.json.
set -euo pipefail
llmad bench --adapters head,lora,reft,full --n-train 512 --n-infer 2000 --out runs/bench/sft_speed.json "$@"
