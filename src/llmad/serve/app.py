"""The detection service: a FastAPI app over one trained detector (``llmad serve DIR``).

- ``POST /v1/detect``: ``{"records": [...]}`` (job records) or ``{"lines": [...]}`` (raw log lines of a
  log model) → scores and labels; bad items come back one by one in ``errors`` and the rest are scored.
- ``POST /v1/stream?stream=ID[&flush=true]``: NDJSON in (one job record object, or one ``{"line": ...}`` /
  JSON string per line), NDJSON out (one result per job, or per window / session that closed, then any
  errors, then one ``summary`` whose ``seen`` names the runs / sessions of this request that the model was
  trained or validated on); the stream's run or window state is kept across requests. ``DELETE /v1/stream/ID`` forgets a stream.
- ``GET /healthz`` (alive), ``GET /readyz`` (model loaded, accepting work), ``GET /metrics`` (Prometheus),
  ``GET /v1/model``; OpenAPI at ``/openapi.json`` and ``/docs``.

Bearer-token auth on everything but ``/healthz`` and ``/readyz`` when a token is configured; bodies over
``max_body_bytes`` and requests over ``max_records`` get 413 naming the limit; a full queue 429 and a
service shutting down 503, both with ``Retry-After``.
"""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from llmad import LlmadError, __version__
from llmad.serve.batcher import MicroBatcher, Overloaded, ShuttingDown
from llmad.serve.config import ServeConfig, token_matches
from llmad.serve.inputs import check_lines, check_records
from llmad.serve.scorer import Scorer, plain_value, record_results

OPEN_PATHS = ("/healthz", "/readyz")


class DetectRequest(BaseModel):
    records: list[Any] | None = Field(None, description="Job records (Flow-Bench columns; the nine paper "
                                                        "features are required, null when unknown).")
    lines: list[Any] | None = Field(None, description="Raw log lines, in order (a log model).")


class ItemError(BaseModel):
    index: int
    field: str | None = None
    reason: str


class DetectResponse(BaseModel):
    results: list[dict[str, Any]]
    errors: list[ItemError]
    threshold: float
    read: dict[str, Any] | None = None
    #: which of these records / windows the model was trained or validated on (llmad.overlap.check), if any
    seen: dict[str, Any] | None = None


