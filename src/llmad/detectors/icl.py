"""``icl``: in-context learning — a prompted causal language model, no fine-tuning.

``fit`` learns only what a prompt needs, from the **training part**: the per-class feature statistics
(few-shot prompts), the demonstrations (their ids are saved), and the contextual-calibration bias (the
model's log-odds of Abnormal over Normal on a content-free record, ``N/A``). The threshold is chosen on a
stratified sample of the validation part (``max_valid``), as for every detector.

Score of a record: ``log P(Abnormal) - log P(Normal)`` of the label words' first tokens after the prompt,
minus the calibration bias when ``calibrate``; higher is more anomalous, so ROC-AUC and PR-AUC exist.
Saved as JSON only (``detector.json``): the model weights come from their package or folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from llmad import LlmadError
from llmad.detectors.base import Detector
from llmad.detectors.configs import ICLConfig
from llmad.icl import prompts as P
from llmad.icl.demos import balanced_anchors, fixed_demos, knn_pool, knn_vote, nearest

MEMO_MAX = 200_000  # remembered prompt scores per detector


class InContext(Detector):
    name = "icl"
    Config = ICLConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self._lm = None
        self._embedder = None
        self._pool = None  # knn demonstrations: the pool's texts as the prompt shows them, and their embeddings
        self._memo: dict[tuple[str, str], object] = {}  # (prefix, query) -> what scoring it gave
        self._anchor_state = None  # kNN prompting: (prefix, anchor probabilities, their negative entropies)
        self._vocab = None  # the injection guard's vocabulary, built from info_ when first needed

    @property
    def SCORES(self) -> str:  # noqa: N802 (the class attribute of other detectors)
        """Zero-shot, few-shot and chain of thought score the log-odds of the label words (Abnormal over Normal,
        less the calibration bias; over a server, a label word missing from its top tokens is floored), so they
        can join an ensemble; kNN prompting's score is a vote, an order only."""
        return "score" if self.config.scoring == "knn-prompting" else "log-odds"

    # -- pieces ------------------------------------------------------------------------------
    @property
    def prompt(self) -> P.Prompt:
        return P.get_prompt(self.config.prompt)

    def lm(self):
        if self._lm is None:
            c = self.config
            if c.base_url:
                from llmad.icl.http_backend import OpenAIServer

                self._lm = OpenAIServer(c.base_url, c.model, top_logprobs=c.top_logprobs, parallel=c.parallel)
            else:
                from llmad.icl.backend import CausalLM

                self._lm = CausalLM(c.model)
        return self._lm

    def _kind(self, x: pd.DataFrame) -> str:
        return "logs" if "messages" in x.columns else "jobs"

    def _record_texts(self, x: pd.DataFrame) -> list[str]:
        kind = self._kind(x)
        if kind != self.info_.get("kind", kind):
            raise LlmadError(f"this icl model was fitted on {self.info_['kind']}, not {kind}")
        if kind == "logs":
            return self.text_.transform(x)
        if "levels" in self.info_:
            from llmad.text.records import context_positions

            pos, kinds = context_positions(self._contextual(x), self.info_["levels"])
            return P.level_sentences(pos, kinds, self.info_["levels"]["fields"])
        if self.context_ is None:
            return P.job_sentences(x)
        x = self._contextual(x)
        return [f"{a}. {b}" for a, b in zip(P.job_sentences(x), P.context_sentences(x))]

    @staticmethod
    def _ids(x: pd.DataFrame) -> list[str]:
        for c in ("job_id", "window_id"):
            if c in x.columns:
                return x[c].astype(str).tolist()
        return [str(i) for i in range(len(x))]

    def _guarded(self, texts: list[str]) -> list[str]:
        """Record texts as the prompt shows them: through the vocabulary guard when the model has one."""
        if "vocabulary" not in self.info_:
            return texts
        vocab = self._vocabulary()
        return [t if t == P.CONTENT_FREE else vocab(t) for t in texts]  # calibration's probe stays N/A

    def _vocabulary(self):
        if self._vocab is None:
            from llmad.icl.guard import Vocabulary

            self._vocab = Vocabulary(self.info_["vocabulary"], drop=self.info_.get("guard") == "vocabulary-drop")
        return self._vocab

    def _few(self) -> bool:
        return self.prompt.few and self.config.shots > 0

    def _prefix(self) -> str:
        fixed = self.info_.get("demos", [])
        demos = list(zip(self._guarded([d["text"] for d in fixed]), [d["label"] for d in fixed]))
        return P.prefix(self.prompt, self.info_["kind"], self.info_.get("stats"), demos,
                        "levels" if "levels" in self.info_ else "delays",
                        guard="vocabulary" in self.info_ and self.info_.get("guard") != "vocabulary-drop")

    # -- fit ---------------------------------------------------------------------------------
    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame | None, progress=None) -> None:
        c = self.config
        kind = self._kind(train)
        self.info_ = {"kind": kind, "prompt": self.prompt.name, "prompt_version": self.prompt.version}
        if kind == "logs":
            from llmad.text.layer import WindowText

            self.text_ = WindowText.for_table(train, words=True).fit(train)
        self._fit_context(train, kind == "jobs" and c.context != "none")
        if kind == "jobs" and c.job_text == "levels":
            from llmad.text.records import fit_context_codes

            self.info_["levels"] = fit_context_codes(self._contextual(train))
        texts = self._record_texts(train)
        self._vocab, self._pool = None, None
        if c.guard != "none":
            from llmad.icl.guard import Vocabulary

            self._vocab = Vocabulary.fit(texts, drop=c.guard == "vocabulary-drop")
            self.info_["guard"] = c.guard
            self.info_["vocabulary"] = self._vocab.to_list()
        y = train["label"].to_numpy().astype(int)
        ids = self._ids(train)
        if self.prompt.few:
            self.info_["stats"] = P.class_statistics(train)
            self.info_["stats_from"] = f"train part ({len(train)} records)"
        if self._few() and c.demos != "knn":
            ix = fixed_demos(y, c.shots, c.demos, c.seed)
            self.info_["demos"] = [{"id": ids[i], "text": texts[i], "label": int(y[i])} for i in ix]
        elif self._few():
            ix = knn_pool(y, c.knn_pool, c.seed)
            self.info_["knn_pool"] = [{"id": ids[i], "text": texts[i], "label": int(y[i])} for i in ix]
        self.info_["bias"] = 0.0
        if c.scoring == "knn-prompting":
            ix = balanced_anchors(y, c.anchors, c.seed)
            self.info_["anchors"] = [{"id": ids[i], "text": texts[i], "label": int(y[i])} for i in ix]
            self.info_["calibration"] = "none: kNN prompting compares distributions, the label-word bias cancels"
            self._anchor_state = None
            self._anchors(progress)
        elif c.calibrate:
            score = self._cot if self.prompt.cot else self._logodds
            self.info_["bias"] = float(score([P.CONTENT_FREE])[0])

    def _tuning_sample(self, tune: pd.DataFrame) -> pd.DataFrame:
        tune = self._contextual(tune)  # context from the whole part's runs, before the sample is drawn
        ix = P.stratified_sample(tune["label"].to_numpy(), self.config.max_valid, self.config.seed)
        return tune.iloc[ix]

    # -- scoring -----------------------------------------------------------------------------
    def _queries(self, texts: list[str]) -> tuple[list[str], list[list[str]] | None]:
        kind, prompt = self.info_["kind"], self.prompt
        texts = self._guarded(texts)
        if "knn_pool" not in self.info_:
            return [P.query(t, prompt, kind) for t in texts], None
        pool = self.info_["knn_pool"]
        if self._pool is None:  # once per detector: guarded and embedded
            from llmad.icl.demos import Embedder

            self._embedder = self._embedder or Embedder()
            pool_texts = self._guarded([d["text"] for d in pool])
            self._pool = (pool_texts, self._embedder(pool_texts))
        pool_texts, pool_vecs = self._pool
        vecs = self._embedder(texts)
        picks = nearest(vecs, pool_vecs, np.array([d["label"] for d in pool]), self.config.shots)
        queries, used = [], []
        for t, row in zip(texts, picks):
            demos = [(pool_texts[j], pool[j]["label"]) for j in row]
            queries.append(P.demo_block(demos, prompt, kind) + P.query(t, prompt, kind))
            used.append([pool[j]["id"] for j in row])
        return queries, used

    def _remembered(self, pre: str, queries: list[str], compute, chunk: int | None = None) -> list:
        """The value of each query's prompt, each distinct prompt computed once (``compute(list of queries)``, in
        chunks of ``chunk``) and remembered, at most ``MEMO_MAX`` of them."""
        got = {q: self._memo[(pre, q)] for q in dict.fromkeys(queries) if (pre, q) in self._memo}
        todo = [q for q in dict.fromkeys(queries) if q not in got]
        step = chunk or max(len(todo), 1)
        for start in range(0, len(todo), step):
            part = todo[start:start + step]
            got.update(zip(part, compute(part)))
        if len(self._memo) + len(todo) > MEMO_MAX:
            self._memo.clear()
        self._memo.update({(pre, q): got[q] for q in todo})
        return [got[q] for q in queries]

    def _logodds(self, texts: list[str], progress=None) -> np.ndarray:
        """Log-odds of Abnormal over Normal; each distinct prompt is scored once (and remembered)."""
        queries, used = self._queries(texts)
        self.details_ = {"demos": used} if used is not None else {}
        pre, lm = self._prefix(), self.lm()
        lm.check_prompts(pre, queries)

        def compute(part):
            lp = lm.score(pre, part, P.LABELS, batch_size=self.config.batch_size,
                          reuse_prefix=self.config.reuse_prefix, progress=progress)
            floored = lm.last_missing if lm.last_missing is not None else np.zeros(len(part), dtype=int)
            return [(float(v), int(f)) for v, f in zip(lp[:, 1] - lp[:, 0], floored)]

        values = self._remembered(pre, queries, compute)
        if self.config.base_url:  # a server: label words absent from its top tokens were floored
            self.details_["labels_floored"] = [f for _, f in values]
        return np.array([v for v, _ in values], dtype="float64")

    def _anchors(self, progress=None):
        """The anchors' next-token probabilities under the shared prompt, computed once (and again after
        loading: the anchors themselves are saved, their distributions come from the model)."""
        pre = self._prefix()
        if self._anchor_state is None or self._anchor_state[0] != pre:
            kind, prompt = self.info_["kind"], self.prompt
            queries = [P.query(t, prompt, kind) for t in self._guarded([a["text"] for a in self.info_["anchors"]])]
            self.lm().check_prompts(pre, queries, what="anchor")
            logp = self.lm().distributions(pre, queries, batch_size=self.config.batch_size,
                                           reuse_prefix=self.config.reuse_prefix, progress=progress)
            prob = np.exp(logp.astype("float64"))
            neg_entropy = (prob * np.where(prob > 0, logp, 0.0)).sum(axis=1)
            self._anchor_state = (pre, prob, neg_entropy)
        return self._anchor_state

    def _knn_prompting(self, texts: list[str], progress=None) -> np.ndarray:
        """kNN prompting (Xu et al., ICLR 2023): KL(anchor || query) between next-token distributions, then a
        distance-weighted vote of the nearest anchors' labels; each distinct prompt is scored once."""
        pre, prob, neg_entropy = self._anchors()
        labels = np.array([a["label"] for a in self.info_["anchors"]])
        queries = [P.query(t, self.prompt, self.info_["kind"]) for t in self._guarded(texts)]
        self.lm().check_prompts(pre, queries)

        def compute(part):
            logq = self.lm().distributions(pre, part, batch_size=self.config.batch_size,
                                           reuse_prefix=self.config.reuse_prefix, progress=progress)
            kl = neg_entropy[None, :] - np.maximum(logq.astype("float64"), -1e30) @ prob.T
            return knn_vote(kl, labels, self.config.neighbours).tolist()

        # bounded memory: 256 queries x vocabulary at a time
        return np.array(self._remembered(pre, queries, compute, chunk=256), dtype="float64")

    def decision_function(self, x: pd.DataFrame) -> np.ndarray:
        if "kind" not in self.info_:
            raise LlmadError("icl detector is not fitted")
        texts = self._record_texts(x)
        if "anchors" in self.info_:
            self.details_ = {}
            scores = self._knn_prompting(texts)
        elif self.prompt.cot:
            scores = self._cot(texts) - float(self.info_.get("bias", 0.0))
        else:
            scores = self._logodds(texts) - float(self.info_.get("bias", 0.0))
        if "vocabulary" in self.info_:  # what the guard kept from the model, per record: never silent
            self.details_["guard_hidden"] = [self._vocabulary().hidden(t) for t in texts]
        return scores

    def _cot(self, texts: list[str]) -> np.ndarray:
        """Chain of thought: generate each record's reasoning, parse its answer line, and score the label
        words after ``Answer:``. Keeps the reasoning (``details_["explanation"]``) and the parsed answers
        (``details_["answer"]``: Normal, Abnormal or None when unparseable — counted, never guessed)."""
        from llmad.icl.answers import parse_answer

        queries, used = self._queries(texts)
        pre, lm = self._prefix(), self.lm()
        lm.check_prompts(pre, queries, extra=self.config.max_new_tokens)
        from llmad.icl.http_backend import RequestRefused

        reasons = []
        for k, q in enumerate(queries):
            try:
                reasons.append(lm.generate(pre, q, self.config.max_new_tokens, reuse_prefix=self.config.reuse_prefix))
            except RequestRefused as e:  # a served model's own refusal (e.g. its context): say which record
                raise e.of_record(k) from None
        answers = [parse_answer(r) for r in reasons]
        self.details_ = {"explanation": [r.strip() for r in reasons],
                         "answer": [None if a is None else P.LABELS[a] for a in answers]}
        if used is not None:
            self.details_["demos"] = used
        scored = [q + P.answer_suffix(r) for q, r in zip(queries, reasons)]
        lp = lm.score(pre, scored, P.LABELS, batch_size=1, reuse_prefix=self.config.reuse_prefix)
        return lp[:, 1] - lp[:, 0]

    def prompt_of(self, x: pd.DataFrame) -> list[str]:
        """The whole prompt each record is scored with (prefix + query), as the model reads it."""
        queries, _ = self._queries(self._record_texts(x))
        pre = self._prefix()
        return [pre + q for q in queries]

    # -- persistence -------------------------------------------------------------------------
    def _save_state(self, path: Path) -> None:
        pass  # everything is in detector.json (state); the weights come from the model's package or folder

    def _load_state(self, path: Path) -> None:
        saved = self.info_.get("prompt_version")
        if saved != self.prompt.version:
            raise LlmadError(f"{path}: this model was fitted with prompt {self.prompt.name} version {saved}; this "
                             f"llmad has version {self.prompt.version}: train it again")
