"""Batch scoring on a local Ray cluster gives exactly the single-process results (job records and logs)."""

import json

import pandas as pd
import pytest

pytest.importorskip("ray")

from llmad import LlmadError, runs  # noqa: E402
from llmad.scale.ray_batch import score_with_ray  # noqa: E402


@pytest.fixture(scope="module")
def record_inputs(sample, tmp_path_factory):
    folder = tmp_path_factory.mktemp("records")
    for i, r in enumerate(sorted(sample["run_id"].unique())[:4]):
        part = sample[sample["run_id"] == r]
        if i == 3:
            part.to_parquet(folder / f"{r}.parquet")
        else:
            part.to_csv(folder / f"{r}.csv", index=False)
    model = tmp_path_factory.mktemp("model")
    runs.train("flowbench/sample", "gbdt", {"features": "context", "n_estimators": 40}, out=model)
    return model, folder


def _log_inputs(tmp_path):
    from conftest import shared_data

    if shared_data() is None:
        pytest.skip("shared log data not found")
    src = shared_data().parent / "logs" / "thunderbird" / "thunderbird_20051115_slice.log"
    lines = src.read_text().splitlines()[:600]
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.log").write_text("\n".join(lines[:350]) + "\n")
    (folder / "b.log").write_text("\n".join(lines[350:]) + "\n")
    model = tmp_path / "tb"
    runs.train("logs/thunderbird", "tfidf", out=model)
    return model, folder


def test_ray_equals_the_plain_path(record_inputs, tmp_path):
    import ray

    model, folder = record_inputs
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        plain = runs.score_files(model, folder)
        distributed = score_with_ray(model, folder, actors=2)
        assert len(plain) == sum(len(pd.read_csv(f)) if f.suffix == ".csv" else len(pd.read_parquet(f))
                                 for f in sorted(folder.iterdir()))
        pd.testing.assert_frame_equal(plain, distributed, check_dtype=False)
        assert distributed.attrs["read"]["files"] == 4
        # each file alone scores as runs.score scores it
        first = sorted(folder.iterdir())[0]
        alone = runs.score(model, first)
        assert plain[plain["file"] == str(first)]["score"].tolist() == pytest.approx(alone["score"].tolist())
        lmodel, lfolder = _log_inputs(tmp_path)
        lp = runs.score_files(lmodel, lfolder)
        lr = score_with_ray(lmodel, lfolder, actors=2)
        pd.testing.assert_frame_equal(lp, lr, check_dtype=False)
        assert lr.attrs["read"]["lines"] == 600 and lr.attrs["read"]["files"] == 2
    finally:
        ray.shutdown()


def test_detect_engine_ray_from_the_cli(record_inputs, tmp_path):
    import subprocess
    import sys

    model, folder = record_inputs
    outs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.jsonl"
        r = subprocess.run([sys.executable, "-m", "llmad.cli", "--threads", "1", "detect", str(model), str(folder),
                            "--out", str(out), "--engine", engine], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "in 4 files" in r.stderr
        outs[engine] = [json.loads(x) for x in out.read_text().splitlines()]
    assert outs["local"] == outs["ray"]


def test_bad_input_fails_before_a_cluster_starts(record_inputs, tmp_path):
    model, _ = record_inputs
    with pytest.raises(LlmadError, match="no such file or folder"):
        score_with_ray(model, tmp_path / "missing")
    with pytest.raises(LlmadError, match="not a saved llmad detector"):
        score_with_ray(tmp_path, tmp_path)
