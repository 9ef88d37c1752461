"""Settings of the detection service (``llmad serve``), one frozen dataclass like every llmad config."""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from llmad import LlmadError
from llmad.config import option

TOKEN_ENV = "LLMAD_API_TOKEN"


@dataclass(frozen=True)
class ServeConfig:
    host: str = option("127.0.0.1", "Address to listen on (a non-loopback one needs a token).")
    port: int = option(8000, "Port.")
    max_body_bytes: int = option(8 * 2**20, "Largest request body; larger ones get 413.")
    max_records: int = option(10_000, "Most records (job records or log lines) in one request; more get 413.")
    queue_records: int = option(50_000, "Records accepted and waiting to be scored; beyond it requests get 429.")
    batch_records: int = option(2048, "Most records scored in one micro-batch (several requests together).")
    batch_wait_ms: float = option(2.0, "How long the scorer waits to fill a micro-batch once one request is in.")
    max_inflight: int = option(64, "Requests being read, parsed or scored at once; beyond it 429 before the body "
                                   "is read (bounds memory: at most this many bodies of max_body_bytes).")
    max_streams: int = option(1000, "Streams whose state is kept; the least recently used is dropped beyond it.")
    stream_max_records: int = option(200_000, "Records (or buffered log lines) kept per stream.")
    shutdown_grace_s: float = option(30.0, "On shutdown, how long accepted work may take to finish.")

    def __post_init__(self):
        for name in ("max_body_bytes", "max_records", "queue_records", "batch_records", "max_inflight", "max_streams",
                     "stream_max_records"):
            if getattr(self, name) < 1:
                raise LlmadError(f"serve: {name} must be at least 1")
        if not 0 < self.port < 65536:
            raise LlmadError(f"serve: port must be in 1..65535, not {self.port}")
        if self.queue_records < self.max_records:
            raise LlmadError("serve: queue_records must be at least max_records (one full request must fit)")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token_file: str | Path | None = None) -> str | None:
    """The bearer token: the file's content (stripped) when given, else ``$LLMAD_API_TOKEN``, else None."""
    if token_file is not None:
        p = Path(token_file)
        if not p.is_file():
            raise LlmadError(f"{p}: no such token file")
        token = p.read_text().strip()
        if not token:
            raise LlmadError(f"{p}: the token file is empty")
    else:
        token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is not None and len(token) < 16:
        raise LlmadError("the API token must be at least 16 characters (e.g. `openssl rand -hex 32`)")
    return token


def check_host(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    if token is None and not is_loopback(host):
        raise LlmadError(f"refusing to serve on {host} without a token: set {TOKEN_ENV} or pass --token-file "
                         "(or listen on 127.0.0.1)")


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented bearer token with the configured one."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
