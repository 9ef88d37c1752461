import zipfile

import pytest
from conftest import needs_shared

from llmad import LlmadError
from llmad.data import flowbench
from llmad.data.flowbench import PAPER_FEATURES, assert_no_banned, feature_columns, load_workflow


def test_sample_table_columns(sample):
    for c in ("job_id", "run_id", "workflow", "run_category", "anomaly_type", "label", *PAPER_FEATURES):
        assert c in sample.columns
    assert set(sample["label"].unique()) == {0, 1}
    assert (sample["label"] == (sample["anomaly_type"].astype(str) != "None")).all()
    # a normal run has no anomalous job
    assert sample.loc[sample["run_category"] == "normal", "label"].sum() == 0
    assert sample["run_id"].nunique() == 40
    assert sample["workflow"].iloc[0] == "1000genome"


@needs_shared
def test_montage_counts_match_upstream_readme():
    t = load_workflow("montage")
    assert len(t) == 172_480
    assert t["run_id"].nunique() == 320
    assert int(t["label"].sum()) == 35_251
    dag = flowbench.load_dag("montage")
    assert len(dag) > 0


@needs_shared
def test_1000genome_counts():
    t = load_workflow("1000genome")
    assert (len(t), t["run_id"].nunique(), int(t["label"].sum())) == (47_950, 350, 15_689)


def test_banned_columns_refused(sample):
    assert "kickstart_hostname" in sample.columns  # kept for analysis
    for cols in (["runtime", "kickstart_hostname"], ["kickstart_site"], ["node_id"]):
        with pytest.raises(LlmadError, match="host-identifying"):
            assert_no_banned(cols)
    allc = feature_columns(sample, "all")
    assert not any("host" in c or "site" in c for c in allc)
    assert "runtime" in allc and "label" not in allc and "anomaly_type" not in allc


def test_detector_never_sees_banned_columns(sample):
    from llmad.detectors import make_detector

    with pytest.raises(LlmadError, match="host-identifying"):  # refused when the config is built
        make_detector("gbdt", features=["runtime", "kickstart_hostname"], n_estimators=5)


def _zip_with(tmp_path, name, text):
    root = tmp_path / "data"
    (root / "flowbench").mkdir(parents=True)
    with zipfile.ZipFile(root / "flowbench" / f"{name}.zip", "w") as z:
        z.writestr("x-run0001.csv", text)
    return root


def _csv(rows):
    cols = ",anomaly_type," + ",".join(PAPER_FEATURES)
    return cols + "\n" + "\n".join(rows) + "\n"


def test_malformed_zip_members(tmp_path):
    good = "j1,None," + ",".join(["1.0"] * 9)
    root = _zip_with(tmp_path, "montage", _csv([good, "j2,cpu_2,1.0,abc," + ",".join(["1"] * 7)]))
    with pytest.raises(LlmadError, match=r"line 3, column 'queue_delay'.*'abc'"):
        load_workflow("montage", root=root)
    root2 = _zip_with(tmp_path / "b", "montage", ",anomaly_type,runtime\nj1,None,1\n")
    with pytest.raises(LlmadError, match="missing required column"):
        load_workflow("montage", root=root2)
    root3 = tmp_path / "c" / "flowbench"
    root3.mkdir(parents=True)
    (root3 / "montage.zip").write_bytes(b"not a zip")
    with pytest.raises(LlmadError, match="not a zip"):
        load_workflow("montage", root=root3.parent)
    root4 = _zip_with(tmp_path / "d", "montage", "")
    with pytest.raises(LlmadError, match="empty"):
        load_workflow("montage", root=root4)


def test_unknown_and_missing_workflow(tmp_path):
    with pytest.raises(LlmadError, match="unknown Flow-Bench workflow"):
        load_workflow("nope")
    with pytest.raises(LlmadError, match="LLMAD_DATA_DIR"):
        load_workflow("montage", root=tmp_path)


def test_progress_called(sample):
    calls = []
    load_workflow("sample", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (40, 40)
