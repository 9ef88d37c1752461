"""Window text modes (masked, counts, templates, template-counts, ids, id-counts), TF-IDF weighting options, and how
thresholds are chosen (never from test labels)."""

import numpy as np
import pandas as pd
import pytest
from logs_common import _private_cache, needs_logs  # noqa: F401

from llmad import LlmadError
from llmad.data.logs.text import MODES, TextConfig, distinct_counts, render
from llmad.text.layer import WindowText, load_text_layer

WINDOW = ["open <*>", "read <*> bytes", "read <*> bytes", "close <*>", "read <*> bytes", "open <*>"]


def _table(windows, labels=None):
    t = pd.DataFrame({"messages": windows, "label": labels if labels is not None else [0] * len(windows)})
    return t


def test_distinct_counts_keep_first_appearance_order():
    assert distinct_counts(["a", "b", "a", "c", "a"]) == ["a (x3)", "b", "c"]
    assert distinct_counts([]) == []


def test_each_text_mode_on_a_known_window(tmp_path):
    train = _table([WINDOW, ["open <*>", "write <*> bytes", "close <*>"]])
    texts = {}
    for mode in MODES:
        layer = WindowText(mode).fit(train)
        texts[mode] = layer.transform(_table([WINDOW]))[0]
        # the saved layer reads the window the same way
        layer.save(tmp_path)
        again = load_text_layer(layer.to_dict(), tmp_path)
        assert again.transform(_table([WINDOW]))[0] == texts[mode]
    assert texts["masked"] == "open <*> | read <*> bytes (x2) | close <*> | read <*> bytes | open <*>"
    assert texts["counts"] == "open <*> (x2) | read <*> bytes (x3) | close <*>"
    # these messages are their own templates: the template modes give the same words
    assert texts["templates"] == texts["masked"]
    assert texts["template-counts"] == texts["counts"]
    ids = texts["ids"].split(" ")
    assert len(ids) == len(WINDOW)  # never collapsed: a bag of words over it is the event-count vector
    assert ids[0] == ids[-1] and ids[1] == ids[2] == ids[4] and len(set(ids)) == 3
    assert all(i.startswith("E") and i != "E0" for i in ids)
    # the same event-count vector, written out: each id once, first-appearance order, with its count
    assert texts["id-counts"] == f"{ids[0]} 2 {ids[1]} 3 {ids[3]} 1"


def test_ids_mark_a_template_unseen_in_training():
    layer = WindowText("ids").fit(_table([["open <*>", "close <*>"]]))
    got = layer.transform(_table([["open <*>", "kernel panic: fatal machine check"]]))[0].split(" ")
    assert got[0] != "E0" and got[1] == "E0"


def test_counts_fit_a_budget_the_sequence_overflows():
    window = ["Receiving block <*> src: <*> dest: <*>"] * 3 + ["PacketResponder <*> for block <*> terminating",
                                                               "Received block <*> of size <*> from <*>"] * 3
    seq, _ = render(window, TextConfig("masked"))
    cnt, _ = render(window, TextConfig("counts"))
    assert len(cnt) < len(seq) / 2
    assert "PacketResponder <*> for block <*> terminating (x3)" in cnt
    cut, was_cut = render(window, TextConfig("masked", max_chars=60))
    assert was_cut and len(cut) == 60


def test_unknown_text_mode_is_refused():
    with pytest.raises(LlmadError, match="unknown log text mode 'bag'"):
        TextConfig("bag")


def test_tfidf_raw_counts_without_idf_save_and_load(tmp_path):
    from llmad.detectors import load_detector, make_detector

    rng = np.random.default_rng(0)
    normal = [["open <*>", "read <*> bytes", "close <*>"] * int(k) for k in rng.integers(1, 4, 40)]
    bad = [["open <*>", "read <*> bytes", "read <*> bytes", "read <*> bytes", "read <*> bytes", "error <*>"]
           for _ in range(10)]
    t = _table(normal + bad, [0] * 40 + [1] * 10)
    t.attrs = {"logs": {"text": {"mode": "ids"}}}
    det = make_detector("tfidf", tf="raw", idf=False, class_weight="none").fit(t, t)
    assert det.text_.config.mode == "ids"
    det.save(tmp_path / "m")
    again = load_detector(tmp_path / "m")
    np.testing.assert_allclose(again.decision_function(t), det.decision_function(t))
    assert again.config.tf == "raw" and again.config.idf is False


