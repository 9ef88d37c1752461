"""Run context: honest (host names only group, no label, no cross-run), order-free, online uses the past only."""

import json

import numpy as np
import pytest

from llmad import LlmadError
from llmad.context import COLUMNS, add_context, dag_for
from llmad.data.flowbench import load_dag


@pytest.fixture(scope="module")
def ctx_sample(sample):
    return sample, load_dag("sample")


def _ctx(t, mode, dag):
    return add_context(t, mode, dag)[list(COLUMNS)].to_numpy()


@pytest.mark.parametrize("mode", ["batch", "online"])
def test_invariant_to_host_renaming_row_order_and_labels(ctx_sample, mode):
    t, dag = ctx_sample
    base = _ctx(t, mode, dag)
    assert np.isfinite(base[:, list(COLUMNS).index("ctx_coloc_runtime")]).mean() > 0.5
    hosts = t["kickstart_hostname"].astype(str)
    names = {h: f"node{i:03d}" for i, h in enumerate(sorted(set(hosts), reverse=True))}
    other = t.assign(kickstart_hostname=hosts.map(names), label=1 - t["label"],
                     anomaly_type="cpu_9", run_category="hdd_10").sample(frac=1, random_state=3)
    np.testing.assert_allclose(add_context(other, mode, dag).loc[t.index, list(COLUMNS)].to_numpy(), base,
                               equal_nan=True)


def test_context_never_crosses_runs(ctx_sample):
    t, dag = ctx_sample
    runs = sorted(t["run_id"].astype(str).unique())
    one = t[t["run_id"].astype(str) == runs[0]]
    last = t[t["run_id"].astype(str) == runs[-1]]  # its workers sort after every other run's
    for mode, part in (("batch", one), ("online", one), ("batch", last), ("online", last)):
        alone = _ctx(part, mode, dag)
        together = add_context(t, mode, dag).loc[part.index, list(COLUMNS)].to_numpy()
        # bit for bit: trees can turn a last-bit difference into another split
        np.testing.assert_array_equal(alone, together)
    # the same host name in two runs is two workers: renaming it in one run changes nothing in the other
    two = t[t["run_id"].astype(str).isin(runs[:2])]
    first = two["run_id"].astype(str) == runs[0]
    shared = two.assign(kickstart_hostname=np.where(first, "hostA", two["kickstart_hostname"].astype(str)))
    np.testing.assert_allclose(add_context(shared, "batch", dag).loc[~first, list(COLUMNS)].to_numpy(),
                               add_context(two, "batch", dag).loc[~first, list(COLUMNS)].to_numpy(), equal_nan=True)


