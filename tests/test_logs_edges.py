"""Sessions cut by a file's start or end are marked (and kept apart in the metrics of ``detect``)."""

import json
import re
from datetime import datetime

import pandas as pd
from logs_common import _private_cache, logs_dir, needs_logs  # noqa: F401
from test_cli import llmad

from llmad.data.logs.grouping import mark_edges, session_timeout


def test_mark_edges_on_known_sessions():
    w = pd.DataFrame({"start": [0.0, 3.0, 50.0, 95.0, 1.0], "end": [40.0, 60.0, 70.0, 100.0, 99.0]})
    got = mark_edges(w, 0.0, 100.0, 5.0)
    assert got["cut"].tolist() == ["start", "start", "", "end", "both"]
    assert got["complete"].tolist() == [False, False, True, False, False]
    assert not mark_edges(w, 0.0, 100.0, 0.0)["cut"].astype(bool).any()  # 0 marks none


def test_session_timeout_is_a_high_quantile_of_train_gaps():
    import numpy as np

    t = session_timeout(np.arange(1, 101, dtype=float), "s")
    assert abs(t["value"] - 99.01) < 1e-9 and t["unit"] == "s" and "q0.99" in t["rule"]


def _sessions_of(path):
    """First and last timestamp of every block id in a raw HDFS file, read here independently."""
    span = {}
    for line in open(path, encoding="utf-8"):
        d, tm = line.split()[:2]
        ts = datetime.strptime(d + tm, "%y%m%d%H%M%S").timestamp()
        for b in dict.fromkeys(re.findall(r"blk_-?\d+", line)):
            a = span.get(b)
            span[b] = (ts, ts) if a is None else (min(a[0], ts), max(a[1], ts))
    return span


@needs_logs
def test_detect_marks_sessions_cut_by_the_file_edges(tmp_path):
    model, out, mfile = tmp_path / "m", tmp_path / "s.jsonl", tmp_path / "metrics.json"
    llmad("train", "logs/hdfs", "--detector", "tfidf", "--out", model)
    learnt = json.loads((model / "detector.json").read_text())["run"]["session_timeout"]
    assert learnt["unit"] == "s" and learnt["value"] > 3600  # HDFS blocks: written, then deleted hours later
    raw, labels = logs_dir() / "hdfs/HDFS_2k.log", logs_dir() / "hdfs/anomalous_block_ids.txt"
    # the learnt timeout: HDFS_20000.log is the first 3 minutes of a 38-hour log, so no session is complete
    r = llmad("detect", model, logs_dir() / "hdfs/HDFS_20000.log", "--out", out, "--labels", labels)
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert recs and all(x["complete"] is False for x in recs)
    assert f"{len(recs)} of {len(recs)} sessions may be cut" in r.stderr and "no session in this file is complete" in r.stderr
    # a given timeout on the 2k sample (spread over the 38 hours): exactly the sessions within 600 s of either
    # edge are marked
    r = llmad("detect", model, raw, "--out", out, "--labels", labels, "--session-timeout", "600",
              "--metrics-json", mfile)
    recs = {x["session"]: x for x in map(json.loads, out.read_text().splitlines())}
    span = _sessions_of(raw)
    t0, t1 = min(a for a, _ in span.values()), max(b for _, b in span.values())
    assert set(recs) == set(span)
    for s, (a, b) in span.items():
        want = {(True, True): "both", (True, False): "start", (False, True): "end", (False, False): ""}[
            (a - t0 < 600, t1 - b < 600)]
        assert recs[s]["cut"] == want and recs[s]["complete"] is (want == "")
    m = json.loads(mfile.read_text())
    n_complete = sum(x["complete"] for x in recs.values())
    assert 0 < n_complete < len(recs)
    assert m["complete"]["n"] == n_complete and m["all"]["n"] == len(recs)
    assert m["complete"]["n"] + m["incomplete"]["n"] == m["all"]["n"]
    assert m["all"]["n_anomalous"] == sum(x["true_label"] for x in recs.values())
    assert "complete sessions" in r.stderr and "F1" in r.stderr
    # a file without labels: no metrics to write, said in one line
    r = llmad("detect", model, raw, "--out", out, "--metrics-json", mfile, check=False)
    assert r.returncode != 0 and "carries no labels" in r.stderr and "Traceback" not in r.stderr
