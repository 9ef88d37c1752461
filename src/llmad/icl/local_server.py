"""A real OpenAI-compatible server on loopback for a packaged GGUF model, with no compiler: llama.cpp's own
server, in-process, from the prebuilt ``xllamacpp`` wheel (``pip install xllamacpp``).

    python -m llmad.icl.local_server smollm2 --port 8080
    llmad train flowbench/1000genome --detector icl --backbone smollm2 --base-url http://127.0.0.1:8080/v1 ...

The ``icl`` detector talks to it as to any vLLM / Ollama / llama.cpp server (:mod:`llmad.icl.http_backend`);
the tests start one to check that backend against a real server rather than a mock.
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

from llmad import LlmadError


def gguf_path(model: str) -> Path:
    """The GGUF file of a packaged model (``smollm2``, ``gemma3-270m``) or a path to one."""
    p = Path(model)
    if p.suffix == ".gguf" and p.is_file():
        return p
    from llmad.models.backbones import resolve

    bb = resolve(model)
    if bb.gguf_file is None:
        raise LlmadError(f"{model} is not a GGUF model; the local server serves GGUF files")
    return Path(bb.path) / bb.gguf_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(model: str = "smollm2", port: int = 0, threads: int | None = None, ctx: int = 4096, parallel: int = 1):
    """Start the server; returns ``(server, base_url)``. It runs until the server object is dropped."""
    try:
        import xllamacpp
    except ImportError:
        raise LlmadError("the local server needs the prebuilt llama.cpp wheel: pip install xllamacpp") from None
    from llmad.threads import threads as default_threads

    p = xllamacpp.CommonParams()
    p.model.path = str(gguf_path(model))
    p.n_ctx = ctx * parallel
    p.n_parallel = parallel
    p.port = port or free_port()
    p.hostnames = ["127.0.0.1"] if isinstance(p.hostnames, list) else "127.0.0.1"
    p.cpuparams.n_threads = threads or default_threads()
    p.cpuparams_batch.n_threads = threads or default_threads()
    server = xllamacpp.Server(p)
    return server, f"http://127.0.0.1:{p.port}/v1"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Serve a packaged GGUF model on loopback (OpenAI-compatible).")
    ap.add_argument("model", nargs="?", default="smollm2")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--parallel", type=int, default=1, help="slots (requests served at once)")
    a = ap.parse_args(argv)
    server, url = start(a.model, a.port, a.threads, parallel=a.parallel)
    print(f"serving {a.model} at {url} (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        del server


if __name__ == "__main__":
    main()
