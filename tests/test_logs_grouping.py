import re

import numpy as np
import pandas as pd
import pytest
from logs_common import _private_cache, logs_dir, needs_logs  # noqa: F401

from llmad import LlmadError
from llmad.data.logs import LogOptions, load
from llmad.data.logs.grouping import chrono_parts, fixed_windows, time_windows
from llmad.data.logs.reader import read_all
from llmad.data.logs.formats import get_format
from llmad.data.splits import split


def _line_parts(n, train, valid):
    return chrono_parts(n, train, valid)


@needs_logs
@pytest.mark.parametrize("window,step", [(20, 20), (20, 7), (1, 1)])
def test_no_window_straddles_parts_and_train_precedes_test(window, step):
    w = load("thunderbird", LogOptions(window=window, step=step))
    n = 19350
    line_part = _line_parts(n, 0.7, 0.1)
    for r in w.itertuples():
        parts = set(line_part[r.first_line - 1:r.last_line])
        assert parts == {r.part}, (r.window_id, parts, r.part)
        assert r.last_line - r.first_line + 1 == r.n_lines
    tr, va, te = (w[w.part == p] for p in ("train", "valid", "test"))
    assert tr.last_line.max() < va.first_line.min() <= va.last_line.max() < te.first_line.min()
    # chronological: every train line is no later than every test line
    rows, _ = read_all(logs_dir() / "thunderbird/thunderbird_20051115_slice.log", get_format("thunderbird"))
    t = np.array([int(f["Timestamp"]) for _, f in rows])
    assert t[:tr.last_line.max()].max() <= t[te.first_line.min() - 1:].min()


@needs_logs
def test_bgl_merged_chronologically_and_split_by_line():
    w = load("bgl")
    assert len(w) == 7001 and (w.n_lines == 1).all()
    assert w.attrs["logs"]["windows_per_part"] == {"train": 5600, "valid": 700, "test": 701}
    assert int(w.label.sum()) == 143
    assert set(w.source) == {"BGL_2k.log", "BGL_5000.log"}
    w20 = load("bgl", LogOptions(grouping="fixed", window=20, step=20))
    assert w20.n_lines.max() == 20 and w20.attrs["logs"]["lines_per_part"] == {"train": 5600, "valid": 700, "test": 701}


@needs_logs
def test_label_token_never_in_the_text():
    w = load("bgl")
    rows, _ = read_all(logs_dir() / "bgl/BGL_2k.log", get_format("bgl"))
    cats = {f["Label"] for _, f in rows if f["Label"] != "-"}
    texts = " ".join(w.text)
    for cat in cats:  # e.g. KERNDTLB, APPSEV: the answer, stripped with the <Label> field
        assert not re.search(rf"(?<![\w-]){re.escape(cat)}(?![\w-])", texts), cat
    assert not any(t.startswith("- ") for t in w.text)
    tb = load("thunderbird")
    assert "VAPI" not in " ".join(tb.text).split()


@needs_logs
def test_hdfs_multi_block_lines_belong_to_each_block():
    path = logs_dir() / "hdfs/HDFS_2k.log"
    rows, _ = read_all(path, get_format("hdfs"))
    multi = [(n, sorted(set(re.findall(r"blk_-?\d+", f["Content"])))) for n, f in rows
             if len(set(re.findall(r"blk_-?\d+", f["Content"]))) > 1]
    assert multi, "HDFS_2k has lines naming two blocks"
    w = load("hdfs-2k").set_index("session")
    from llmad.data.logs.lines import read_lines
    lines, _ = read_lines([path], "hdfs", LogOptions(), sessions=True)
    for n, blocks in multi[:20]:
        for b in blocks:
            row = w.loc[b]
            members = lines.index[lines.sessions.map(lambda s: b in s)]
            assert n in set(lines.line[members]) and row.first_line <= n <= row.last_line


@needs_logs
def test_hdfs_sessions_split_by_first_appearance_with_block_labels():
    w = load("hdfs")
    assert len(w) == 11501 and int(w.label.sum()) == 350
    first = w.groupby("part").first_line.agg(["min", "max"])
    assert first.loc["train", "max"] < first.loc["valid", "min"] and first.loc["valid", "max"] < first.loc["test", "min"]
    assert w.session.is_unique
    w20 = load("hdfs-20k")
    ids = {ln.strip() for ln in open(logs_dir() / "hdfs/anomalous_block_ids.txt")}
    assert (w20.label == w20.session.isin(ids).astype(int)).all() and int(w20.label.sum()) == 43


@needs_logs
def test_split_honours_the_loader_part_and_refuses_others():
    w = load("thunderbird")
    parts = split(w, "chrono")
    assert [len(parts[p]) for p in ("train", "valid", "test")] == [678, 97, 194]
    with pytest.raises(LlmadError, match="use --split chrono"):
        split(w, "run")


def test_time_windows_and_fixed_windows_in_parts():
    lines = pd.DataFrame({"line": np.arange(1, 11), "source": "f", "time": [0, 1, 2, 10, 11, 30, 31, 32, 60, 61.0],
                          "message": list("abcdefghij"), "label": [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]})
    lines["part"] = chrono_parts(10, 0.6, 0.2)
    tw = time_windows(lines, 10)
    assert [(r.part, r.first_line, r.last_line) for r in tw.itertuples()] == [
        ("train", 1, 3), ("train", 4, 5), ("train", 6, 6), ("valid", 7, 8), ("test", 9, 10)]
    assert tw.label.tolist() == [0, 1, 0, 0, 0]
    fw = fixed_windows(lines, 4, 3)
    assert [(r.first_line, r.last_line) for r in fw.itertuples()] == [(1, 4), (4, 6), (7, 8), (9, 10)]
    lines.loc[3, "time"] = np.nan
    with pytest.raises(LlmadError, match="line 4 has none"):
        time_windows(lines, 10)


@needs_logs
def test_dedup_reports_removed_windows():
    full = load("hdfs")
    d = load("hdfs", LogOptions(dedup=True))
    removed = d.attrs["logs"]["dedup_removed"]
    assert removed["test"] > 0 and len(full) - len(d) == removed["test"] + removed["valid"]
    train_texts = set(d[d.part == "train"].text)
    assert not d[d.part == "test"].text.isin(train_texts).any()


@needs_logs
def test_text_budget_cuts_and_reports():
    w = load("hdfs", LogOptions(max_chars=200))
    assert w.text.str.len().max() <= 200 and w.attrs["logs"]["text"]["windows_cut"] > 0


@needs_logs
def test_user_file_with_format(tmp_path):
    src = (logs_dir() / "bgl/BGL_2k.log").read_bytes().splitlines(keepends=True)
    f = tmp_path / "mine.log"
    f.write_bytes(b"".join(src[:300]) + b"garbage line\n" + b"".join(src[300:600]))
    w = load(":" + str(f), LogOptions(format="bgl", window=50))
    info = w.attrs["logs"]
    assert info["quarantined"] == 1 and info["lines"] == 600
    # parts of 420 / 60 / 120 lines, windows of 50 cut inside each: 9 + 2 + 3
    assert w.groupby("part").size().to_dict() == {"train": 9, "valid": 2, "test": 3}
    assert w.first_line.min() == 1 and w.last_line.max() == 601
    with pytest.raises(LlmadError, match="--format"):
        load(":" + str(f))
