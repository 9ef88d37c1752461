import pytest
from logs_common import _private_cache, logs_dir, needs_logs  # noqa: F401

from llmad import LlmadError
from llmad.data.logs import compile_format, get_format
from llmad.data.logs.masking import mask
from llmad.data.logs.reader import read_all

SAMPLES = [
    ("hdfs", "hdfs/HDFS_2k.log", 2000),
    ("hdfs", "hdfs/HDFS_20000.log", 20000),
    ("bgl", "bgl/BGL_2k.log", 2000),
    ("bgl", "bgl/BGL_5000.log", 5001),
    ("thunderbird", "thunderbird/thunderbird_20051115_slice.log", 19350),
    ("thunderbird", "thunderbird/Thunderbird_2k.log", 2000),
]


@needs_logs
@pytest.mark.parametrize("fmt,rel,n", SAMPLES)
def test_each_format_parses_its_real_sample(fmt, rel, n):
    rows, s = read_all(logs_dir() / rel, get_format(fmt))
    assert s.lines == n and s.parsed == n and s.dropped == 0 and s.quarantined == 0
    first = rows[0][1]
    assert first["Content"].strip()
    if fmt == "hdfs":
        assert {f["Level"] for _, f in rows} <= {"INFO", "WARN", "ERROR", "FATAL"}
        assert all(f["Component"].startswith("dfs.") for _, f in rows)
    else:
        assert all(f["Timestamp"].isdigit() for _, f in rows)


@needs_logs
def test_bgl_labels_from_the_first_token():
    rows, _ = read_all(logs_dir() / "bgl/BGL_2k.log", get_format("bgl"))
    alerts = [f["Label"] for _, f in rows if f["Label"] != "-"]
    assert len(alerts) == 143 and "KERNDTLB" in alerts


def test_spirit_has_thunderbird_layout():
    line = "- 1104566401 2005.01.01 sn373 Jan 1 00:00:01 sn373/sn373 kernel: hda: drive not ready"
    f = get_format("spirit").parse(line)
    assert f["User"] == "sn373" and f["Content"] == "kernel: hda: drive not ready"


def test_user_format_string():
    fmt = compile_format("[<Time>] <Level> <Content>")
    assert fmt.fields == ("Time", "Level", "Content")
    assert fmt.parse("[12:00:01]   WARN disk  almost full") == {"Time": "12:00:01", "Level": "WARN",
                                                               "Content": "disk  almost full"}
    assert fmt.parse("12:00:01 WARN x") is None


@pytest.mark.parametrize("spec,needle", [
    ("<Date> <Time", "column 8: '<' is not closed"),
    ("<Date> Time> <Content>", "column 12: '>' without an opening '<'"),
    ("<Date> <Date> <Content>", "column 8: field <Date> appears twice"),
    ("<Date> <Time>", "needs a <Content> field"),
    ("<Date><Content>", "need a separator"),
    ("<Da te> <Content>", "field name 'Da te'"),
    ("plain text", "unknown log format"),
    ("", "log format is empty"),
])
def test_malformed_format_strings(spec, needle):
    with pytest.raises(LlmadError, match=None) as e:
        get_format(spec)
    assert needle in str(e.value)


def test_masking():
    m = mask("Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: 10.250.19.102:50010")
    assert m == "Receiving block <*> src: <*> dest: <*>"
    assert mask("file /mnt/hadoop/x/job.jar of size 67108864 at 0x1F3a") == "file <*> of size <*> at <*>"
    assert mask("node R02-M1-N0-C:J12-U11 ok") == "node R02-M1-N0-C:J12-U11 ok"  # names are not numbers
    assert mask("core.2275 deadbeef12 12.5") == "core.2275 <*> <*>"


@needs_logs
def test_masking_is_idempotent_on_real_lines():
    rows, _ = read_all(logs_dir() / "thunderbird/thunderbird_20051115_slice.log", get_format("thunderbird"))
    for _, f in rows[::7]:
        once = mask(f["Content"])
        assert mask(once) == once, f["Content"]
