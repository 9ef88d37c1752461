"""``FineTuned``: a language model reads a record's text; a classification head says normal / anomalous.

Backbones come from :mod:`llmad.models.backbones`, adapters from :mod:`llmad.models.adapters`.
Saved as JSON config + tokenizer + only the trained weights (adapter + head) in safetensors.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from llmad import LlmadError
from llmad.config import replace
from llmad.detectors.base import Detector
from llmad.detectors.configs import SFTConfig
from llmad.eval.metrics import best_f1_threshold, compute
from llmad.models.adapters import apply_adapter, count_parameters, trainable_state
from llmad.models.backbones import materialise, resolve
from llmad.models.onnx_int8 import OnnxInt8Classifier, pick_engine
from llmad.models.training import pad_batch, protected_prefix, seed_everything, train_classifier

WEIGHTS = "trainable.safetensors"


def keep_head_tail(ids: list[int], limit: int) -> list[int]:
    """Cut a token sequence to ``limit`` by dropping its middle: the first half and the last half stay.

    The opening special token stays at the start and the closing one (or the last token a decoder pools)
    at the end, so the model sees how a log session starts and how it ends.
    """
    if len(ids) <= limit:
        return list(ids)
    head = (limit + 1) // 2
    return list(ids[:head]) + list(ids[len(ids) - (limit - head):])


def subsample(n: int, labels: np.ndarray, frac: float | None, max_n: int | None, seed: int,
              min_per_class: int = 0) -> np.ndarray:
    """Seeded, class-stratified subset of row indices (for sample-efficiency studies); ``min_per_class`` keeps at
    least that many of every class present (a rare class would otherwise round to none)."""
    idx = np.arange(n)
    target = n
    if frac is not None:
        if not 0 < frac <= 1:
            raise LlmadError("train fraction must be in (0, 1]")
        target = int(round(n * frac))
    if max_n:
        target = min(target, max_n)
    if target >= n:
        return idx
    rng = np.random.RandomState(seed)
    keep = []
    for c in np.unique(labels):
        members = idx[labels == c]
        k = max(int(round(target * len(members) / n)), min_per_class)
        keep.append(rng.choice(members, min(k, len(members)), replace=False))
    return np.sort(np.concatenate(keep))


class FineTuned(Detector):
    """Supervised fine-tuning of a language model (full, head-only, LoRA or LoReFT)."""

    name = "sft"
    FILES = (WEIGHTS, "tokenizer")
    SCORES = "probability"

    Config = SFTConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        from llmad.models.distributed import local_device

        self.device = c.device or local_device() or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":
            from llmad.threads import threads

            torch.set_num_threads(threads())
        pick_engine(c.inference, self.device)  # validate early
        self.model_ = None
        self.tokenizer_ = None
        self._infer = None
        self._training = False

    # ------------------------------------------------------------------ model
    def _build(self, tokenizer_dir: str | None = None):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        bb = resolve(self.config.backbone)
        path = materialise(bb)
        try:
            tok = AutoTokenizer.from_pretrained(tokenizer_dir or path)
            seed_everything(self.config.seed)
            model = AutoModelForSequenceClassification.from_pretrained(
                path, num_labels=3 if self.config.target == "type" else 2, trust_remote_code=False)
        except OSError as e:
            raise LlmadError(f"cannot load backbone {bb.name!r} from {path}: {str(e).splitlines()[0]}") from None
        layers = self.config.layers or bb.layers
        if layers:
            from llmad.models.depth import keep_first_layers

            keep_first_layers(model, layers)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        model.config.pad_token_id = tok.pad_token_id
        from llmad.models.pooling import apply_pooling

        self.info_["pooling"] = apply_pooling(model, self.config.pooling)
        model = apply_adapter(model, self.config.adapter)
        self.tokenizer_, self.model_ = tok, model.to(self.device)
        self._infer = None
        self.info_["parameters"] = count_parameters(self.model_)
        self.info_["backbone_kind"] = bb.kind

    def _encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, at most ``max_length`` of them (special tokens included)."""
        limit = self.config.max_length
        if self.config.truncation == "head":
            return self.tokenizer_(texts, truncation=True, max_length=limit, padding=False)["input_ids"]
        ids = self.tokenizer_(texts, truncation=False, padding=False, verbose=False)["input_ids"]
        return [keep_head_tail(e, limit) for e in ids]

    # ------------------------------------------------------------------ fit
    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame | None, checkpoint_dir: str | Path | None = None,
             progress=None, init: str | Path | None = None, stop_epoch: float | None = None) -> None:
        """Fine-tune; with ``checkpoint_dir`` a crashed run resumes from its last checkpoint; with ``init`` (a
        saved sft model of the same backbone, adapter and target) training starts from its weights; with
        ``stop_epoch`` training follows the schedule of ``epochs`` but stops after that many (the cv threshold's
        fold models stop where the early-stopped model kept its weights)."""
        c = self.config
        y = self._labels(train)
        idx = subsample(len(train), y, c.train_frac, c.max_train, c.seed)
        train = train.iloc[idx]
        self._build()
        if init is not None:
            self._load_weights(Path(init), check_config=True)
            self.info_["init"] = str(init)
        self._fit_text(train)
        texts = self._texts(train)
        enc = self._encode(texts)
        self.info_["n_train_used"] = int(len(enc))
        self.info_["truncated_train"] = int(sum(len(e) >= c.max_length for e in enc))
        cfg = replace(c.train, seed=c.seed)
        keep_first = None
        if cfg.token_dropout > 0 and cfg.token_dropout_keep > 0:
            keep_first = protected_prefix(self.tokenizer_, texts, enc, cfg.token_dropout_keep)
        evaluate = None
        # a single end-of-training evaluation would only repeat the threshold pass that fit() makes anyway
        single_eval = cfg.epochs <= 1 and not cfg.eval_every
        if valid is not None and len(valid) and not single_eval:
            # the text layer is fixed now: texts (and their run context, computed on the whole validation part)
            # are built once, not at every evaluation; eval_max then evaluates a stratified sample of them
            vtexts = self._texts(valid)
            yv = self._labels(valid)
            bv = valid["label"].to_numpy().astype(int)
            if cfg.eval_max is not None and cfg.eval_max < len(valid):
                keep = subsample(len(valid), bv, None, cfg.eval_max, c.seed, min_per_class=1)
                vtexts, yv, bv = [vtexts[i] for i in keep], yv[keep], bv[keep]
                self.info_["n_eval"] = int(len(keep))

            def evaluate():
                logits = self._logits(vtexts)
                loss = float(torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(yv).long()))
                s = _score(logits)
                t = best_f1_threshold(bv, s)
                m = compute(bv, s, t)
                return {"f1": m.f1, "roc_auc": m.roc_auc, "loss": loss}

        self._training = True  # validation during training scores with PyTorch (the weights keep changing)
        try:
            hist = train_classifier(self.model_, enc, y[idx], cfg, c.adapter.kind, self.tokenizer_.pad_token_id,
                                    evaluate=evaluate, checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
                                    stop_epoch=stop_epoch, keep_first=keep_first)
        finally:
            self._training = False
        self.info_["training"] = hist
        self._infer = None

    def kept_epoch(self) -> float | None:
        """The epoch (fractions allowed) whose weights validation kept, or None when nothing was evaluated."""
        hist = self.info_.get("training") or {}
        best = hist.get("best_eval")
        if not best or not hist.get("total_steps"):
            return None
        return round(best["step"] / hist["total_steps"] * self.config.train.epochs, 6)

    def _fold_fit_options(self) -> dict:
        kept = self.kept_epoch()
        return {} if kept is None else {"stop_epoch": kept}

    # ------------------------------------------------------------------ inference
    def _merged(self):
        m = self.model_
        if self.config.adapter.kind == "lora":
            m = copy.deepcopy(m).merge_and_unload()
        return m.eval()

    def _inference_model(self):
        """``(engine, callable ids, mask -> logits)``; the int8 ONNX session is built once per fitted model."""
        if self._training:
            return "torch", self.model_.eval()
        if self._infer is None:
            engine = pick_engine(self.config.inference, self.device)
            if engine == "int8":
                try:
                    self._infer = ("int8", OnnxInt8Classifier(self._merged()))
                except Exception as e:  # an architecture the ONNX exporter cannot trace: stay correct, be slower
                    if self.config.inference == "int8":
                        raise LlmadError(f"int8 export of {self.config.backbone!r} failed: {e}") from None
                    warnings.warn(f"int8 ONNX export failed ({type(e).__name__}); scoring with PyTorch", stacklevel=2)
                    engine = "torch"
            if engine == "torch":
                self._infer = ("torch", self._merged())
            self.info_["inference_engine"] = self._infer[0]
        return self._infer

    def _logits(self, texts: list[str]) -> np.ndarray:
        """Logits of each text: identical texts scored once, batches sorted by length, no grad."""
        if self.model_ is None:
            raise LlmadError("sft detector is not fitted")
        uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        enc = self._encode(list(uniq))
        # which records filled the whole token budget (so were cut): a ``truncated`` column in ``runs.score``,
        # counted by ``runs.evaluate``
        cut = np.array([len(e) >= self.config.max_length for e in enc], dtype=bool)
        self.details_ = {"truncated": cut[inverse].tolist()}
        order = np.argsort([len(e) for e in enc], kind="stable")
        out = np.zeros((len(uniq), 3 if self.config.target == "type" else 2), dtype=np.float32)
        engine, model = self._inference_model()
        bs = self.config.eval_batch_size
        device = torch.device("cpu") if engine == "int8" else next(model.parameters()).device
        from llmad.models.training import autocast

        with torch.inference_mode(), autocast(device, self.config.train.precision):
            for i in range(0, len(order), bs):
                b = order[i: i + bs]
                ids, mask = pad_batch([enc[j] for j in b], self.tokenizer_.pad_token_id, device)
                if engine == "int8":
                    out[b] = model(ids, mask)
                else:
                    out[b] = model(input_ids=ids, attention_mask=mask).logits.float().cpu().numpy()
        return out[inverse]

    def decision_function(self, x: pd.DataFrame) -> np.ndarray:
        return _score(self._logits(self._texts(x)))

    def _type_proba(self, x: pd.DataFrame) -> np.ndarray:
        return _softmax(self._logits(self._texts(x)))

    def log_odds(self, x: pd.DataFrame) -> np.ndarray:
        """Exact log-odds of anomalous from the logits (no round trip through a saturated probability)."""
        z = self._logits(self._texts(x)).astype(np.float64)
        if z.shape[1] > 2:  # a type model: log P(not normal) - log P(normal)
            m = z[:, 1:].max(axis=1)
            return m + np.log(np.exp(z[:, 1:] - m[:, None]).sum(axis=1)) - z[:, 0]
        return z[:, 1] - z[:, 0]

    # ------------------------------------------------------------------ persistence
    def _save_state(self, path: Path) -> None:
        state = {k: v.float() if v.is_floating_point() else v for k, v in trainable_state(self.model_).items()}
        save_file({k: v.cpu().contiguous() for k, v in state.items()}, str(path / WEIGHTS))
        self.tokenizer_.save_pretrained(path / "tokenizer")

    def initialise(self) -> FineTuned:
        """Build the backbone with a fresh, untrained head (seeded by the config's seed), scoring with PyTorch:
        what the bias study probes before any fine-tuning."""
        self._build()
        return self

    def text_scores(self, texts: list[str]) -> np.ndarray:
        """P(anomalous) of raw texts, as the model reads them (no text layer): content-free probes, prefixes."""
        return _score(self._logits(list(texts)))

    def _load_state(self, path: Path) -> None:
        self._build(tokenizer_dir=str(path / "tokenizer"))
        self._load_weights(path)

    def _load_weights(self, path: Path, check_config: bool = False) -> None:
        if check_config:
            from llmad.detectors.base import read_saved

            doc = read_saved(path)
            if doc["detector"] != self.name:
                raise LlmadError(f"{path}: init needs a saved sft model, this is {doc['detector']!r}")
            saved = doc["config"]
            for key, mine in (("backbone", self.config.backbone), ("target", self.config.target),
                              ("layers", self.config.layers)):
                if saved.get(key, mine) != mine:
                    raise LlmadError(f"{path}: init model has {key} {saved.get(key)!r}, this one {mine!r}")
            if (saved.get("adapter") or {}).get("kind", self.config.adapter.kind) != self.config.adapter.kind:
                raise LlmadError(f"{path}: init model has adapter {saved['adapter']['kind']!r}, this one "
                                 f"{self.config.adapter.kind!r}")
        if not (path / WEIGHTS).is_file():
            raise LlmadError(f"{path}: incomplete model folder, {WEIGHTS} is missing")
        state = load_file(str(path / WEIGHTS), device="cpu")
        expected = trainable_state(self.model_)
        missing = set(expected) - set(state)
        unexpected = set(state) - set(expected)
        if missing or unexpected:
            raise LlmadError(f"{path / WEIGHTS} does not match the model: missing {sorted(missing)[:3]}, "
                             f"unexpected {sorted(unexpected)[:3]}")
        # a checkpoint trained in bf16/fp16 on a GPU loads on a CPU in the model's dtype
        state = {k: v.to(device=self.device, dtype=expected[k].dtype) for k, v in state.items()}
        self.model_.load_state_dict(state, strict=False)


def _score(logits: np.ndarray) -> np.ndarray:
    """P(anomalous) from two-class logits; 1 - P(normal) from the three logits of a type model."""
    if logits.shape[1] > 2:
        return 1.0 - _softmax(logits)[:, 0]
    z = logits[:, 1] - logits[:, 0]
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
