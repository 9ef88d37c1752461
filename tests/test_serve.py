"""The detection service against real HTTP on loopback (uvicorn in a thread) and FastAPI's TestClient."""

import asyncio
import json
import threading
import time
from contextlib import contextmanager

import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from llmad import LlmadError, runs  # noqa: E402
from llmad.serve import ServeConfig, check_host, create_app, read_token  # noqa: E402
from llmad.serve.scorer import Scorer  # noqa: E402

TOKEN = "t0ken-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def job_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("gbdt")
    runs.train("flowbench/sample", "gbdt", {"features": "context", "n_estimators": 40}, out=out)
    return out


@pytest.fixture(scope="module")
def records(sample):
    return json.loads(sample.head(200).to_json(orient="records"))


@pytest.fixture(scope="module")
def tb_model(tmp_path_factory):
    from conftest import shared_data

    if shared_data() is None:
        pytest.skip("shared log data not found")
    out = tmp_path_factory.mktemp("tb")
    runs.train("logs/thunderbird", "tfidf", out=out)
    return out


@contextmanager
def live(app):
    """The app served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           timeout_graceful_shutdown=10))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        t.join(30)


def slow_scorer(model, seconds: float) -> Scorer:
    """A real scorer that takes ``seconds`` longer per batch (to fill the queue on purpose)."""
    scorer = Scorer(model)
    real = scorer.score_records
    scorer.score_records = lambda t: (time.sleep(seconds), real(t))[1]
    return scorer


def post_many(url: str, body: dict, n: int) -> list:
    """``n`` concurrent POSTs of ``body`` to /v1/detect."""
    async def fire():
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/detect", json=body) for _ in range(n)))

    return asyncio.run(fire())


def test_openapi_documents_every_endpoint(job_model):
    with TestClient(create_app(job_model)) as c:
        spec = c.get("/openapi.json").json()
        for path in ("/v1/detect", "/v1/stream", "/healthz", "/readyz", "/metrics", "/v1/model"):
            assert path in spec["paths"], path
        detect = spec["paths"]["/v1/detect"]["post"]
        assert {"200", "413", "429", "503"} <= set(detect["responses"])
        assert "DetectRequest" in json.dumps(detect["requestBody"])
        assert c.get("/docs").status_code == 200


def test_detect_scores_good_records_and_reports_bad_ones(job_model, records):
    recs = [dict(r) for r in records[:6]]
    recs[1]["runtime"] = "fast"
    del recs[2]["queue_delay"]
    recs[3] = "not a record"
    with TestClient(create_app(job_model)) as c:
        j = c.post("/v1/detect", json={"records": recs}).json()
    assert [r["index"] for r in j["results"]] == [0, 4, 5]
    assert {(e["index"], e["field"]) for e in j["errors"]} == {(1, "runtime"), (2, "queue_delay"), (3, None)}
    # the good ones score exactly as the run API scores them, given alone
    import pandas as pd

    alone = runs.score(str(job_model), pd.DataFrame.from_records([recs[i] for i in (0, 4, 5)]))
    assert [r["score"] for r in j["results"]] == pytest.approx(alone["score"].tolist())
    assert all(r["label"] == int(r["score"] >= j["threshold"]) for r in j["results"])
    # these are jobs of a run the model has seen: the response says which part held it
    run = recs[0]["run_id"]
    part = next(p for p in ("train", "valid", "test")
                if run in set(runs.prepare("flowbench/sample", seed=0).part(p)["run_id"].astype(str)))
    assert [r["run"] for r in j["results"]] == [run] * 3
    assert part != "test"  # the sample's first run is a training run (seed 0): the check below means something
    assert j["seen"][part] == {"rows": 3, "keys": 1, "examples": [run]}


def test_auth_refuses_missing_and_wrong_tokens(job_model, records, monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    with TestClient(create_app(job_model, token=TOKEN)) as c:
        body = {"records": records[:3]}
        assert c.post("/v1/detect", json=body).status_code == 401
        assert c.post("/v1/detect", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/v1/detect", json=body, headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
        assert c.post("/v1/detect", json=body, headers={"Authorization": TOKEN}).status_code == 401
        r = c.get("/metrics")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.post("/v1/detect", json=body, headers=AUTH).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
    assert calls, "tokens are compared with hmac.compare_digest (constant time)"


def test_no_token_no_public_host(tmp_path, monkeypatch):
    with pytest.raises(LlmadError, match="without a token"):
        check_host("0.0.0.0", None)
    check_host("127.0.0.1", None)
    check_host("0.0.0.0", TOKEN)
    monkeypatch.setenv("LLMAD_API_TOKEN", "short")
    with pytest.raises(LlmadError, match="at least 16"):
        read_token()
    (tmp_path / "tok").write_text(TOKEN + "\n")
    assert read_token(tmp_path / "tok") == TOKEN
    import subprocess
    import sys

    monkeypatch.delenv("LLMAD_API_TOKEN")
    r = subprocess.run([sys.executable, "-m", "llmad.cli", "serve", str(tmp_path), "--host", "0.0.0.0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "without a token" in r.stderr and "Traceback" not in r.stderr


def test_limits_answer_413_naming_the_limit(job_model, records):
    cfg = ServeConfig(max_body_bytes=20_000, max_records=50, queue_records=100)
    with TestClient(create_app(job_model, cfg)) as c:
        r = c.post("/v1/detect", json={"records": records[:60]})
        assert r.status_code == 413 and "20,000 bytes" in r.json()["error"]

        def chunks():  # no Content-Length: read with a cap
            data = json.dumps({"records": records[:60]}).encode()
            for i in range(0, len(data), 4096):
                yield data[i:i + 4096]

        r = c.post("/v1/detect", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
    with TestClient(create_app(job_model, ServeConfig(max_records=50, queue_records=100))) as c:
        r = c.post("/v1/detect", json={"records": records[:51]})
        assert r.status_code == 413 and "limit of 50" in r.json()["error"]
        assert c.post("/v1/detect", json={"records": records[:50]}).status_code == 200


def test_overload_answers_429_and_loses_nothing(job_model, records):
    cfg = ServeConfig(max_records=20, queue_records=40, batch_records=20)
    app = create_app(slow_scorer(job_model, 0.3), cfg)
    with live(app) as (url, _):
        answers = post_many(url, {"records": records[:20]}, 12)
        metrics = httpx.get(url + "/metrics").text
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 429} and codes.count(200) >= 2 and codes.count(429) >= 1, codes
    for a in answers:
        if a.status_code == 200:  # every accepted request answered in full
            assert [r["index"] for r in a.json()["results"]] == list(range(20))
        else:
            assert a.headers["retry-after"] == "1" and "limit" in a.json()["error"]
    assert 'llmad_errors_total{kind="overloaded"}' in metrics
    assert f"llmad_records_scored_total {20.0 * codes.count(200)}" in metrics


def test_micro_batches_keep_run_context_per_request(job_model, records):
    """Requests scored together in one batch give what each gives alone."""
    scorer = Scorer(job_model)
    cfg = ServeConfig(batch_wait_ms=200)
    app = create_app(scorer, cfg)
    a, b = records[:30], records[30:60]

    async def both(url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(client.post("/v1/detect", json={"records": a}),
                                        client.post("/v1/detect", json={"records": b}))

    with live(app) as (url, _):
        ra, rb = asyncio.run(both(url))
        batches = httpx.get(url + "/metrics").text
    import pandas as pd

    for got, recs in ((ra, a), (rb, b)):
        alone = runs.score(str(job_model), pd.DataFrame.from_records(recs))
        assert [r["score"] for r in got.json()["results"]] == pytest.approx(alone["score"].tolist())
    assert "llmad_batch_requests_bucket" in batches


def test_graceful_shutdown_finishes_accepted_work(job_model, records):
    app = create_app(slow_scorer(job_model, 1.0))
    result = {}
    with live(app) as (url, server):
        def call():
            result["r"] = httpx.post(url + "/v1/detect", json={"records": records[:10]}, timeout=30)

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.3)
        server.should_exit = True  # what SIGTERM does
        t.join(30)
    assert result["r"].status_code == 200 and len(result["r"].json()["results"]) == 10


def test_record_stream_keeps_run_state_across_requests(job_model, records):
    first, second = records[:100], records[100:140]
    nd = lambda rs: "".join(json.dumps(r) + "\n" for r in rs)  # noqa: E731
    with TestClient(create_app(job_model)) as c:
        c.post("/v1/stream?stream=a", content=nd(first))
        kept = [json.loads(x) for x in c.post("/v1/stream?stream=a", content=nd(second)).text.splitlines()]
        fresh = [json.loads(x) for x in c.post("/v1/stream?stream=b", content=nd(second)).text.splitlines()]
        assert c.delete("/v1/stream/a").status_code == 200 and c.delete("/v1/stream/a").status_code == 404
    (summary,) = [r for r in kept if r["type"] == "summary"]
    assert kept[-1] == summary and summary["stream"] == "a"
    kept, fresh = kept[:-1], fresh[:-1]
    assert [r["id"] for r in kept] == [r["id"] for r in fresh] == [str(r["job_id"]) for r in second]
    assert any(abs(x["score"] - y["score"]) > 1e-9 for x, y in zip(kept, fresh)), \
        "the earlier jobs of the run (first request) change the context of later ones"
    assert all(r["type"] == "result" for r in kept)
    # the summary names the runs of this request that the model was trained or validated on, as /v1/detect does
    prepared = runs.prepare("flowbench/sample", seed=0)
    sent = pd.Series([str(r["run_id"]) for r in second])
    expect = {}
    for part in ("train", "valid"):
        held = sent[sent.isin(set(prepared.part(part)["run_id"].astype(str)))]
        if len(held):
            expect[part] = {"rows": len(held), "keys": held.nunique(), "examples": pd.unique(held).tolist()[:3]}
    assert expect, "the sample's first runs are training runs: the check below means something"
    assert {k: v for k, v in summary["seen"].items() if k in ("train", "valid")} == expect


def test_log_stream_windows_across_requests(tb_model):
    from conftest import shared_data

    path = shared_data().parent / "logs" / "thunderbird" / "thunderbird_20051115_slice.log"
    lines = path.read_text().splitlines()[:65]
    nd = lambda ls: "".join(json.dumps({"line": x}) + "\n" for x in ls)  # noqa: E731
    with TestClient(create_app(tb_model)) as c:
        got = []
        for chunk in (lines[:30], lines[30:50] + ["not a thunderbird line"], lines[50:65]):
            got += [json.loads(x) for x in c.post("/v1/stream?stream=s", content=nd(chunk)).text.splitlines()]
        got += [json.loads(x) for x in c.post("/v1/stream?stream=s&flush=true", content="").text.splitlines()]
        whole = c.post("/v1/detect", json={"lines": lines}).json()
    windows = [g for g in got if g["type"] == "window"]
    assert [(w["first_line"], w["last_line"], w["n_lines"]) for w in windows] == \
        [(1, 20, 20), (21, 40, 20), (41, 61, 20), (62, 66, 5)]  # stream line 51 did not parse
    assert [g["index"] for g in got if g["type"] == "error"] == [20]
    # fixed windows of a stream have no file to match line ranges against: nothing is claimed as seen
    assert [g["seen"] for g in got if g["type"] == "summary"] == [None] * 4
    # windows 1 and 2 are the same lines as the one-shot request's, so they score the same
    assert [w["score"] for w in windows[:2]] == pytest.approx([r["score"] for r in whole["results"][:2]])


def test_detect_refuses_the_wrong_kind_of_input(job_model, tb_model):
    with TestClient(create_app(job_model)) as c:
        r = c.post("/v1/detect", json={"lines": ["a"]})
        assert r.status_code == 400 and "job records" in r.json()["error"]
        assert c.post("/v1/detect", json={}).status_code == 400
    with TestClient(create_app(tb_model)) as c:
        assert c.post("/v1/detect", json={"records": [{}]}).status_code == 400


def test_too_many_requests_in_progress_get_429_before_their_body_is_read(job_model, records):
    app = create_app(slow_scorer(job_model, 0.5), ServeConfig(max_inflight=2))
    with live(app) as (url, _):
        answers = post_many(url, {"records": records[:5]}, 6)
        assert httpx.get(url + "/healthz").status_code == 200  # health is never refused
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) >= 2 and codes.count(429) >= 1 and set(codes) <= {200, 429}
    assert all("limit 2" in a.json()["error"] for a in answers if a.status_code == 429)