def test_online_context_uses_only_jobs_ended_before(ctx_sample):
    t, dag = ctx_sample
    one = t[t["run_id"].astype(str) == sorted(t["run_id"].astype(str).unique())[0]].copy()
    end = one["post_script_end"].to_numpy()
    online = add_context(one, "online", dag)
    # change every job that ended after a chosen job: the chosen job's online context must not move
    i = int(np.argsort(end)[len(end) // 2])
    later = end > end[i]
    assert later.sum() > 10
    changed = one.copy()
    for c in ("runtime", "kickstart_executables_cpu_time", "stage_in_delay", "wms_delay", "queue_delay"):
        changed.loc[later, c] = changed.loc[later, c] * 7.0 + 100
    again = add_context(changed, "online", dag)
    np.testing.assert_allclose(again.iloc[i][list(COLUMNS)].to_numpy(dtype=float),
                               online.iloc[i][list(COLUMNS)].to_numpy(dtype=float), equal_nan=True)
    # while in batch mode the same change does reach it (the test above can fail)
    b0 = add_context(one, "batch", dag).iloc[i][list(COLUMNS)].to_numpy(dtype=float)
    b1 = add_context(changed, "batch", dag).iloc[i][list(COLUMNS)].to_numpy(dtype=float)
    assert not np.allclose(b0, b1, equal_nan=True)
    # the first job to end has no co-located past
    first = int(np.argmin(end))
    assert np.isnan(online.iloc[first]["ctx_coloc_runtime"]) and online.iloc[first]["ctx_coloc_n"] == 0


def test_dag_context_on_the_packaged_sample(ctx_sample):
    t, dag = ctx_sample
    assert dag_for(t) == dag and len(dag) > 100
    c = add_context(t, "batch", dag)
    root = c["job_id"].astype(str) == "create_dir_1000-genome_0_condorpool"
    assert (c.loc[root, "ctx_dag_parents"] == 0).all() and (c.loc[root, "ctx_dag_children"] > 50).all()
    ind = c["job_id"].astype(str).str.startswith("individuals_ID")
    assert (c.loc[ind, "ctx_dag_parents"] == 1).all()
    assert np.isfinite(c.loc[ind, "ctx_dag_parent_runtime"]).all() and (c.loc[ind, "ctx_dag_wait"] >= 0).all()
    no_dag = add_context(t, "batch", None)
    assert no_dag["ctx_dag_parents"].isna().all()


def test_bad_mode_and_missing_columns(sample):
    with pytest.raises(LlmadError, match="unknown context mode"):
        add_context(sample.head(5), "later")
    with pytest.raises(LlmadError, match="lack column"):
        add_context(sample.head(5).drop(columns=["runtime"]))


@pytest.mark.parametrize("mode", ["batch", "online"])
def test_gbdt_with_context_saves_its_dag_and_scores_the_same(sample, tmp_path, mode):
    from llmad import runs
    from llmad.detectors import load_detector

    res = runs.train("flowbench/sample", "gbdt", {"features": "context", "context": mode, "n_estimators": 50},
                     out=tmp_path / "m")
    det = res.detector
    assert det.context_.mode == mode and len(det.context_.dag) > 100
    assert (tmp_path / "m" / "dag.json").is_file()
    doc = json.loads((tmp_path / "m" / "detector.json").read_text())
    assert doc["context"]["mode"] == mode and all(not c.startswith("kickstart_host") for c in doc["state"]["columns"])
    test = res.prepared.parts["test"]
    again = load_detector(tmp_path / "m")
    np.testing.assert_allclose(again.decision_function(test), det.decision_function(test))
    # the same records from a CSV (no loader attrs): the model brings its own DAG
    csv = tmp_path / "jobs.csv"
    test.drop(columns=["label", "run_category"]).to_csv(csv, index=False)
    scored = runs.score(tmp_path / "m", csv)
    np.testing.assert_allclose(scored["score"].to_numpy(), det.decision_function(test), rtol=1e-9)
    (tmp_path / "m" / "dag.json").unlink()
    with pytest.raises(LlmadError, match="dag.json is missing"):
        load_detector(tmp_path / "m")
    m = runs.evaluate(det, res.prepared)
    base = runs.evaluate(runs.train(res.prepared, "gbdt", {"n_estimators": 50}).detector, res.prepared)
    assert m["roc_auc"] > base["roc_auc"]  # on the sample, context helps the trees


def test_limit_keeps_the_context_of_the_whole_part(sample):
    """evaluate --limit scores a sample of the test part; a context detector must still see each sampled job's
    whole run (a sample drawn first would leave most of its co-located jobs out)."""
    from llmad import runs
    from llmad.eval import metrics

    res = runs.train("flowbench/sample", "gbdt", {"features": "context", "context": "batch", "n_estimators": 50})
    det, test = res.detector, res.prepared.part("test")
    full = det.decision_function(test)
    sub = runs.sample_part(det, test, 40, 0)
    ix = test.index.get_indexer(sub.index)
    np.testing.assert_allclose(det.decision_function(sub), full[ix])
    m = runs.evaluate(det, res.prepared, limit=40)
    want = metrics.compute(test["label"].to_numpy()[ix], full[ix], det.threshold_)
    assert m["limit"]["n"] == 40 and m["roc_auc"] == pytest.approx(want.roc_auc)
    # with a perturbation too: the whole part is perturbed, then contextualised, then sampled; named in the metrics
    from llmad.data.logs.perturb import Perturbation

    pm = runs.evaluate(det, res.prepared, limit=40, perturbation=Perturbation("jitter", ratio=0.2, seed=0))
    assert pm["perturbation"].startswith("jitter") and pm["limit"]["n"] == 40
    # context computed on the sample alone differs: the old, wrong path
    alone = sub.drop(columns=list(COLUMNS))
    alone.attrs = {}
    assert not np.allclose(det.decision_function(alone), full[ix])


def test_a_table_marked_with_another_context_is_recomputed(ctx_sample):
    from llmad.context import RunContext

    t, dag = ctx_sample
    batch, online = RunContext("batch", dag), RunContext("online", dag)
    tb = batch.transform(t)
    assert batch.transform(tb) is tb  # already contextualised by this stage
    to = online.transform(tb)  # marked batch, read online: computed again
    np.testing.assert_allclose(to[list(COLUMNS)].to_numpy(), _ctx(t, "online", dag), equal_nan=True)


def test_peer_count_online_counts_only_peers_ended_before(ctx_sample):
    t, dag = ctx_sample
    one = t[t["run_id"].astype(str) == sorted(t["run_id"].astype(str).unique())[0]]
    b, o = add_context(one, "batch", dag), add_context(one, "online", dag)
    tr = one["kickstart_transformations"].astype(str)
    np.testing.assert_array_equal(b["ctx_peer_n"].to_numpy(), tr.map(tr.value_counts()).to_numpy())
    end = one["post_script_end"].to_numpy(dtype=float)
    for i in range(0, len(one), 7):
        same = (tr == tr.iloc[i]).to_numpy()
        assert o["ctx_peer_n"].iloc[i] == (same & (end < end[i])).sum() + 1
    # a job whose median is over itself alone has ratio 1 and says so
    alone = o["ctx_peer_n"] == 1
    assert alone.any() and (o.loc[alone, "ctx_peer_runtime"].dropna() == 1.0).all()


def test_cv_threshold_folds_keep_runs_whole(sample):
    from llmad.detectors import make_detector
    from llmad.detectors.base import _cv_folds

    t = sample.reset_index(drop=True)
    y = t["label"].to_numpy().astype(int)
    run = t["run_id"].astype(str).to_numpy()
    n_runs = len(set(run))
    folds = min(3, n_runs)
    for fit_ix, held_ix in _cv_folds(t, y, folds, 0):
        assert not set(run[fit_ix]) & set(run[held_ix])  # fails with plain stratified folds over jobs
    # the out-of-fold context of a job equals its context in its whole run: each fold holds whole runs
    det = make_detector("gbdt", features="context")
    seen = []
    orig = type(det)._fit

    def spy(self, part, valid, **kw):
        seen.append(part)
        return orig(self, part, valid, **kw)
    type(det)._fit = spy
    try:
        det.fit(t, None, threshold="cv", folds=folds)
    finally:
        type(det)._fit = orig
    whole = add_context(t, "batch", load_dag("sample"))
    for part in seen[:-1]:
        ctx = det._contextual(part)
        key = ctx["run_id"].astype(str) + "|" + ctx["job_id"].astype(str)
        ref = whole.set_index(whole["run_id"].astype(str) + "|" + whole["job_id"].astype(str)).loc[key]
        np.testing.assert_allclose(ctx["ctx_coloc_runtime"].to_numpy(float), ref["ctx_coloc_runtime"].to_numpy(float),
                                   equal_nan=True)


def test_cv_threshold_needs_runs_of_each_class(sample):
    from llmad.detectors import make_detector

    t = sample.reset_index(drop=True)
    share = t.groupby(t["run_id"].astype(str))["label"].mean()
    mixed = share[(share > 0.2) & (share < 0.8)].index[0]  # a run with both classes, well over 2 of each
    one = t[t["run_id"].astype(str) == mixed]
    with pytest.raises(LlmadError, match="folds keep a run whole"):
        make_detector("gbdt").fit(one, None, threshold="cv", folds=2)
