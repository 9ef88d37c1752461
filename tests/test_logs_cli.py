import json

import pytest

from logs_common import _private_cache, logs_dir, needs_logs  # noqa: F401
from test_cli import assert_clean_error, llmad


@needs_logs
def test_data_stats_logs_bgl():
    st = json.loads(llmad("data", "stats", "logs/bgl", "--json").stdout)
    assert st["split"] == "chrono" and st["lines"] == 7001 and st["quarantined"] == 0
    parts = {p["part"]: p for p in st["parts"]}
    assert parts["train"]["windows"] == 5600 and parts["test"]["anomalous_windows"] == 43
    w = json.loads(llmad("data", "stats", "logs/bgl", "--grouping", "fixed", "--window", "20", "--json").stdout)
    assert sum(p["windows"] for p in w["parts"]) == 280 + 35 + 36
    assert st["text"]["mode"] == "masked" and not st["text"]["given"]
    r = llmad("data", "stats", "logs/thunderbird")
    assert "text a model reads: ids (this dataset's default" in " ".join(r.stdout.split())


@needs_logs
def test_train_evaluate_detect_tfidf_on_logs(tmp_path):
    model = tmp_path / "m"
    llmad("train", "logs/bgl", "--detector", "tfidf", "--out", model)
    files = {p.name for p in model.iterdir()}
    assert files == {"detector.json", "tfidf_vocabulary.json", "tfidf.safetensors", "seen.json"}  # no pickle
    seen = json.loads((model / "seen.json").read_text())["parts"]  # the chrono split's line ranges, per file
    assert seen == {"train": {"lines": {"BGL_2k.log": [[1, 599]], "BGL_5000.log": [[1, 5001]]}},
                    "valid": {"lines": {"BGL_2k.log": [[600, 1299]]}}}
    info = json.loads((model / "detector.json").read_text())["run"]
    assert info["split"] == "chrono" and info["log_options"]["grouping"] is None
    m = json.loads(llmad("evaluate", model, "--json").stdout)
    assert m["split"] == "chrono" and not m["leaky"] and m["n"] == 701 and m["n_anomalous"] == 43
    assert m["roc_auc"] > 0.8 and "before windowing" in m["protocol"]
    out = tmp_path / "scores.jsonl"
    mj = tmp_path / "metrics.json"
    r = llmad("detect", model, logs_dir() / "bgl/BGL_2k.log", "--out", out, "--grouping", "fixed", "--window", "20",
              "--metrics-json", mj)
    assert "scored 100 windows" in r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["first_line"], x["last_line"]) for x in rows[:2]] == [(1, 20), (21, 40)]
    assert rows[-1]["last_line"] == 2000 and {"score", "label", "n_lines", "true_label"} <= rows[0].keys()
    # BGL_2k.log is where the model's training and validation lines came from: detect says how much of it
    n_train = sum(x["first_line"] <= 599 for x in rows)
    n_valid = sum(599 < x["first_line"] <= 1299 for x in rows)
    assert (n_train, n_valid) == (30, 35)
    assert [x["seen"] for x in rows] == ["train"] * 30 + ["valid"] * 35 + [None] * 35  # each window says which part
    # the metrics on the 35 windows it has not seen are printed apart, and are those of these windows alone
    from sklearn.metrics import roc_auc_score

    fresh = rows[65:]
    unseen = json.loads(mj.read_text())["unseen"]
    assert unseen["n"] == 35 and unseen["n_anomalous"] == sum(x["true_label"] for x in fresh)
    if 0 < unseen["n_anomalous"] < 35:
        assert unseen["roc_auc"] == pytest.approx(roc_auc_score([x["true_label"] for x in fresh],
                                                                [x["score"] for x in fresh]))
    assert "not seen in training or validation" in " ".join(r.stderr.split())
    assert (f"{n_train} of 100 windows (in BGL_2k.log) were in the model's training part; {n_valid} of 100 windows "
            "(in BGL_2k.log) were in the model's validation part") in " ".join(r.stderr.split())
    # unstable logs: the test part rewritten by a named, seeded perturbation; same call, same figure
    p1 = json.loads(llmad("evaluate", model, "--perturb", "insert_words:0.3:1", "--json").stdout)
    p2 = json.loads(llmad("evaluate", model, "--perturb", "insert_words:0.3:1", "--json").stdout)
    assert p1["perturbation"] == "insert_words@0.3/seed1" and p1["roc_auc"] == p2["roc_auc"] and p1["n"] == 701
    assert_clean_error(llmad("evaluate", model, "--perturb", "insert_words:0.3", "--part", "valid", check=False),
                       "test part only")
    assert_clean_error(llmad("evaluate", model, "--perturb", "jumble:0.1", check=False), "unknown perturbation")


@needs_logs
def test_detect_hdfs_sessions_on_raw_file(tmp_path):
    model = tmp_path / "h"
    llmad("train", "logs/hdfs-2k", "--detector", "tfidf", "--out", model)
    out = tmp_path / "s.jsonl"
    llmad("detect", model, logs_dir() / "hdfs/HDFS_2k.log", "--out", out)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 2200 and all(r["session"].startswith("blk_") for r in rows)
    assert all(1 <= r["first_line"] <= r["last_line"] <= 2000 for r in rows)


@needs_logs
def test_user_log_file_and_bad_format_errors(tmp_path):
    src = logs_dir() / "thunderbird/thunderbird_20051115_slice.log"
    f = tmp_path / "tb.log"
    f.write_bytes(b"".join(open(src, "rb").readlines()[8000:12000]) + b"\xff broken line\n")
    st = json.loads(llmad("data", "stats", f"logs:{f}", "--format", "thunderbird", "--json").stdout)
    # the bad line is listed twice: bad encoding (kept) and no format match (dropped)
    assert st["quarantined"] == 2 and st["dropped_lines"] == 1 and st["lines"] == 4000
    assert st["sources"][0]["quarantine_file"].endswith("tb.log.quarantine.tsv")
    r = llmad("data", "stats", f"logs:{f}", "--format", "<Label> <Timestamp", check=False)
    assert_clean_error(r, "column 9: '<' is not closed by '>'")
    r = llmad("train", f"logs:{f}", "--format", "<Label> <Label> <Content>", "--detector", "tfidf",
              "--out", tmp_path / "x", check=False)
    assert_clean_error(r, "field <Label> appears twice")
    r = llmad("data", "stats", f"logs:{f}", check=False)
    assert_clean_error(r, "give its line format with --format")
    r = llmad("train", "logs/bgl", "--split", "run", "--detector", "tfidf", "--out", tmp_path / "y", check=False)
    assert_clean_error(r, "use --split chrono")


@needs_logs
def test_tfidf_tune_from_the_command_line(tmp_path):
    model = tmp_path / "m"
    r = llmad("train", "logs/thunderbird", "--detector", "tfidf", "--tune", "valid", "--out", model)
    doc = json.loads((model / "detector.json").read_text())
    picked = doc["state"]["tuned"]["picked"]
    assert doc["config"]["tune"] == "valid" and {k: doc["config"][k] for k in picked} == picked
    assert len(doc["state"]["tuned"]["grid"]) == 48 and "saved tfidf" in r.stderr
    m = json.loads(llmad("evaluate", model, "--json").stdout)
    assert m["n"] == 194 and m["roc_auc"] > 0.95
    bad = llmad("train", "logs/thunderbird", "--detector", "tfidf", "--tune", "valid", "--threshold", "cv",
                "--out", tmp_path / "cv", check=False)
    assert_clean_error(bad, "use --threshold valid")
