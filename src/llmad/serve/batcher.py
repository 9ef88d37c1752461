"""A bounded queue in front of one scoring thread, with micro-batching.

Requests wait as jobs; the scorer takes the first, then any job-record requests that arrived within
``wait_s`` (up to ``batch_records`` records), and scores them in ONE call — records of different requests
never share run context, because each request's run ids are tagged with its job number first. A job is
admitted only while the records waiting stay under ``queue_records``; beyond, :class:`Overloaded` (429).
After :meth:`close` no job is admitted (:class:`ShuttingDown`, 503) and the accepted ones are finished.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


class Overloaded(Exception):
    def __init__(self, queued: int, limit: int):
        super().__init__(f"{queued:,} records are waiting (limit {limit:,}); retry shortly")
        self.retry_after = 1


class ShuttingDown(Exception):
    retry_after = 5


@dataclass
class Job:
    kind: str                     # "records" (micro-batched) or any other kind (run alone)
    n: int                        # records it holds (queue accounting)
    payload: Any
    fn: Callable[[Any], Any] | None = None
    future: asyncio.Future = field(default=None)  # type: ignore[assignment]


class MicroBatcher:
    def __init__(self, score_records: Callable[[pd.DataFrame], pd.DataFrame], queue_records: int,
                 batch_records: int, wait_s: float, on_batch: Callable[[int, int], None] | None = None):
        self.score_records = score_records
        self.queue_records = queue_records
        self.batch_records = batch_records
        self.wait_s = wait_s
        self.on_batch = on_batch or (lambda n_jobs, n_records: None)
        self.queued = 0
        self.closed = False
        self._q: asyncio.Queue[Job] | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmad-scorer")
        self._ids = itertools.count()
        self._lock = threading.Lock()

    async def start(self) -> None:
        self._q = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def submit(self, kind: str, n: int, payload: Any, fn: Callable[[Any], Any] | None = None) -> Any:
        if self.closed or self._q is None:
            raise ShuttingDown("the service is shutting down")
        if self.queued + n > self.queue_records:
            raise Overloaded(self.queued, self.queue_records)
        job = Job(kind, n, payload, fn, asyncio.get_running_loop().create_future())
        self.queued += n
        await self._q.put(job)
        return await job.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._q is not None
        while True:
            job = await self._q.get()
            if job.kind == "stop":
                break
            batch = [job]
            if job.kind == "records":
                total = job.n
                deadline = loop.time() + self.wait_s
                while total < self.batch_records:
                    timeout = deadline - loop.time()
                    try:
                        nxt = self._q.get_nowait() if timeout <= 0 else await asyncio.wait_for(self._q.get(), timeout)
                    except (asyncio.TimeoutError, asyncio.QueueEmpty):
                        break
                    if nxt.kind != "records" or total + nxt.n > self.batch_records:
                        self._q.put_nowait(nxt)  # it runs after this batch (behind any job queued since)
                        break
                    batch.append(nxt)
                    total += nxt.n
            try:
                if job.kind == "records":
                    results = await loop.run_in_executor(self._pool, self._score_batch, [j.payload for j in batch])
                else:
                    results = [await loop.run_in_executor(self._pool, job.fn, job.payload)]
                for j, r in zip(batch, results):
                    if not j.future.done():
                        j.future.set_result(r)
            except Exception as e:  # the scorer failed: every request of the batch hears it
                for j in batch:
                    if not j.future.done():
                        j.future.set_exception(e)
            finally:
                self.queued -= sum(j.n for j in batch)
                self.on_batch(len(batch), sum(j.n for j in batch))

    def _score_batch(self, tables: list[pd.DataFrame]) -> list[pd.DataFrame]:
        if len(tables) == 1:
            return [self.score_records(tables[0])]
        tagged = []
        for k, t in enumerate(tables):
            t = t.copy()
            if "run_id" in t.columns:  # run context stays inside each request
                t["run_id"] = [f"{k}\x1f{r}" for r in t["run_id"].astype(str)]
            else:
                t["run_id"] = str(k)
            tagged.append(t)
        scored = self.score_records(pd.concat(tagged, ignore_index=True))
        out, at = [], 0
        for t in tables:
            out.append(scored.iloc[at: at + len(t)].reset_index(drop=True))
            at += len(t)
        return out

    async def close(self, grace_s: float) -> None:
        """Admit nothing more; finish what was accepted (within ``grace_s``)."""
        self.closed = True
        if self._q is None or self._task is None:
            return
        await self._q.put(Job("stop", 0, None))
        try:
            await asyncio.wait_for(self._task, grace_s)
        except asyncio.TimeoutError:
            self._task.cancel()
        self._pool.shutdown(wait=True)
