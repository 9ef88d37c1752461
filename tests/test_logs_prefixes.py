"""Training on normal sessions cut at a random moment of their life (``--train-prefixes``)."""

import json

import numpy as np
import pandas as pd
import pytest
from logs_common import _private_cache, needs_logs  # noqa: F401
from test_cli import assert_clean_error, llmad

from llmad import LlmadError, runs
from llmad.data.logs.prefixes import add_normal_prefixes


def _sessions() -> pd.DataFrame:
    rows = [  # (label, times): two normal lives, one anomaly, one normal logged at a single moment
        (0, [0.0, 1.0, 100.0, 101.0]),
        (0, [5.0, 6.0, 7.0, 500.0, 900.0]),
        (1, [0.0, 50.0, 60.0]),
        (0, [3.0, 3.0]),
    ]
    return pd.DataFrame({
        "window_id": [10, 11, 12, 13], "part": "train", "session": ["a", "b", "c", "d"],
        "label": [r[0] for r in rows], "times": [r[1] for r in rows],
        "messages": [[f"{s} line {i}" for i in range(len(r[1]))] for s, r in zip("abcd", rows)],
        "n_lines": [len(r[1]) for r in rows], "end": [max(r[1]) for r in rows], "text": "t"})


def test_only_normal_sessions_are_cut_by_time_and_the_originals_stay():
    train = _sessions()
    out, info = add_normal_prefixes(train, 1.0, seed=0)
    assert info["eligible"] == 2 and info["added"] == 2  # the anomaly and the one-moment session are not cut
    assert out.iloc[:4][["window_id", "label", "n_lines"]].equals(train[["window_id", "label", "n_lines"]])
    assert (out["prefix_of"].iloc[:4] == -1).all()
    copies = out.iloc[4:]
    assert sorted(copies["prefix_of"]) == [10, 11] and (copies["label"] == 0).all()
    assert len(set(out["window_id"])) == len(out)
    for _, c in copies.iterrows():
        orig = train.set_index("window_id").loc[c["prefix_of"]]
        moment = max(c["times"])
        want = [m for m, t in zip(orig["messages"], orig["times"]) if t <= moment]
        assert c["messages"] == want and c["n_lines"] == len(want) < len(orig["messages"])
        assert c["end"] == moment and c["text"] == " | ".join(want)


def test_the_cut_is_seeded():
    train = _sessions()
    a, _ = add_normal_prefixes(train, 1.0, seed=3)
    b, _ = add_normal_prefixes(train, 1.0, seed=3)
    assert a["messages"].tolist() == b["messages"].tolist()
    cuts = {tuple(len(m) for m in add_normal_prefixes(train, 1.0, seed=s)[0]["messages"].iloc[4:])
            for s in range(20)}
    assert len(cuts) > 1  # another seed draws other moments
    half, info = add_normal_prefixes(train, 0.5, seed=0)
    assert info["added"] == 1 and len(half) == 5


def test_bad_share_and_windows_without_a_session_life_are_refused():
    with pytest.raises(LlmadError, match=r"\(0, 1\]"):
        add_normal_prefixes(_sessions(), 0.0, seed=0)
    with pytest.raises(LlmadError, match="session windows"):
        add_normal_prefixes(_sessions().drop(columns="times"), 0.5, seed=0)


@needs_logs
def test_train_prefixes_through_the_run_api_touches_only_the_train_part():
    prep = runs.prepare("logs/hdfs-2k")
    train = prep.part("train")
    assert "times" in train.columns and all(len(t) == len(m) for t, m in zip(train["times"], train["messages"]))
    res = runs.train(prep, "tfidf", train_prefixes=0.5, seed=0)
    pf = res.detector.run_["train_prefixes"]
    normals = int((train["label"] == 0).sum())
    assert 0 < pf["eligible"] <= normals and pf["added"] == round(0.5 * pf["eligible"])
    assert res.detector.run_["n_train"] == len(train) + pf["added"]
    assert len(prep.part("train")) == len(train)  # the prepared split itself is left as it was
    with pytest.raises(LlmadError, match="cv threshold"):
        runs.train(prep, "tfidf", train_prefixes=0.5, threshold="cv")
    with pytest.raises(LlmadError, match="Flow-Bench"):
        runs.train("flowbench/sample", "gbdt", train_prefixes=0.5)


@needs_logs
def test_train_prefixes_on_the_command_line(tmp_path):
    r = llmad("train", "logs/hdfs-2k", "--detector", "tfidf", "--train-prefixes", "0.5", "--out", tmp_path / "m")
    run = json.loads((tmp_path / "m" / "detector.json").read_text())["run"]
    assert f"trained on {run['train_prefixes']['added']:,} cut copies" in r.stderr
    r = llmad("train", "logs/bgl", "--detector", "tfidf", "--train-prefixes", "0.5", "--out", tmp_path / "b",
              check=False)
    assert_clean_error(r, "session windows")
    assert not (tmp_path / "b").exists()


def test_times_follow_the_session_lines():
    from llmad.data.logs.grouping import session_windows

    lines = pd.DataFrame({"line": [1, 2, 3, 4], "source": "f", "message": ["a", "b", "c", "d"],
                          "label": [0, 0, 0, 0], "time": [10.0, 11.0, 12.0, 40.0],
                          "sessions": [["x"], ["y"], ["x"], ["x", "y"]]})
    w, _ = session_windows(lines, split=False)
    got = dict(zip(w["session"], w["times"]))
    assert got == {"x": [10.0, 12.0, 40.0], "y": [11.0, 40.0]}
    assert np.allclose(w["end"], [40.0, 40.0])
