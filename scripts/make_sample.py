"""Build the packaged Flow-Bench sample (src/llmad/resources/flowbench/sample.zip) from the full data.

Takes 8 runs of each run category of 1000genome (seeded), copies their CSVs byte for byte, and the
part of the DAG file. Usage: LLMAD_DATA_DIR=../shared/data python scripts/make_sample.py
"""

import json
import random
import zipfile
from pathlib import Path

from llmad.data.flowbench import load_workflow, locate
from llmad.paths import packaged_dir

PER_CATEGORY = 8

table = load_workflow("1000genome")
runs = table.groupby("run_id", observed=True)["run_category"].first().astype(str)
rng = random.Random(0)
chosen = []
for cat in sorted(runs.unique()):
    ids = sorted(runs[runs == cat].index.astype(str))
    chosen += rng.sample(ids, min(PER_CATEGORY, len(ids)))
src = locate("1000genome")
dst = packaged_dir() / "flowbench"
dst.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(src.zip_path) as zin, zipfile.ZipFile(dst / "sample.zip", "w", zipfile.ZIP_DEFLATED) as zout:
    for m in sorted(zin.namelist()):
        if Path(m).stem in chosen:
            zout.writestr(m, zin.read(m))
(dst / "sample_dag.json").write_text(json.dumps(json.loads(src.dag_path.read_text())))
print(f"{len(chosen)} runs -> {dst / 'sample.zip'}")
