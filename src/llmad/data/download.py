"""``llmad data download``: fetch the full log datasets from upstream, resumable, checksummed.

Sources: Loghub's Zenodo record 8196385 (HDFS_v1, BGL, Thunderbird) and, for Spirit, which is not in
Loghub, the USENIX CFDR archive (``hpc4/spirit2.gz``). The upstream checksums are not bundled: they
could not be verified from this machine (no internet), and a wrong pinned value would reject a good
file. Give the value shown on the Zenodo record with ``--md5`` (or ``--sha256``) to verify; the
digest of what was fetched is always printed and written beside the file (``<file>.sha256``).

Resume: bytes go to ``<file>.part``; a rerun asks the server for the rest with an HTTP ``Range``
header and appends (or starts over when the server ignores ranges). Only ``urllib`` is used.
"""

from __future__ import annotations

import hashlib
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmad import LlmadError, __version__
from llmad.paths import data_dir

ZENODO = "https://zenodo.org/records/8196385/files"


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None
    note: str = ""


SOURCES: dict[str, Source] = {
    "hdfs": Source("hdfs", f"{ZENODO}/HDFS_v1.zip?download=1", "HDFS_v1.zip",
                   note="Loghub HDFS_v1: HDFS.log (11,175,629 lines) + preprocessed/anomaly_label.csv"),
    "bgl": Source("bgl", f"{ZENODO}/BGL.zip?download=1", "BGL.zip", note="Loghub BGL: BGL.log (4,747,963 lines)"),
    "thunderbird": Source("thunderbird", f"{ZENODO}/Thunderbird.tar.gz?download=1", "Thunderbird.tar.gz",
                          note="Loghub Thunderbird: Thunderbird.log (211,212,192 lines, ~30 GB unpacked)"),
    "spirit": Source("spirit", "http://0b4af6cdc2f0c5998459-c0245c5c937c5dedcca3f1764ecc9b2f.r43.cf2.rackcdn.com"
                     "/hpc4/spirit2.gz", "spirit2.gz",
                     note="USENIX CFDR Spirit (not in Loghub); read it gzipped: logs:<path> --format spirit"),
}

Progress = Callable[[int, int | None], None] | None


def _digests(path: Path) -> dict[str, str]:
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            md5.update(chunk)
            sha.update(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def fetch(url: str, dest: Path, md5: str | None = None, sha256: str | None = None,
          progress: Progress = None, timeout: float = 60.0, chunk_size: int = 1 << 20) -> dict:
    """Download ``url`` to ``dest`` through ``dest.part`` (resumed when present); verify checksums.

    Returns ``{"path", "bytes", "resumed_from", "md5", "sha256"}``. A checksum mismatch deletes the
    partial file (it cannot be trusted) and raises :class:`LlmadError` with both digests.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": f"llmad/{__version__}"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    resumed_from = 0
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # nothing left to fetch: the .part is complete
            resp = None
            resumed_from = start
        else:
            raise LlmadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise LlmadError(f"{url}: cannot connect ({getattr(e, 'reason', e)})") from None
    if resp is not None:
        with resp:
            status = getattr(resp, "status", 200)
            length = resp.headers.get("Content-Length")
            length = int(length) if length is not None and length.isdigit() else None
            if start and status == 206:
                resumed_from, mode = start, "ab"
                total = start + length if length is not None else None
            else:  # fresh download, or the server ignored the range: start over
                resumed_from, mode, start = 0, "wb", 0
                total = length
            done = start
            with open(part, mode) as fh:
                try:
                    while True:
                        buf = resp.read(chunk_size)
                        if not buf:
                            break
                        fh.write(buf)
                        done += len(buf)
                        if progress:
                            progress(done, total)
                except (OSError, urllib.error.URLError) as e:
                    raise LlmadError(f"{url}: download interrupted at {done:,} bytes ({e}); "
                                     "run the same command again to resume") from None
            if total is not None and done != total:
                raise LlmadError(f"{url}: got {done:,} of {total:,} bytes; run the same command again to resume")
    got = _digests(part)
    for algo, want in (("md5", md5), ("sha256", sha256)):
        if want and got[algo] != want.lower():
            part.unlink()
            raise LlmadError(f"{url}: {algo} checksum mismatch: expected {want.lower()}, got {got[algo]} "
                             f"(the partial file was deleted; run again to download afresh)")
    part.replace(dest)
    dest.with_name(dest.name + ".sha256").write_text(f"{got['sha256']}  {dest.name}\n")
    return {"path": str(dest), "bytes": dest.stat().st_size, "resumed_from": resumed_from, **got}


def extract(archive: Path, into: Path) -> list[str]:
    """Unpack a ``.zip`` / ``.tar.gz`` safely (no member may escape ``into``); ``.gz`` stays packed."""
    into.mkdir(parents=True, exist_ok=True)
    root = into.resolve()
    name = archive.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            members = z.namelist()
            for m in members:
                if not (root / m).resolve().is_relative_to(root):
                    raise LlmadError(f"{archive}: member {m!r} would be written outside {into}")
            z.extractall(into)
        return members
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as t:
            members = t.getnames()
            t.extractall(into, filter="data")
        return members
    return []


def download(name: str, dest_dir: Path | None = None, url: str | None = None, md5: str | None = None,
             sha256: str | None = None, unpack: bool = True, progress: Progress = None) -> dict:
    """Fetch dataset ``name`` into ``<data dir>/logs/<name>/`` (or ``dest_dir``) and unpack it."""
    src = SOURCES.get(name)
    if src is None:
        raise LlmadError(f"unknown dataset to download {name!r}; choose one of {', '.join(SOURCES)}")
    folder = Path(dest_dir) if dest_dir else data_dir() / "logs" / name
    dest = folder / src.filename
    if dest.is_file() and not (md5 or sha256):
        result = {"path": str(dest), "bytes": dest.stat().st_size, "resumed_from": None, "already_there": True}
    else:
        result = fetch(url or src.url, dest, md5 or src.md5, sha256 or src.sha256, progress)
    result["unpacked"] = extract(dest, folder) if unpack else []
    result["note"] = src.note
    return result