class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("llmad_requests", "HTTP requests", ["path", "status"], registry=self.registry)
        self.latency = Histogram("llmad_request_seconds", "Request latency", ["path"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.queue = Gauge("llmad_queue_records", "Records accepted and waiting to be scored",
                           registry=self.registry)
        self.scored = Counter("llmad_records_scored", "Records scored", registry=self.registry)
        self.errors = Counter("llmad_errors", "Errors", ["kind"], registry=self.registry)
        self.batches = Histogram("llmad_batch_requests", "Requests per micro-batch", registry=self.registry,
                                 buckets=(1, 2, 4, 8, 16, 32, 64))


def _error(status: int, message: str, retry_after: int | None = None, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


class BodyLimit:
    """Pure ASGI middleware: refuse a body over ``limit`` bytes with 413 before the app reads it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_big = _error(413, f"request body over the limit of {self.limit:,} bytes", limit_bytes=self.limit)
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await too_big(scope, receive, send)
        if length is None and scope.get("method") in ("POST", "PUT", "PATCH"):  # chunked: read with a cap
            chunks, size, more = [], 0, True
            while more:
                msg = await receive()
                if msg["type"] != "http.request":
                    break
                size += len(msg.get("body", b""))
                if size > self.limit:
                    return await too_big(scope, receive, send)
                chunks.append(msg.get("body", b""))
                more = msg.get("more_body", False)
            body = b"".join(chunks)
            sent = False

            async def replay():
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await self.app(scope, replay, send)
        return await self.app(scope, receive, send)


def create_app(model: str | Path | Scorer, config: ServeConfig | None = None, token: str | None = None) -> FastAPI:
    cfg = config or ServeConfig()
    scorer = model if isinstance(model, Scorer) else Scorer(model, cfg.max_streams, cfg.stream_max_records)
    metrics = Metrics()

    def on_batch(n_jobs: int, n_records: int) -> None:
        metrics.batches.observe(n_jobs)
        metrics.scored.inc(n_records)

    batcher = MicroBatcher(scorer.score_records, cfg.queue_records, cfg.batch_records, cfg.batch_wait_ms / 1000,
                           on_batch)
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        state["ready"] = True
        yield
        state["ready"] = False  # graceful: refuse new work, finish what was accepted
        await batcher.close(cfg.shutdown_grace_s)

    app = FastAPI(title="llmad", version=__version__, lifespan=lifespan,
                  description="Anomaly detection in workflow job records and system logs.")
    app.state.scorer, app.state.batcher, app.state.metrics, app.state.config = scorer, batcher, metrics, cfg

    inflight = {"n": 0}
    routes: set[str] = set()

    def route(path: str) -> str:
        """The metrics label of a path: a known route, or ``other`` (no unbounded label values)."""
        if not routes:
            routes.update(r.path for r in app.routes)
        return path if path in routes else "/v1/stream" if path.startswith("/v1/stream") else "other"

    @app.middleware("http")
    async def auth_and_measure(request: Request, call_next):
        path = request.url.path
        t0 = time.perf_counter()
        if path not in OPEN_PATHS and path != "/metrics" and inflight["n"] >= cfg.max_inflight:
            metrics.errors.labels("overloaded").inc()
            metrics.requests.labels(route(path), "429").inc()
            return _error(429, f"{inflight['n']} requests in progress (limit {cfg.max_inflight}); retry shortly", 1)
        inflight["n"] += 1
        try:
            return await _handle(request, call_next, path, t0)
        finally:
            inflight["n"] -= 1

    async def _handle(request: Request, call_next, path: str, t0: float):
        if token is not None and path not in OPEN_PATHS:
            header = request.headers.get("authorization", "")
            given = header[7:] if header[:7].lower() == "bearer " else None
            if not token_matches(given, token):
                metrics.errors.labels("auth").inc()
                resp = _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)")
                resp.headers["WWW-Authenticate"] = "Bearer"
                metrics.requests.labels(route(path), "401").inc()
                return resp
        resp = await call_next(request)
        known = route(path)
        metrics.requests.labels(known, str(resp.status_code)).inc()
        metrics.latency.labels(known).observe(time.perf_counter() - t0)
        return resp

    async def submit(kind: str, n: int, payload: Any, fn=None):
        try:
            return await batcher.submit(kind, n, payload, fn)
        finally:
            metrics.queue.set(batcher.queued)

    def refused(e: Exception) -> JSONResponse:
        if isinstance(e, Overloaded):
            metrics.errors.labels("overloaded").inc()
            return _error(429, str(e), e.retry_after)
        metrics.errors.labels("shutting_down").inc()
        return _error(503, "the service is shutting down; retry on another instance", ShuttingDown.retry_after)

    def too_many(n: int) -> JSONResponse:
        return _error(413, f"{n:,} records in one request, over the limit of {cfg.max_records:,}",
                      limit_records=cfg.max_records)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        if not state["ready"] or batcher.closed:
            return _error(503, "not ready", 1)
        return {"status": "ready", "queue_records": batcher.queued}

    @app.get("/metrics")
    async def prometheus():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        metrics.queue.set(batcher.queued)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/model")
    async def model_info():
        return {**scorer.describe(), "llmad_version": __version__}

    def seen_in(results: list[dict]) -> dict | None:
        """What of this request's records (by run) or sessions the model has seen: each request on its own, since
        a micro-batch mixes requests."""
        import pandas as pd

        from llmad import overlap

        return overlap.check(scorer.det, pd.DataFrame(results)) if results else None

    @app.post("/v1/detect", response_model=DetectResponse,
              responses={400: {"description": "not the kind of input this model reads"},
                         413: {"description": "body or record count over the limit"},
                         429: {"description": "queue full: retry after Retry-After seconds"},
                         503: {"description": "shutting down"}})
    async def detect(req: DetectRequest):
        if (req.records is None) == (req.lines is None):
            return _error(400, "give exactly one of 'records' (job records) or 'lines' (raw log lines)")
        items = req.records if req.records is not None else req.lines
        if len(items) > cfg.max_records:
            return too_many(len(items))
        if scorer.logs != (req.lines is not None):
            return _error(400, f"this model reads {'log lines' if scorer.logs else 'job records'}: send "
                               f"'{'lines' if scorer.logs else 'records'}'")
        try:
            if scorer.logs:
                good, _, errors = check_lines(items, scorer.fmt)
                if not good:
                    return {"results": [], "errors": errors, "threshold": scorer.det.threshold_, "read": None}
                scored, read = await submit("lines", len(good), good, lambda g: scorer.score_lines(g))
                results = [{k: plain_value(v) for k, v in row.items() if k not in ("window_id", "source")}
                           for row in scored.to_dict("records")]
                return {"results": results, "errors": errors, "threshold": scorer.det.threshold_, "read": read,
                        "seen": seen_in(results)}
            table, where, errors = check_records(items)
            if not where:
                return {"results": [], "errors": errors, "threshold": scorer.det.threshold_}
            scored = await submit("records", len(where), table)
        except (Overloaded, ShuttingDown) as e:
            return refused(e)
        except LlmadError as e:
            metrics.errors.labels("input").inc()
            return _error(400, str(e))
        results = record_results(scored, where)
        return {"results": results, "errors": errors, "threshold": scorer.det.threshold_, "seen": seen_in(results)}

    @app.post("/v1/stream", responses={200: {"content": {"application/x-ndjson": {}},
                                             "description": "one JSON object per line: a result or an error"}})
    async def stream(request: Request, stream: str = Query(..., min_length=1, max_length=200,
                                                           description="Stream id: state is kept per id."),
                     flush: bool = Query(False, description="Close every open window / session of a log stream.")):
        body = await request.body()
        items, errors = [], []
        for i, raw in enumerate(body.decode("utf-8", errors="replace").splitlines()):
            if not raw.strip():
                continue
            try:
                items.append((i, json.loads(raw)))
            except json.JSONDecodeError as e:
                errors.append({"index": i, "field": None, "reason": f"invalid JSON at column {e.colno}: {e.msg}"})
        if len(items) > cfg.max_records:
            return too_many(len(items))
        try:
            if scorer.logs:
                raw_lines = [(i, x.get("line") if isinstance(x, dict) else x) for i, x in items]
                good, where, bad = check_lines([x for _, x in raw_lines], scorer.fmt)
                errors += [{**e, "index": raw_lines[e["index"]][0]} for e in bad]
                out, info = await submit("stream", len(good), (stream, good, flush, where, len(raw_lines)),
                                         lambda p: scorer.stream_lines(*p))
                lines = [{"type": "window", **r} for r in out]
                summary = {"type": "summary", "stream": stream, **info, "seen": seen_in(out)}
            else:
                table, where, bad = check_records([x for _, x in items])
                errors += [{**e, "index": items[e["index"]][0]} for e in bad]
                lines, results = [], []
                if where:
                    scored = await submit("stream", len(where), (stream, table),
                                          lambda p: scorer.stream_records(*p))
                    results = record_results(scored, where)
                    lines = [{"type": "result", **r, "index": items[r["index"]][0]} for r in results]
                summary = {"type": "summary", "stream": stream, "seen": seen_in(results)}
        except (Overloaded, ShuttingDown) as e:
            return refused(e)
        except LlmadError as e:
            metrics.errors.labels("input").inc()
            return _error(400, str(e))
        lines += [{"type": "error", **e} for e in errors] + [summary]
        return PlainTextResponse("".join(json.dumps(x) + "\n" for x in lines), media_type="application/x-ndjson")

    @app.delete("/v1/stream/{stream_id}")
    async def drop_stream(stream_id: str):
        dropped = await submit("drop", 0, stream_id, scorer.drop_stream)
        if not dropped:
            return _error(404, f"no stream {stream_id!r}")
        return {"dropped": stream_id}

    app.add_middleware(BodyLimit, limit=cfg.max_body_bytes)  # outermost: before auth reads anything
    return app