def _shuffled_test_labels(prep):
    from dataclasses import replace

    test = prep.parts["test"].copy()
    test["label"] = np.random.default_rng(1).permutation(test["label"].to_numpy())
    test["label"] = 1 - test["label"]
    return replace(prep, parts={**prep.parts, "test": test})


@needs_logs
@pytest.mark.parametrize("rule", ["valid", "cv"])
def test_threshold_never_reads_test_labels(rule):
    """Permuting and flipping every test label must not move the threshold (nor the scores)."""
    from llmad import runs

    prep = runs.prepare("logs/thunderbird")
    a = runs.train(prep, "tfidf", threshold=rule, threshold_folds=3).detector
    b = runs.train(_shuffled_test_labels(prep), "tfidf", threshold=rule, threshold_folds=3).detector
    assert a.threshold_ == b.threshold_
    assert a.info_["threshold_from"].startswith(rule)
    np.testing.assert_allclose(a.decision_function(prep.part("test")), b.decision_function(prep.part("test")))
    m = runs.evaluate(a, prep)
    assert m["threshold"] == a.threshold_ and "oracle" in m["oracle"]["note"]
    assert rule in m["protocol"]


@needs_logs
def test_cv_threshold_comes_from_out_of_fold_scores():
    from llmad import runs
    from llmad.eval.metrics import best_f1_threshold

    prep = runs.prepare("logs/thunderbird")
    det = runs.train(prep, "tfidf", threshold="cv", threshold_folds=3).detector
    y, s = det._cv_scores(*det._cv_plan(prep.part("train"), prep.part("valid"), 3), {})
    assert len(y) == len(prep.part("train")) + len(prep.part("valid"))
    assert det.threshold_ == best_f1_threshold(y, s)
    from llmad.eval.metrics import compute

    assert det.info_["cv"]["oof_f1"] == round(compute(y, s, det.threshold_).f1, 6)
    assert det.info_["cv"]["stop_epoch"] is None  # TF-IDF does not early-stop
    # the final model is the one fitted on train: same scores as a valid-threshold fit
    ref = runs.train(prep, "tfidf").detector
    np.testing.assert_allclose(det.decision_function(prep.part("test")), ref.decision_function(prep.part("test")))


def test_cv_threshold_needs_enough_of_each_class():
    from llmad.detectors import make_detector

    t = _table([["a <*>"]] * 10 + [["b <*>"]] * 2, [0] * 10 + [1] * 2)
    with pytest.raises(LlmadError, match="needs at least 5 records of each class"):
        make_detector("tfidf").fit(t, None, threshold="cv")
    with pytest.raises(LlmadError, match="unknown threshold rule"):
        make_detector("tfidf").fit(t, None, threshold="test")


@needs_logs
def test_text_flag_is_saved_with_the_model(tmp_path):
    import json

    from test_cli import assert_clean_error, llmad

    llmad("train", "logs/thunderbird", "--detector", "tfidf", "--text", "template-counts", "--threshold", "cv",
          "--threshold-folds", "3", "--out", tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "detector.json").read_text())
    assert doc["text"]["mode"] == "template-counts" and doc["run"]["log_options"]["text"] == "template-counts"
    assert doc["state"]["threshold_from"].startswith("cv (3 folds")
    assert (tmp_path / "m" / "templates.json").is_file()
    m = json.loads(llmad("evaluate", tmp_path / "m", "--json").stdout)
    assert "threshold from cv (3 folds" in m["protocol"]
    r = llmad("train", "logs/thunderbird", "--text", "bag", "--detector", "tfidf", "--out", tmp_path / "x",
              check=False)
    assert_clean_error(r, "unknown log text mode 'bag'")


@needs_logs
def test_fields_are_written_before_each_message_and_never_the_label(tmp_path):
    import json

    from test_cli import assert_clean_error, llmad

    from llmad.data.logs import LogOptions, load

    w = load("bgl", LogOptions(fields="Component,Level"))
    plain = load("bgl")
    first = w["messages"].iloc[0][0]
    assert first.split(" ")[:2] == ["KERNEL", "INFO"] and first.endswith(plain["messages"].iloc[0][0])
    assert {m[0].split(" ")[1] for m in w.loc[w["label"] == 1, "messages"]} == {"FATAL"}
    with pytest.raises(LlmadError, match="cannot include Label"):
        load("bgl", LogOptions(fields="Label"))
    with pytest.raises(LlmadError, match="no field 'Pid'"):
        load("bgl", LogOptions(fields="Pid"))
    with pytest.raises(LlmadError, match="pre-parsed"):
        load("hdfs", LogOptions(fields="Level"))
    # saved with the model: detect on a raw file reads the same fields
    llmad("train", "logs/bgl", "--detector", "tfidf", "--fields", "Component,Level", "--out", tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "detector.json").read_text())
    assert doc["run"]["log_options"]["fields"] == "Component,Level"
    vocab = json.loads((tmp_path / "m" / "tfidf_vocabulary.json").read_text())
    assert "fatal" in vocab and "kernel fatal" in vocab
    out = tmp_path / "s.jsonl"
    from logs_common import logs_dir

    r = llmad("detect", tmp_path / "m", logs_dir() / "bgl/BGL_2k.log", "--out", out)
    assert "scored 2000 windows" in r.stderr and "F1" in r.stderr  # <Label> gives the metrics
    assert_clean_error(llmad("data", "stats", "logs/bgl", "--fields", "Label", check=False), "cannot include Label")


