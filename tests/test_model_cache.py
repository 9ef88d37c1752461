"""The model cache (dequantised GGUF backbones) is written once, atomically, and safe under parallel use."""

import threading
import time

import pytest

from llmad.models.backbones import publish


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_publish_writes_a_complete_folder_and_leaves_no_temporary_one(tmp_path):
    out = tmp_path / "models" / "m"
    publish(out, lambda d: (d / "model.safetensors").write_bytes(b"w" * 1000))
    assert _files(out) == [".complete", "model.safetensors"]
    assert _files(out.parent) == [".m.lock", "m"]


def test_a_half_written_folder_is_written_again_and_a_failed_write_publishes_nothing(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "config.json").write_text("{}")  # what a process that died while saving leaves: no weights, no marker

    def fails(d):
        (d / "model.safetensors").write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish(out, fails)
    assert _files(out) == ["config.json"] and _files(tmp_path) == [".m.lock", "m"]
    publish(out, lambda d: (d / "model.safetensors").write_bytes(b"w"))
    assert _files(out) == [".complete", "model.safetensors"]


def test_parallel_writers_write_once_and_every_one_sees_the_complete_folder(tmp_path):
    out, calls, seen = tmp_path / "m", [], []

    def slow(d):
        calls.append(d)
        time.sleep(0.3)
        (d / "model.safetensors").write_bytes(b"w" * 10)

    def worker():
        seen.append(_files(publish(out, slow)))

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(calls) == 1 and seen == [[".complete", "model.safetensors"]] * 4
