"""Typed configurations, the run API, and models saved by llmad 0.1.0."""

import json
from pathlib import Path

import numpy as np
import pytest

from llmad import LlmadError, runs
from llmad.config import from_dict, help_of, replace, to_dict
from llmad.data.splits import split
from llmad.detectors import load_detector
from llmad.detectors.configs import GBDTConfig, SFTConfig, TfidfConfig
from llmad.models.configs import AdapterConfig, TrainConfig

FIXTURES = Path(__file__).parent / "fixtures" / "llmad-0.1.0"


def test_nested_partial_dicts_and_kind_strings():
    c = from_dict(SFTConfig, {"adapter": "reft", "train": {"epochs": 1}})
    assert c.adapter == AdapterConfig(kind="reft") and c.train.epochs == 1 and c.train.batch_size == 32
    c2 = from_dict(SFTConfig, {"adapter": {"kind": "lora", "lora": {"r": 4}}})
    assert c2.adapter.lora.r == 4 and c2.adapter.lora.alpha == 32
    assert from_dict(SFTConfig, json.loads(json.dumps(to_dict(c2)))) == c2
    c3 = from_dict(SFTConfig, {"adapter": {"kind": "reft", "reft": {"layers": [0, 2]}}})
    assert c3.adapter.reft.layers == (0, 2)
    with pytest.raises(LlmadError, match=r"SFTConfig.train: unknown setting\(s\) \['epoch'\]; valid: epochs"):
        from_dict(SFTConfig, {"train": {"epoch": 1}}, "SFTConfig")
    with pytest.raises(LlmadError, match="unknown adapter 'prefix'"):
        from_dict(SFTConfig, {"adapter": "prefix"})


def test_types_and_choices_are_checked():
    with pytest.raises(LlmadError, match=r"seed: expected int, got '3'"):
        from_dict(GBDTConfig, {"seed": "3"})
    with pytest.raises(LlmadError, match="expected int, got True"):
        from_dict(GBDTConfig, {"n_estimators": True})
    assert from_dict(TrainConfig, {"epochs": 2}).epochs == 2  # an int is a valid float
    with pytest.raises(LlmadError, match="balance must be one of weights, oversample, none"):
        from_dict(TrainConfig, {"balance": "smote"})
    with pytest.raises(LlmadError, match="template must be one of"):
        TfidfConfig(template="nope")
    with pytest.raises(dataclasses_frozen_error()):
        GBDTConfig().seed = 3  # frozen
    assert replace(GBDTConfig(), seed=3).seed == 3


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_cli_help_takes_defaults_from_the_configs():
    assert "(default: 300)" in help_of(GBDTConfig, "n_estimators")
    assert help_of(SFTConfig, "max_length").endswith("(default: 128)")
    from test_cli import llmad

    text = " ".join(llmad("train", "--help", env={"COLUMNS": "250"}).stdout.replace("│", " ").split())
    assert "(default: 128)" in text and "(default: 3.0)" in text


@pytest.mark.parametrize("name", ["gbdt", "tfidf-deciles"])
def test_models_saved_by_0_1_0_still_load(sample, name):
    det = load_detector(FIXTURES / name)
    want = json.loads((FIXTURES / "scores.json").read_text())[name]
    rows = split(sample, "run", seed=0)["test"].iloc[:50]
    np.testing.assert_allclose(det.decision_function(rows), want, rtol=1e-9)
    assert det.run_["dataset"] == "flowbench/sample" and "dataset" not in det.info_
    m = runs.evaluate(det)
    assert m["dataset"] == "flowbench/sample" and m["split"] == "run"


def test_newer_schema_is_refused(tmp_path):
    (tmp_path / "detector.json").write_text(json.dumps({"format": "llmad.detector", "schema": 99, "detector": "gbdt"}))
    with pytest.raises(LlmadError, match="schema 99.*upgrade llmad"):
        load_detector(tmp_path)


def test_incomplete_folder_is_a_clear_error(tmp_path):
    res = runs.train("flowbench/sample", "gbdt", {"n_estimators": 5}, out=tmp_path / "m")
    (tmp_path / "m" / "gbdt.txt").unlink()
    with pytest.raises(LlmadError, match="incomplete model folder, gbdt.txt is missing"):
        load_detector(tmp_path / "m")
    assert res.run["command"] is None and res.run["n_train"] > 0


def test_run_api_train_evaluate_score(tmp_path, sample):
    res = runs.train("flowbench/sample", "tfidf", {"template": "compact"}, seed=1, out=tmp_path / "t")
    assert res.detector.config.seed == 1 and res.prepared.split == "run"
    m = runs.evaluate(tmp_path / "t")
    assert m["seed"] == 1 and m["n"] == len(res.prepared.parts["test"])
    # the same evaluation on the detector object, the saved folder, and a prepared dataset
    assert runs.evaluate(res.detector, res.prepared)["f1"] == m["f1"]
    valid = runs.evaluate(tmp_path / "t", part="valid")
    assert valid["part"] == "valid" and valid["n"] == len(res.prepared.parts["valid"])
    csv = tmp_path / "jobs.csv"
    sample.head(20).drop(columns=["label", "run_category"]).to_csv(csv, index=False)
    scored = runs.score(tmp_path / "t", csv)
    # the first 20 jobs are normal, written as Flow-Bench writes them (anomaly_type None): a labelled file
    # the sample's first run is in this split's train or validation part: each row says which
    assert list(scored.columns) == ["id", "run", "score", "label", "seen", "true_label"] and len(scored) == 20
    run = str(sample["run_id"].iloc[0])
    part = next(p for p in ("train", "valid", "test") if run in set(res.prepared.part(p)["run_id"].astype(str)))
    assert set(scored["seen"]) == {part} and part != "test"
    assert (scored["run"] == sample.head(20)["run_id"].astype(str).to_numpy()).all()  # the CSV's run_id
    assert (scored["true_label"] == 0).all() and (sample.head(20)["label"] == 0).all()
    assert "true_label" not in runs.score(res.detector, sample.head(20)).columns  # a DataFrame: never labels
    np.testing.assert_allclose(scored["score"], runs.score(res.detector, sample.head(20))["score"])
    with pytest.raises(LlmadError, match="log options .* do not apply"):
        runs.prepare("flowbench/sample", log_options={"format": "hdfs"})
    with pytest.raises(LlmadError, match="checkpoints are for"):
        runs.train(res.prepared, "gbdt", checkpoint_dir=tmp_path / "ck")


def test_cli_config_file(tmp_path):
    from test_cli import llmad

    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"n_estimators": 7, "num_leaves": 4}))
    llmad("train", "flowbench/sample", "--config", cfg, "--out", tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "detector.json").read_text())["config"]
    assert saved["n_estimators"] == 7 and saved["num_leaves"] == 4
    cfg.write_text(json.dumps({"n_trees": 7}))
    r = llmad("train", "flowbench/sample", "--config", cfg, "--out", tmp_path / "x", check=False)
    assert r.returncode == 2 and "unknown setting(s) ['n_trees']; valid: features, context, target, seed" in r.stderr
