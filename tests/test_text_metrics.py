import numpy as np
import pandas as pd
import pytest

from llmad import LlmadError
from llmad.data.flowbench import PAPER_FEATURES
from llmad.eval.metrics import best_f1_threshold, compute
from llmad.text import render


def test_paper_template_known_row():
    row = {"wms_delay": 6.0, "queue_delay": 20.0, "runtime": 1022.0, "post_script_delay": 5.0,
           "stage_in_delay": 64.0, "stage_out_delay": 4.0, "stage_in_bytes": 1014283276.0,
           "stage_out_bytes": 387809.0, "kickstart_executables_cpu_time": 934.6}
    t = pd.DataFrame([row, {**row, "post_script_delay": np.nan, "runtime": 771.8}])
    s = render(t, "paper")
    assert s[0] == ("wms_delay is 6.0 queue_delay is 20.0 runtime is 1022.0 post_script_delay is 5.0 "
                    "stage_in_delay is 64.0 stage_out_delay is 4.0 stage_in_bytes is 1014283276.0 "
                    "stage_out_bytes is 387809.0 kickstart_executables_cpu_time is 934.6 ")
    assert "runtime is 771.8 post_script_delay is nan " in s[1]


def test_paper_template_matches_pandas_printing(sample):
    # the published code formats each cell of a float64 DataFrame row: f"{col} is {row[col]} "
    sub = sample.head(50)
    expected = ["".join(f"{c} is {r[c]} " for c in PAPER_FEATURES) for _, r in sub[list(PAPER_FEATURES)].iterrows()]
    assert render(sub, "paper") == expected


def test_own_templates(sample):
    sub = sample.head(20)
    r = render(sub, "readable")
    assert "runtime" in r[0] and "stage-in" in r[0] and "_" not in r[0]
    c = render(sub, "readable-peers")
    assert "vs peers" in c[0]
    assert len(c[0]) < len(render(sub, "paper")[0]) * 1.2
    with pytest.raises(LlmadError, match="unknown template"):
        render(sub, "nope")


def test_compact_template_numbers():
    import pandas as pd

    from llmad.text.records import _short

    assert _short(1014.3, "s") == "1010" and _short(5.4, "s") == "5" and _short(123456, "s") == "123000"
    assert _short(1.01e9, "B") == "1.0g" and _short(388_000, "B") == "388k" and _short(12, "B") == "12"
    assert _short(float("nan"), "s") == "-"
    row = {c: 10.0 for c in PAPER_FEATURES}
    t = pd.DataFrame([{**row, "runtime": 100.0}, {**row, "runtime": 300.0}, {**row, "runtime": 200.0}])
    t["run_id"], t["kickstart_transformations"] = "r1", "pegasus::transfer"
    out = render(t, "compact")
    # runtime relative to the median (200) of the same transformation in the same run
    assert out[0].startswith("transfer wms 10 queue 10 run 100 ") and out[0].endswith("peers 50 100")
    assert out[1].endswith("peers 150 100")


def test_compact_template_is_short(sample):
    sub = sample.head(200)
    compact, paper = render(sub, "compact"), render(sub, "paper")
    assert sum(map(len, compact)) < sum(map(len, paper)) / 2


def test_metrics_hand_computed():
    y = np.array([1, 1, 0, 0, 1, 0])
    s = np.array([0.9, 0.4, 0.35, 0.1, 0.8, 0.7])
    m = compute(y, s, threshold=0.5)
    # predictions 1,0,0,0,1,1 -> tp 2, fp 1, fn 1, tn 2
    assert m.confusion == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}
    assert m.precision == pytest.approx(2 / 3) and m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 / 3) and m.accuracy == pytest.approx(4 / 6)
    # ROC-AUC: of 9 (pos, neg) pairs, pos ranked higher in 8 (0.4 < 0.7)
    assert m.roc_auc == pytest.approx(8 / 9)
    # AP: ranks 0.9(+) 0.8(+) 0.7(-) 0.4(+) -> (1 + 1 + 3/4) / 3
    assert m.pr_auc == pytest.approx((1 + 1 + 0.75) / 3)
    assert m.n == 6 and m.n_anomalous == 3


def test_best_threshold_on_validation():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.2, 0.6, 0.7, 0.3, 0.65])
    t = best_f1_threshold(y, s)
    assert 0.3 < t <= 0.6
    assert compute(y, s, t).f1 == 1.0


