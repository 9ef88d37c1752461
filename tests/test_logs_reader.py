import gzip

from logs_common import _private_cache  # noqa: F401

from llmad.data.logs import ReaderConfig, get_format
from llmad.data.logs.reader import LogReader, read_all

FMT = get_format("<Level> <Content>")


def _crafted(path):
    path.write_bytes(
        b"INFO first good line\n"                  # 1 ok
        b"WARN bad \xff\xfe bytes here\n"          # 2 bad encoding: kept
        b"INFO " + b"x" * 200 + b"\n"               # 3 overlong: truncated, kept
        b"nolevelseparator\n"                       # 4 non-matching: dropped
        b"\n"                                       # 5 empty: dropped
        b"ERROR sixth line\r\n"                     # 6 ok (CRLF)
        b"INFO"                                     # 7 truncated last line, no newline, no match: dropped
    )


def test_quarantine_counts_and_line_numbers(tmp_path):
    f = tmp_path / "bad.log"
    _crafted(f)
    q = tmp_path / "q.tsv"
    rows, s = read_all(f, FMT, ReaderConfig(max_line_bytes=64, quarantine=str(q)))
    assert [n for n, _ in rows] == [1, 2, 3, 6]
    assert s.lines == 7 and s.parsed == 4 and s.dropped == 3
    assert (s.bad_encoding, s.overlong, s.non_matching, s.empty) == (1, 1, 2, 1)
    assert s.unterminated_last_line
    assert s.quarantined == 5 and s.quarantine_file == str(q)
    assert "\ufffd" in rows[1][1]["Content"]
    assert len(rows[2][1]["Content"]) == 64 - len("INFO ")
    assert rows[3][1] == {"Level": "ERROR", "Content": "sixth line"}
    body = [ln.split("\t") for ln in q.read_text().splitlines()[2:]]
    got = [(int(r[0]), r[1], r[2]) for r in body]
    assert got == [(2, "bad-encoding", "kept"), (3, "overlong", "kept-truncated"), (4, "no-format-match", "dropped"),
                   (5, "empty", "dropped"), (7, "truncated-last-line", "dropped")]
    assert s.parsed + s.dropped == s.lines  # nothing silently lost


def test_matching_last_line_without_newline_is_kept(tmp_path):
    f = tmp_path / "ok.log"
    f.write_bytes(b"INFO a\nINFO b")
    rows, s = read_all(f, FMT, ReaderConfig(quarantine=str(tmp_path / "q.tsv")))
    assert [r[1]["Content"] for r in rows] == ["a", "b"] and s.unterminated_last_line
    assert s.quarantined == 0 and not (tmp_path / "q.tsv").exists()


def test_overlong_cut_inside_a_utf8_character_is_not_bad_encoding(tmp_path):
    f = tmp_path / "u.log"
    f.write_bytes(b"INFO " + "é".encode() * 40 + b"\n")
    rows, s = read_all(f, FMT, ReaderConfig(max_line_bytes=20, quarantine=str(tmp_path / "q.tsv")))
    assert s.overlong == 1 and s.bad_encoding == 0 and "\ufffd" not in rows[0][1]["Content"]


def test_streams_gzip_and_default_quarantine_location(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMAD_CACHE_DIR", str(tmp_path / "c"))
    f = tmp_path / "x.log.gz"
    with gzip.open(f, "wb") as g:
        g.write(b"INFO a\nbroken\n")
    r = LogReader(f, FMT)
    assert [n for n, _ in r] == [1]
    assert r.summary.quarantine_file == str(tmp_path / "c" / "quarantine" / "x.log.gz.quarantine.tsv")
