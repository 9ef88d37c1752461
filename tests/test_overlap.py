"""What a model has seen (:mod:`llmad.overlap`): the keys saved at training time and the match on new data."""

import numpy as np
import pandas as pd
from logs_common import logs_dir, needs_logs

from llmad import overlap, runs


def test_line_ranges_merge_and_match_windows_that_touch_them():
    assert overlap._intervals(np.array([5, 1, 3, 20]), np.array([6, 2, 4, 25])) == [[1, 6], [20, 25]]
    lines = {"a.log": [[1, 6], [20, 25]]}
    scored = pd.DataFrame({"source": ["a.log", "a.log", "a.log", "b.log", "x|a.log", "dir/a.log"],
                           "first_line": [7, 5, 26, 1, 19, 30], "last_line": [19, 8, 40, 3, 20, 31]})
    # 7-19 falls between the ranges; 5-8 and 19-20 touch one (a window over two files is matched by either);
    # the same name under another folder is the same file as the dataset names it
    assert overlap._in_lines(scored, lines).tolist() == [False, True, False, False, True, False]


def test_a_part_keeps_run_ids_sessions_or_line_ranges():
    jobs = pd.DataFrame({"run_id": ["r2", "r1", "r2"], "x": [1, 2, 3]})
    assert overlap._part_keys(jobs) == {"runs": ["r1", "r2"]}  # no job_id / ready: no job keys
    sess = pd.DataFrame({"session": ["b", "a", None], "source": "s", "first_line": 1, "last_line": 1})
    assert overlap._part_keys(sess) == {"sessions": ["a", "b"]}
    win = pd.DataFrame({"session": None, "source": ["f", "f", "g|f"], "first_line": [1, 3, 1], "last_line": [2, 9, 1]})
    assert overlap._part_keys(win) == {"lines": {"f": [[1, 9]]}}
    # a user's file keeps no line ranges: a rotated 'syslog' holds other lines under the same name tomorrow
    doc = overlap.record("logs:/var/log/syslog", "chrono", 0, {"train": win, "valid": win})
    assert doc["parts"] == {"train": {}, "valid": {}}
    assert overlap.record("logs/bgl", "chrono", 0, {"train": win})["parts"]["train"] == {"lines": {"f": [[1, 9]]}}


@needs_logs
def test_hdfs_sessions_of_the_training_part_are_named_on_a_raw_file(tmp_path):
    """HDFS_2k.log and the dataset's sessions come from one cluster: the blocks the model trained on are found by
    their ids, and only those (the check reads the saved record, not the dataset)."""
    res = runs.train("logs/hdfs", "tfidf", out=tmp_path / "m")
    prep = res.prepared
    scored = runs.score(tmp_path / "m", logs_dir() / "hdfs" / "HDFS_2k.log")
    sessions = set(scored["session"])
    in_train = sessions & set(prep.part("train")["session"])
    in_valid = (sessions & set(prep.part("valid")["session"])) - in_train
    assert in_train and in_valid  # the file holds both: the test means something
    seen = scored.attrs["seen"]
    assert seen["what"] == "sessions" and seen["of"]["keys"] == len(sessions)
    assert seen["train"]["keys"] == len(in_train) and seen["valid"]["keys"] == len(in_valid)
    assert set(seen["train"]["examples"]) <= in_train
    # the folder moved elsewhere keeps its record
    import shutil

    shutil.copytree(tmp_path / "m", tmp_path / "moved")
    again = runs.score(tmp_path / "moved", logs_dir() / "hdfs" / "HDFS_2k.log")
    assert again.attrs["seen"] == seen


def test_job_records_are_recognised_by_content_whatever_their_run_is_called(tmp_path):
    """A training run's jobs under another run name, cut to a few rows, or merged with a test run's: each is
    found by its jobs' keys (id + ready time), and a test run's jobs are not."""
    res = runs.train("flowbench/sample", "gbdt", {"n_estimators": 20}, out=tmp_path / "m")
    prep = res.prepared
    assert (tmp_path / "m" / overlap.KEYS_FILE).is_file()
    train, test = prep.part("train"), prep.part("test")
    one = train[train["run_id"] == train["run_id"].iloc[0]].copy()
    one["run_id"] = "renamed-run"
    t = test[test["run_id"] == test["run_id"].iloc[0]].copy()
    mixed = pd.concat([one.head(25), t.head(15)], ignore_index=True)
    scored = runs.score(tmp_path / "m", mixed)
    assert scored["seen"].tolist() == ["train"] * 25 + [None] * 15
    seen = scored.attrs["seen"]
    assert seen["train"] == {"rows": 25, "keys": 1, "examples": ["renamed-run"]} and "valid" not in seen
    # the test run alone: nothing seen, no column
    alone = runs.score(tmp_path / "m", t)
    assert "seen" not in alone.columns and "seen" not in alone.attrs
    # the same ready time under another job id, or no ready time at all, is another job
    moved = one.head(5).copy()
    moved["job_id"] = moved["job_id"].astype(str) + "-x"
    assert "seen" not in runs.score(tmp_path / "m", moved).columns
    assert overlap.job_keys(one.drop(columns=["ready"])) is None


def test_job_keys_survive_saving_and_a_folder_without_them_still_loads(tmp_path):
    table = pd.DataFrame({"run_id": ["r1", "r1", "r2"], "job_id": ["a", "b", "a"], "ready": [1.0, np.nan, 2.5]})
    keys = overlap.job_keys(table)
    assert keys[1] == 0 and keys[0] != 0 and keys[0] != keys[2]  # same id, another time: another job
    doc = overlap.record("flowbench/x", "run", 0, {"train": table, "valid": table.head(1)})
    assert sorted(doc["parts"]["train"]["job_keys"].tolist()) == sorted([int(keys[0]), int(keys[2])])
    overlap.save(doc, tmp_path)
    saved = __import__("json").loads((tmp_path / overlap.SEEN_FILE).read_text())
    assert saved["parts"]["train"] == {"runs": ["r1", "r2"], "jobs": 2}
    back = overlap.load(tmp_path)
    assert back["parts"]["valid"]["job_keys"].tolist() == [int(keys[0])]
    (tmp_path / overlap.KEYS_FILE).unlink()  # a model saved before job keys were kept: names only
    assert "job_keys" not in overlap.load(tmp_path)["parts"]["train"]
    (tmp_path / overlap.KEYS_FILE).write_bytes(b"not safetensors")
    import pytest

    from llmad import LlmadError

    with pytest.raises(LlmadError, match="seen.safetensors"):
        overlap.load(tmp_path)