def test_deciles_template_is_fitted_on_train_only(sample):
    import json

    from llmad.data.splits import split
    from llmad.text import fit_template, needs_fit

    parts = split(sample, "run", seed=0)
    assert needs_fit("deciles") and not needs_fit("compact")
    with pytest.raises(LlmadError, match="needs the state"):
        render(parts["test"], "deciles")
    state = fit_template("deciles", parts["train"])
    assert json.loads(json.dumps(state)) == state and state["n_fit"] == len(parts["train"])
    texts = render(parts["test"], "deciles", state)
    assert len(texts) == len(parts["test"])
    codes = [t.split()[:11] for t in texts]
    assert all(c == "-" or 0 <= int(c) <= 9 for row in codes for c in row)
    assert all(len(t.split()) == 12 for t in texts)  # 11 fields, then the transformation
    # the state depends on the train part only: refitting with test rows changed changes nothing
    again = fit_template("deciles", parts["train"])
    assert again == state
    # per transformation: a job at its transformation's training maximum runtime is in the top decile
    tr = parts["train"]
    ind = tr[tr["kickstart_transformations"].astype(str) == "individuals"]
    top = ind.loc[[ind["runtime"].idxmax()]]
    assert render(top, "deciles", state)[0].split()[2] == "9"
    # a transformation never seen in training falls back to the global edges; missing values read '-'
    odd = top.copy()
    odd["kickstart_transformations"] = "brand_new"
    odd["stage_in_delay"] = np.nan
    out = render(odd, "deciles", state)[0].split()
    assert out[-1] == "brand_new" and out[4] == "-"


def test_deciles_with_a_detector_saves_its_state(sample, tmp_path):
    from llmad.data.splits import split
    from llmad.detectors import load_detector, make_detector

    parts = split(sample, "run", seed=0)
    det = make_detector("tfidf", template="deciles").fit(parts["train"], parts["valid"])
    assert det.text_.state["n_fit"] == len(parts["train"])
    det.save(tmp_path / "m")
    again = load_detector(tmp_path / "m")
    np.testing.assert_allclose(again.decision_function(parts["test"]), det.decision_function(parts["test"]))


def test_evaluate_reports_an_oracle_beside_the_validation_threshold():
    """The oracle (best F1 on the test part itself) is reported, labelled, and never chooses the threshold:
    changing the test labels moves the oracle and the metrics, never the threshold."""
    from dataclasses import replace

    from llmad import runs

    res = runs.train("flowbench/sample", "gbdt", {"n_estimators": 30})
    det, prep = res.detector, res.prepared
    m = runs.evaluate(det, prep)
    assert m["threshold"] == det.threshold_
    assert m["oracle"]["f1"] >= m["f1"] and "not a valid estimate" in m["oracle"]["note"]
    test = prep.parts["test"]
    flipped = test.assign(label=np.where(np.arange(len(test)) % 3 == 0, 1 - test["label"], test["label"]))
    other = replace(prep, parts={**prep.parts, "test": flipped})
    m2 = runs.evaluate(det, other)
    assert m2["threshold"] == m["threshold"] and m2["oracle"]["threshold"] != m["oracle"]["threshold"]
    assert m2["f1"] != m["f1"]


def test_context_percentiles_keep_what_deciles_round_away(sample):
    """context-percentiles: the context template's fields as percentile codes (0-99, one MiniLM token each),
    fitted on the train part only, the same for any renaming of hosts and any row order."""
    import json

    from llmad.context import add_context
    from llmad.data.flowbench import load_dag
    from llmad.data.splits import split
    from llmad.text import fit_template, needs_fit
    from llmad.text.records import CONTEXT_FIELDS

    dag = load_dag("sample")
    parts = {k: add_context(p, "batch", dag) for k, p in split(sample, "run", seed=0).items()}
    assert needs_fit("context-percentiles")
    state = fit_template("context-percentiles", parts["train"])
    assert json.loads(json.dumps(state)) == state and state["deciles"] == 100
    texts = render(parts["test"], "context-percentiles", state)
    codes = np.array([[-1 if c == "-" else int(c) for c in t.split()[:-1]] for t in texts])
    assert codes.shape == (len(parts["test"]), len(CONTEXT_FIELDS)) and codes.max() <= 99
    deciles = np.array([[-1 if c == "-" else int(c) for c in t.split()[:-1]]
                        for t in render(parts["test"], "context", fit_template("context", parts["train"]))])
    assert ((codes < 0) == (deciles < 0)).all()  # the same fields, missing in the same places
    assert len(np.unique(codes[codes >= 0])) > 50 > len(np.unique(deciles[deciles >= 0]))
    # within a transformation both codes rise with the value: the finer ones only split the coarser bins
    tr = np.array([t.split()[-1] for t in texts])
    for j, field in enumerate(CONTEXT_FIELDS):
        v = parts["test"][field].to_numpy(float)
        for name in set(tr):
            ok = (tr == name) & np.isfinite(v)
            order = np.argsort(v[ok], kind="stable")
            assert (np.diff(codes[ok, j][order]) >= 0).all() and (np.diff(deciles[ok, j][order]) >= 0).all()
    # hosts only group jobs: renaming them and shuffling rows gives each job the same text
    hosts = sample["kickstart_hostname"].astype(str)
    renamed = sample.assign(kickstart_hostname=hosts.map({h: f"w{i}" for i, h in enumerate(sorted(set(hosts)))}))
    test2 = add_context(split(renamed, "run", seed=0)["test"].sample(frac=1, random_state=1), "batch", dag)
    again = dict(zip(test2.index, render(test2, "context-percentiles", state)))
    assert [again[i] for i in parts["test"].index] == texts
    with pytest.raises(LlmadError, match="not 100"):
        render(parts["test"], "context-percentiles", fit_template("context", parts["train"]))
    with pytest.raises(LlmadError, match="100 bins, not 10"):  # and the other way round
        render(parts["test"], "context", state)


