"""Load test of `llmad serve` over real HTTP on loopback (async httpx), bounded in count and time.

1. capacity: C closed-loop clients for T seconds → requests / s the service completes;
2. sustainable: open loop (requests sent on a fixed schedule, whatever the answers) at 80 % of capacity
   for T seconds → throughput, p50 / p99 latency; every request should be answered 200;
3. overload: open loop at 2x capacity for T seconds → how many were answered in full, refused cleanly
   (429 / 503 with Retry-After) or lost (timeouts, dropped connections, other statuses): lost must be 0.

    python benchmarks/serve_load.py                       # gbdt + context on the packaged sample
    python benchmarks/serve_load.py --model runs/sft --records 20 --duration 15 --out runs/serve_load.json

The server runs as a separate process (`python -m llmad.cli serve ...`) with a token, like in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def payload(n: int) -> dict:
    from llmad.data.flowbench import load_workflow

    t = load_workflow("sample")
    return {"records": json.loads(t.head(n).to_json(orient="records"))}


async def closed_loop(client, body, clients: int, seconds: float) -> dict:
    done, t_end = [], time.perf_counter() + seconds

    async def worker():
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            r = await client.post("/v1/detect", json=body)
            done.append((r.status_code, time.perf_counter() - t0))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - t0
    ok = [d for s, d in done if s == 200]
    return {"requests": len(done), "ok": len(ok), "seconds": round(wall, 2), "rate": len(ok) / wall}


async def open_loop(client, body, rate: float, seconds: float, n_records: int, max_requests: int) -> dict:
    n = min(int(rate * seconds), max_requests)
    results: list[tuple[str, float]] = []

    async def one():
        t0 = time.perf_counter()
        try:
            r = await client.post("/v1/detect", json=body)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            results.append((f"lost:{type(e).__name__}", time.perf_counter() - t0))
            return
        if r.status_code == 200:
            full = len(r.json()["results"]) == n_records
            results.append(("ok" if full else "lost:partial", time.perf_counter() - t0))
        elif r.status_code in (429, 503) and r.headers.get("retry-after"):
            results.append((f"refused:{r.status_code}", time.perf_counter() - t0))
        else:
            results.append((f"lost:{r.status_code}", time.perf_counter() - t0))

    tasks = []
    t0 = time.perf_counter()
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    lat = np.array([d for s, d in results if s == "ok"])
    kinds: dict[str, int] = {}
    for s, _ in results:
        kinds[s] = kinds.get(s, 0) + 1
    return {"offered_rate": round(rate, 1), "sent": n, "seconds": round(wall, 2),
            "answered": kinds.get("ok", 0), "refused": sum(v for k, v in kinds.items() if k.startswith("refused")),
            "lost": sum(v for k, v in kinds.items() if k.startswith("lost")), "by_outcome": kinds,
            "throughput": round(kinds.get("ok", 0) / wall, 1),
            "records_per_s": round(kinds.get("ok", 0) * n_records / wall, 0),
            "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1) if len(lat) else None,
            "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 1) if len(lat) else None}


async def run(args, url: str, token: str) -> dict:
    body = payload(args.records)
    limits = httpx.Limits(max_connections=args.max_connections, max_keepalive_connections=args.max_connections)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=args.timeout,
                                 limits=limits) as client:
        await closed_loop(client, body, args.clients, 2.0)  # warm-up
        cap = await closed_loop(client, body, args.clients, args.duration)
        sustainable = await open_loop(client, body, 0.8 * cap["rate"], args.duration, args.records, args.max_requests)
        overload = await open_loop(client, body, 2.0 * cap["rate"], args.duration, args.records, args.max_requests)
        metrics = (await client.get("/metrics")).text
    scored = [line for line in metrics.splitlines() if line.startswith("llmad_records_scored_total")]
    return {"capacity": cap, "sustainable": sustainable, "overload_2x": overload,
            "server_records_scored": scored[0].split()[-1] if scored else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="A trained detector folder (default: gbdt + context on the packaged sample).")
    ap.add_argument("--records", type=int, default=50, help="Job records per request.")
    ap.add_argument("--clients", type=int, default=8, help="Closed-loop clients for the capacity phase.")
    ap.add_argument("--duration", type=float, default=15.0, help="Seconds per phase.")
    ap.add_argument("--max-requests", type=int, default=20000, help="Most requests per open-loop phase.")
    ap.add_argument("--max-connections", type=int, default=512)
    ap.add_argument("--timeout", type=float, default=30.0, help="Client timeout per request (s).")
    ap.add_argument("--queue-records", type=int, default=2000,
                    help="The server's queue bound (records waiting): what makes overload refuse early.")
    ap.add_argument("--out", type=Path, help="Also write the JSON here.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmad-load-") as tmp:
        model = args.model
        if model is None:
            from llmad import runs

            model = f"{tmp}/gbdt"
            runs.train("flowbench/sample", "gbdt", {"features": "context"}, out=model)
        token = secrets.token_hex(16)
        port = free_port()
        env = {**os.environ, "LLMAD_API_TOKEN": token}
        server = subprocess.Popen([sys.executable, "-m", "llmad.cli", "serve", str(model), "--port", str(port),
                                   "--queue-records", str(args.queue_records),
                                   "--max-records", str(max(args.records, 1))],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None:
                    raise SystemExit(f"server exited: {server.stderr.read()}")
                time.sleep(0.1)
            res = asyncio.run(run(args, url, token))
        finally:
            server.terminate()
            server.wait(30)
    from llmad.detectors.base import versions

    res.update({"command": "python " + " ".join(sys.argv), "records_per_request": args.records,
                "clients": args.clients, "duration_s": args.duration, "queue_records": args.queue_records,
                "cpus": os.cpu_count(), "versions": versions()})
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
