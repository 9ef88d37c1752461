"""An in-context backend served over HTTP: any OpenAI-compatible ``/v1/completions`` endpoint.

vLLM, Ollama, llama.cpp's server (and ``xllamacpp``'s in-process one) speak it. Our prompts are plain text,
not chat turns, so the backend sends them to the *completions* endpoint, greedy (``temperature`` 0).

Scoring: one generated token with the ``logprobs`` most likely tokens at that position; a label's
log-probability is the log-sum of the tokens that begin it (`` Normal``, ``Normal``, `` Norm``, … at least
three characters, any case: `` No`` is not `` Normal``). A label absent from the returned tokens gets the smallest returned
log-probability (an upper bound) and is counted in ``missing``, never guessed silently. Both response
shapes are read: OpenAI's (``top_logprobs``: a list of {token: logprob}) and llama.cpp's
(``content``: a list of {token, logprob, top_logprobs}).

Prefix reuse is the server's: llama.cpp keeps the prompt cache of a slot (``cache_prompt``), vLLM its prefix
cache. ``reuse_prefix=False`` asks llama.cpp not to (``cache_prompt: false``), which is how the speed-up is
measured. Requests run ``parallel`` at a time.

The key comes from ``LLMAD_API_KEY`` (or ``OPENAI_API_KEY``) in the environment; it is sent as a bearer
token and never saved. The text of a record is untrusted: the fenced prompts apply unchanged.
"""

from __future__ import annotations

import json
import math
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from llmad import LlmadError

Progress = Callable[[int, int], None] | None
KEY_ENV = ("LLMAD_API_KEY", "OPENAI_API_KEY")


class RequestRefused(LlmadError):
    """The server refused one request for what it holds (HTTP 400, 413 or 422: e.g. a prompt longer than the
    model's context), not for the server's state: the caller names the record whose prompt it was."""

    def of_record(self, k: int) -> RequestRefused:
        """The same refusal, naming the record (0-based ``k``, said 1-based) whose prompt it was."""
        return RequestRefused(f"record {k + 1}: the server refused its prompt: {self}")


def _logsumexp(values: list[float]) -> float:
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def top_tokens(choice: dict) -> dict[str, float]:
    """{token: logprob} at the first generated position of one completion choice, either response shape."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        raise LlmadError("the server returned no logprobs; it must support 'logprobs' on /v1/completions")
    if lp.get("top_logprobs"):  # OpenAI: [{token: logprob, ...}, ...] per position
        first = lp["top_logprobs"][0]
        if isinstance(first, dict):
            return {str(k): float(v) for k, v in first.items()}
    content = lp.get("content")
    if content:  # llama.cpp / chat shape: [{token, logprob, top_logprobs: [{token, logprob}]}]
        return {str(t["token"]): float(t["logprob"]) for t in content[0].get("top_logprobs", [])}
    raise LlmadError(f"cannot read the logprobs the server returned: {json.dumps(lp)[:200]}")


def label_logprobs(tokens: dict[str, float], labels: Sequence[str]) -> tuple[list[float], int]:
    """Each label's log-probability from the top tokens, and how many labels were absent (floored)."""
    if not tokens:
        raise LlmadError("the server returned an empty logprobs list")
    floor = min(tokens.values())
    out, missing = [], 0
    for word in labels:
        hits = [v for t, v in tokens.items()
                if len(t.strip()) >= 3 and word.lower().startswith(t.strip().lower())]
        # a token that starts several labels (none here: Normal / Abnormal differ at once) would count for each
        if hits:
            out.append(_logsumexp(hits))
        else:
            out.append(floor)
            missing += 1
    return out, missing


class OpenAIServer:
    """Scores label words and generates through an OpenAI-compatible completions endpoint."""

    def __init__(self, base_url: str, model: str, *, top_logprobs: int = 20, timeout: float = 120.0,
                 parallel: int = 4):
        if not base_url.startswith(("http://", "https://")):
            raise LlmadError(f"base URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.name = model
        self.top_logprobs = top_logprobs
        self.timeout = timeout
        self.parallel = max(1, parallel)
        self.missing = 0  # labels absent from the returned top tokens, over this backend's life
        self.last_missing: np.ndarray | None = None  # labels floored, per query of the last ``score``
        self._key = next((os.environ[k] for k in KEY_ENV if os.environ.get(k)), None)

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        url = f"{self.base_url}{path}"
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:300]
            kind = RequestRefused if e.code in (400, 413, 422) else LlmadError
            raise kind(f"{url}: HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            raise LlmadError(f"cannot reach the server at {url}: {getattr(e, 'reason', e)}") from None
        except json.JSONDecodeError:
            raise LlmadError(f"{url}: the answer is not JSON") from None

    def _complete(self, prompt: str, max_tokens: int, logprobs: int | None, cache: bool) -> dict:
        body = {"model": self.name, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
        if logprobs:
            body["logprobs"] = logprobs
        if not cache:
            body["cache_prompt"] = False
        out = self._post("/completions", body)
        if not out.get("choices"):
            raise LlmadError(f"{self.base_url}/completions returned no choices: {json.dumps(out)[:200]}")
        return out["choices"][0]

    def score(self, prefix: str, queries: Sequence[str], labels: Sequence[str], *, batch_size: int = 8,
              reuse_prefix: bool = True, progress: Progress = None) -> np.ndarray:
        """(n, len(labels)) log-probabilities of each label word's first token after ``prefix + query``."""
        out = np.empty((len(queries), len(labels)), dtype="float64")
        self.last_missing = np.zeros(len(queries), dtype=int)

        def one(i: int):
            try:
                choice = self._complete(prefix + queries[i], 1, self.top_logprobs, reuse_prefix)
            except RequestRefused as e:
                raise e.of_record(i) from None
            return i, label_logprobs(top_tokens(choice), labels)

        done = 0
        with ThreadPoolExecutor(self.parallel) as pool:
            for i, (row, missing) in pool.map(one, range(len(queries))):
                out[i] = row
                self.missing += missing
                self.last_missing[i] = missing
                done += 1
                if progress and (done % batch_size == 0 or done == len(queries)):
                    progress(done, len(queries))
        return out

    def distributions(self, *args, **kwargs):
        raise LlmadError("kNN prompting needs the whole next-token distribution, which an HTTP server does not "
                         "return (only its top tokens); run the model in-process (no --base-url)")

    def check_prompts(self, prefix: str, queries: Sequence[str], extra: int = 0, what: str = "record") -> None:
        """Nothing to check here: the server knows its own context and answers a prompt too long for it with
        an error, which :meth:`score` reports with the record's number (and the chain of thought's loop too)."""

    def generate(self, prefix: str, query: str, max_new_tokens: int = 96, *, reuse_prefix: bool = True) -> str:
        """Greedy continuation of ``prefix + query`` (chain-of-thought reasoning), without the prompt (the server
        keeps its own prompt cache; ``reuse_prefix`` is for the in-process model)."""
        return str(self._complete(prefix + query, max_new_tokens, None, True).get("text", ""))
