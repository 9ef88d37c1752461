"""Download: resume with HTTP Range and checksums, against a loopback server (no internet here)."""

import hashlib
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from logs_common import _private_cache  # noqa: F401

from llmad import LlmadError
from llmad.data.download import fetch

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB


class _Handler(BaseHTTPRequestHandler):
    honour_range = True
    seen_ranges: list = []

    def do_GET(self):  # noqa: N802
        rng = self.headers.get("Range")
        type(self).seen_ranges.append(rng)
        body, status = PAYLOAD, 200
        if rng and self.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.end_headers()
                return
            body, status = PAYLOAD[start:], 206
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {len(PAYLOAD) - len(body)}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture()
def server():
    _Handler.honour_range = True
    _Handler.seen_ranges = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/BGL.zip", _Handler
    srv.shutdown()
    srv.server_close()


SHA = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_fresh_download_verified(server, tmp_path):
    url, h = server
    calls = []
    r = fetch(url, tmp_path / "BGL.zip", sha256=SHA, md5=MD5, progress=lambda d, t: calls.append((d, t)))
    assert (tmp_path / "BGL.zip").read_bytes() == PAYLOAD and r["resumed_from"] == 0
    assert h.seen_ranges == [None] and calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert not (tmp_path / "BGL.zip.part").exists()
    assert (tmp_path / "BGL.zip.sha256").read_text().split()[0] == SHA


def test_resume_from_part_file(server, tmp_path):
    url, h = server
    (tmp_path / "BGL.zip.part").write_bytes(PAYLOAD[:300_000])
    r = fetch(url, tmp_path / "BGL.zip", sha256=SHA)
    assert h.seen_ranges == ["bytes=300000-"] and r["resumed_from"] == 300_000
    assert (tmp_path / "BGL.zip").read_bytes() == PAYLOAD


def test_complete_part_file_gets_416_and_is_accepted(server, tmp_path):
    url, _ = server
    (tmp_path / "BGL.zip.part").write_bytes(PAYLOAD)
    assert fetch(url, tmp_path / "BGL.zip", md5=MD5)["resumed_from"] == len(PAYLOAD)


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    url, h = server
    h.honour_range = False
    (tmp_path / "BGL.zip.part").write_bytes(b"garbage" * 10)
    r = fetch(url, tmp_path / "BGL.zip", sha256=SHA)
    assert r["resumed_from"] == 0 and (tmp_path / "BGL.zip").read_bytes() == PAYLOAD


def test_checksum_mismatch_is_a_clear_error(server, tmp_path):
    url, _ = server
    (tmp_path / "BGL.zip.part").write_bytes(b"X" * 1000)  # a corrupt beginning, resumed onto
    with pytest.raises(LlmadError, match=r"sha256 checksum mismatch: expected 0+, got [0-9a-f]{64}"):
        fetch(url, tmp_path / "BGL.zip", sha256="0" * 64)
    assert not (tmp_path / "BGL.zip").exists() and not (tmp_path / "BGL.zip.part").exists()


def test_cli_download_with_mirror_and_errors(server, tmp_path):
    url, _ = server
    env = {**os.environ, "LLMAD_DATA_DIR": str(tmp_path / "data")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "llmad.cli", "data", "download", *a],  # noqa: E731
                                    capture_output=True, text=True, env=env)
    r = run("bgl", "--url", url, "--md5", MD5, "--no-unpack")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data/logs/bgl/BGL.zip").read_bytes() == PAYLOAD
    bad = run("hdfs", "--url", url, "--sha256", "f" * 64, "--no-unpack")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "checksum mismatch" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    unk = run("nosuch")
    assert unk.returncode == 2 and "unknown dataset to download 'nosuch'" in unk.stderr
