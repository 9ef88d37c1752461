#!/usr/bin/env bash
# Speed and peak memory of every adapter on the packaged sample, int8 against a plain transformers
# pipeline, measured side by side in one run; then the same for the three-layer MiniLM.
# JSON lands in runs/bench/default.json and runs/bench/layers3.json (the README's speed table).
set -euo pipefail
llmad bench --backbone minilm --out runs/bench/default.json "$@"
llmad bench --backbone minilm --adapters lora,reft --layers 3 --out runs/bench/layers3.json "$@"