@needs_logs
def test_default_text_is_per_dataset_and_saved_resolved(tmp_path):
    import json

    from test_cli import llmad

    from llmad import runs
    from llmad.data.logs import LogOptions, load

    # measured best per slice: template ids on HDFS sessions and Thunderbird windows; BGL lines stay masked
    # (their test alerts are templates unseen in training); a given --text always wins
    assert load("thunderbird").attrs["logs"]["text"]["mode"] == "ids"
    assert load("bgl").attrs["logs"]["text"]["mode"] == "masked"
    assert load("thunderbird", LogOptions(text="counts")).attrs["logs"]["text"]["mode"] == "counts"
    hdfs = runs.prepare("logs/hdfs").table
    assert hdfs.attrs["logs"]["text"]["mode"] == "ids" and not hdfs.attrs["logs"]["text"]["given"]
    assert set(hdfs["text"].head(50).str.contains("<*>", regex=False)) == {True}  # the column stays masked
    # a model prompted in words (icl) reads the messages unless ids were asked for
    assert WindowText.for_table(hdfs).config.mode == "ids"
    assert WindowText.for_table(hdfs, words=True).config.mode == "masked"
    asked = load("thunderbird", LogOptions(text="ids"))
    assert WindowText.for_table(asked, words=True).config.mode == "ids"
    # a model trained on the default records the mode it read, so evaluate / detect never depend on a default
    llmad("train", "logs/thunderbird", "--detector", "tfidf", "--out", tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "detector.json").read_text())
    assert doc["text"]["mode"] == "ids" and doc["run"]["log_options"]["text"] == "ids"
    from llmad.detectors.base import load_detector

    texts = load_detector(tmp_path / "m")._texts(load("thunderbird").head(3))
    assert all(set(t.replace(" ", "")) <= set("E0123456789|x()") for t in texts), texts


@needs_logs
def test_tfidf_tune_picks_its_setting_from_validation_alone(tmp_path):
    """--tune valid: 48 settings fitted on train, the rule applied to the validation table, the pick saved as the
    config; permuting and flipping every test label changes nothing; the saved model scores the same."""
    from llmad import runs
    from llmad.detectors import load_detector
    from llmad.detectors.text_baseline import GRID

    prep = runs.prepare("logs/thunderbird")
    a = runs.train(prep, "tfidf", {"tune": "valid"}).detector
    tuned = a.info_["tuned"]
    assert len(tuned["grid"]) == len(GRID) == 48 and tuned["valid_anomalous"] > 0
    key = [(-r["valid_f1"], r["valid_log_loss"], i) for i, r in enumerate(tuned["grid"])]
    best = tuned["grid"][min(key)[2]]
    assert tuned["picked"] == {k: best[k] for k in ("tf", "class_weight", "C", "ngram_max")}
    assert {k: getattr(a.config, k) for k in tuned["picked"]} == tuned["picked"] and a.config.tune == "valid"
    # the rows are what each setting does on validation: refitting the picked one alone gives the same figures
    alone = runs.train(prep, "tfidf", {**tuned["picked"]}).detector
    yv, sv = prep.part("valid")["label"].to_numpy(), alone.decision_function(prep.part("valid"))
    from llmad.detectors.text_baseline import log_loss

    assert abs(log_loss(yv, sv) - best["valid_log_loss"]) < 1e-9
    np.testing.assert_allclose(alone.decision_function(prep.part("test")), a.decision_function(prep.part("test")))
    b = runs.train(_shuffled_test_labels(prep), "tfidf", {"tune": "valid"}).detector
    assert b.info_["tuned"] == tuned and b.threshold_ == a.threshold_
    a.save(tmp_path / "m")
    again = load_detector(tmp_path / "m")
    assert again.config == a.config and again.info_["tuned"]["picked"] == tuned["picked"]
    np.testing.assert_allclose(again.decision_function(prep.part("test")), a.decision_function(prep.part("test")))


