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
    assert overlap._part_keys(jobs) == {"runs": ["r1", "r2"]}
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
