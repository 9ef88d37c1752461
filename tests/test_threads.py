import json

import pytest
from test_cli import llmad

from llmad import LlmadError, threads


@pytest.fixture(autouse=True)
def _reset(monkeypatch):
    monkeypatch.delenv("LLMAD_THREADS", raising=False)
    threads.set_threads(None)
    yield
    threads.set_threads(None)


def test_available_cpus_follow_affinity_and_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: None)
    assert threads.available_cpus() == 6
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 2.5)
    assert threads.available_cpus() == 2
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 0.5)
    assert threads.available_cpus() == 1


def test_cgroup_quota_files(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert threads.cgroup_cpu_limit(v1) == 3.0
    assert threads.cgroup_cpu_limit(tmp_path / "none") is None


def test_user_choice_wins(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 8)
    assert threads.threads() == 8 and not threads.explicit()
    assert threads.lightgbm_threads(40_000) == 1 and threads.lightgbm_threads(1_000_000) == 5
    monkeypatch.setenv("LLMAD_THREADS", "3")
    assert threads.threads() == 3 and threads.lightgbm_threads(40_000) == 3
    threads.set_threads(2)
    assert threads.threads() == 2
    monkeypatch.setenv("LLMAD_THREADS", "lots")
    threads.set_threads(None)
    with pytest.raises(LlmadError, match="LLMAD_THREADS"):
        threads.threads()
    with pytest.raises(LlmadError, match="at least 1"):
        threads.set_threads(0)


def test_threads_option_reaches_lightgbm(tmp_path):
    llmad("--threads", "2", "train", "flowbench/sample", "--out", tmp_path / "a")
    assert json.loads((tmp_path / "a" / "detector.json").read_text())["state"]["threads"] == 2
    llmad("train", "flowbench/sample", "--out", tmp_path / "b", env={"LLMAD_THREADS": ""})
    assert json.loads((tmp_path / "b" / "detector.json").read_text())["state"]["threads"] == 1  # 4,110 rows