def test_tfidf_tune_needs_a_validation_part_with_both_classes():
    from llmad.detectors import make_detector

    t = _table([["open <*>", "close <*>"]] * 6 + [["open <*>", "error <*>"]] * 6, [0] * 6 + [1] * 6)
    t.attrs = {"logs": {"text": {"mode": "masked"}}}
    det = make_detector("tfidf", tune="valid")
    with pytest.raises(LlmadError, match="validation part, which needs records of both classes"):
        det.fit(t, t[t["label"] == 0])
    with pytest.raises(LlmadError, match="use --threshold valid"):
        make_detector("tfidf", tune="valid").fit(t, t, threshold="cv", folds=2)
    # a validation part that tells the settings apart: the tuned model is one of the grid's and flags the error
    det = make_detector("tfidf", tune="valid").fit(t, t)
    assert det.info_["tuned"]["grid"][0]["valid_f1"] == 1.0 and det.predict(t).tolist() == [0] * 6 + [1] * 6


@needs_logs
def test_cv_threshold_folds_by_text_keep_each_text_in_one_fold():
    """--threshold-groups text: no text is both fitted and held in a fold (so the out-of-fold scores are of texts
    the fold copy never read), the classes stay stratified, and the model saves what its folds kept whole; the
    groups are refused without the cv threshold, on job records (folded by run) and when a class has too few
    texts."""
    from llmad import runs
    from llmad.detectors import make_detector
    from llmad.detectors.base import _cv_folds

    prep = runs.prepare("logs/bgl")
    pool = pd.concat([prep.part("train"), prep.part("valid")], ignore_index=True)
    y = pool["label"].to_numpy().astype(int)
    text = pool["text"].to_numpy()
    plain = list(_cv_folds(pool, y, 3, 0))
    assert any(set(text[f]) & set(text[h]) for f, h in plain)  # shuffled folds share texts
    held = np.zeros(len(pool), int)
    for f, h in _cv_folds(pool, y, 3, 0, "text"):
        assert not set(text[f]) & set(text[h]) and y[h].sum() > 0 and y[f].sum() > 0
        held[h] += 1
    assert (held == 1).all()
    det = runs.train(prep, "tfidf", threshold="cv", threshold_folds=3, threshold_groups="text").detector
    assert det.info_["cv"]["groups"] == "text" and "folds grouped by text" in det.info_["threshold_from"]
    assert det.run_["threshold_groups"] == "text"
    y2, s = det._cv_scores(*det._cv_plan(prep.part("train"), prep.part("valid"), 3, "text"), {})
    from llmad.eval.metrics import best_f1_threshold

    assert det.threshold_ == best_f1_threshold(y2, s)
    t = _table([["a <*>"], ["c <*>"]] * 5 + [["b <*>"]] * 6, [0] * 10 + [1] * 6)
    t["text"] = t["messages"].str[0]
    with pytest.raises(LlmadError, match="there are 2 texts with normal and 1 with anomalous records"):
        make_detector("tfidf").fit(t, None, threshold="cv", folds=2, groups="text")
    with pytest.raises(LlmadError, match="with threshold='cv'"):
        make_detector("tfidf").fit(t, t, groups="text")
    with pytest.raises(LlmadError, match="unknown cv threshold groups"):
        make_detector("tfidf").fit(t, None, threshold="cv", groups="run")
    with pytest.raises(LlmadError, match="words:N"):
        make_detector("tfidf").fit(t, None, threshold="cv", groups="words:0")
    # words:N: the windows whose texts begin with the same N words share a fold (a family of messages)
    start = pool["text"].map(lambda s: " ".join(s.split()[:2])).to_numpy()
    assert len(set(start)) < len(set(text))
    for f, h in _cv_folds(pool, y, 3, 0, "words:2"):
        assert not set(start[f]) & set(start[h])
    with pytest.raises(LlmadError, match=r"there are 2 families of texts \(the same first 1 words\) with normal and 1"):
        make_detector("tfidf").fit(t, None, threshold="cv", folds=2, groups="words:1")
    with pytest.raises(LlmadError, match="already folded by run"):
        _cv_folds(t.assign(run_id="r"), t["label"].to_numpy(), 2, 0, "text")
    with pytest.raises(LlmadError, match="need the records' text"):
        _cv_folds(t.drop(columns="text"), t["label"].to_numpy(), 2, 0, "text")
