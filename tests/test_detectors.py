import numpy as np
import pytest

from llmad import LlmadError
from llmad.data.splits import split
from llmad.detectors import load_detector, make_detector


@pytest.fixture(scope="module")
def parts(sample):
    return split(sample, "run", seed=0)


@pytest.mark.parametrize("name", ["gbdt", "iforest"])
def test_fit_save_load_same_scores(parts, tmp_path, name):
    det = make_detector(name, seed=0, n_estimators=50).fit(parts["train"], parts["valid"])
    s = det.decision_function(parts["test"])
    assert det.threshold_ is not None and det.info_["threshold_from"] == "valid"
    det.save(tmp_path / name)
    assert not list((tmp_path / name).glob("*.pkl"))
    again = load_detector(tmp_path / name)
    np.testing.assert_allclose(again.decision_function(parts["test"]), s)
    assert again.threshold_ == det.threshold_
    p = again.predict_proba(parts["test"])
    assert p.shape == (len(parts["test"]), 2) and np.allclose(p.sum(1), 1)
    assert set(np.unique(again.predict(parts["test"]))) <= {0, 1}


def test_gbdt_beats_chance(parts):
    from llmad.eval.metrics import compute

    det = make_detector("gbdt", seed=0).fit(parts["train"], parts["valid"])
    m = compute(parts["test"]["label"], det.decision_function(parts["test"]), det.threshold_)
    assert m.roc_auc > 0.7


def test_unknown_detector_and_unfitted(tmp_path):
    with pytest.raises(LlmadError, match="unknown detector"):
        make_detector("nope")
    with pytest.raises(LlmadError, match="not a saved llmad detector"):
        load_detector(tmp_path)