def test_context_digits_are_the_percentile_codes_in_two_digits(sample):
    from llmad.context import add_context
    from llmad.data.flowbench import load_dag
    from llmad.data.splits import split
    from llmad.text import fit_template, needs_fit
    from llmad.text.records import CONTEXT_FIELDS

    dag = load_dag("sample")
    parts = {k: add_context(p, "batch", dag) for k, p in split(sample, "run", seed=0).items()}
    assert needs_fit("context-digits")
    state = fit_template("context-digits", parts["train"])
    assert state == fit_template("context-percentiles", parts["train"])  # the same edges, written differently
    digits = render(parts["test"], "context-digits", state)
    codes = render(parts["test"], "context-percentiles", state)
    n = len(CONTEXT_FIELDS)
    seen = set()
    for d, c in zip(digits, codes):
        dt, ct = d.split(), c.split()
        assert len(dt) == 2 * n + 1 and dt[-1] == ct[-1]  # two tokens a field, then the transformation
        for j in range(n):
            tens, ones = dt[2 * j], dt[2 * j + 1]
            if ct[j] == "-":
                assert (tens, ones) == ("-", "-")
            else:
                assert tens.isdigit() and ones.isdigit() and 10 * int(tens) + int(ones) == int(ct[j])
                seen.add(int(ct[j]))
    assert any(v < 10 for v in seen) and any(v >= 10 for v in seen)  # both a leading 0 and two real digits met
    with pytest.raises(LlmadError, match="not 100"):
        render(parts["test"], "context-digits", fit_template("context", parts["train"]))


def test_context_percentiles_global_code_every_job_on_one_scale(sample):
    from llmad.context import add_context
    from llmad.data.flowbench import load_dag
    from llmad.data.splits import split
    from llmad.text import fit_template
    from llmad.text.records import CONTEXT_FIELDS

    dag = load_dag("sample")
    parts = {k: add_context(p, "batch", dag) for k, p in split(sample, "run", seed=0).items()}
    state = fit_template("context-percentiles-global", parts["train"])
    assert state["by_transformation"] == {} and state["deciles"] == 100
    texts = render(parts["test"], "context-percentiles-global", state)
    codes = np.array([[-1 if c == "-" else int(c) for c in t.split()[:-1]] for t in texts])
    per = render(parts["test"], "context-percentiles", fit_template("context-percentiles", parts["train"]))
    assert [t.split()[-1] for t in texts] == [t.split()[-1] for t in per]  # the transformation still ends each text
    assert texts != per
    for j, field in enumerate(CONTEXT_FIELDS):  # across every transformation at once, codes rise with the value
        v = parts["test"][field].to_numpy(float)
        ok = np.isfinite(v)
        order = np.argsort(v[ok], kind="stable")
        assert (np.diff(codes[ok, j][order]) >= 0).all()
        assert ((codes[:, j] < 0) == ~ok).all()
    with pytest.raises(LlmadError, match="per-transformation"):
        render(parts["test"], "context-percentiles-global", fit_template("context-percentiles", parts["train"]))


@pytest.mark.parametrize("template", ["context-percentiles", "context-digits", "context-percentiles-global"])
def test_context_percentiles_with_a_detector_round_trip(sample, tmp_path, template):
    from llmad import runs
    from llmad.detectors import load_detector

    prep = runs.prepare("flowbench/sample")
    det = runs.train(prep, "tfidf", {"template": template}, out=tmp_path / "m").detector
    assert det.context_ is not None and det.text_.state["deciles"] == 100
    test = prep.part("test")
    np.testing.assert_allclose(load_detector(tmp_path / "m").decision_function(test), det.decision_function(test))
