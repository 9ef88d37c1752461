"""Settings of the fine-tuning engine (adapters, LoReFT, the training loop), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass

from llmad import LlmadError
from llmad.config import check_choices, option

ADAPTERS = ("full", "head", "lora", "reft")


@dataclass(frozen=True)
class LoraSettings:
    r: int = option(8, "LoRA rank.")
    alpha: int = option(32, "LoRA alpha (scaling = alpha / r).")
    dropout: float = option(0.1, "LoRA dropout.")
    target_modules: tuple[str, ...] | None = option(None, "Modules to adapt (default: the attention projections).")

    def __post_init__(self):
        if self.r < 1 or not 0 <= self.dropout < 1:
            raise LlmadError("LoRA needs r >= 1 and 0 <= dropout < 1")


@dataclass(frozen=True)
class ReftConfig:
    rank: int = option(4, "Rank of the LoReFT subspace.")
    layers: tuple[int, ...] | None = option(None, "Layers to intervene on, e.g. 0,2,4 (default: all).")
    positions: int = option(2, "Intervene on the first and last N real tokens.")
    dropout: float = option(0.0, "Dropout on the intervention.")

    def __post_init__(self):
        if self.rank < 1 or self.positions < 1:
            raise LlmadError("ReFT needs rank >= 1 and positions >= 1")


@dataclass(frozen=True)
class AdapterConfig:
    kind: str = option("lora", "Which parameters train.", ADAPTERS)
    lora: LoraSettings = option(LoraSettings(), "LoRA settings.")
    reft: ReftConfig = option(ReftConfig(), "LoReFT settings.")

    def __post_init__(self):
        if self.kind not in ADAPTERS:
            raise LlmadError(f"unknown adapter {self.kind!r}; choose one of {', '.join(ADAPTERS)}")


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = option(3.0, "Epochs (fractions allowed).")
    lr: float | None = option(None, "Learning rate (default per adapter: full 5e-5, head 1e-3, lora 5e-4, reft 2e-3).")
    batch_size: int = option(32, "Batch size.")
    grad_accum: int = option(1, "Gradient accumulation steps.")
    warmup_ratio: float = option(0.06, "Fraction of steps of linear warm-up.")
    weight_decay: float = option(0.0, "AdamW weight decay.")
    token_dropout: float = option(0.0, "Training only: drop each token of a training text (all but the first and "
                                       "last, e.g. [CLS] and [SEP]) with this probability, drawn afresh for each "
                                       "record and epoch; a regulariser against learning whole messages by heart. "
                                       "Validation and scoring read every token.")
    token_dropout_keep: int = option(0, "Training only: the first N words of each text that token dropout never "
                                        "drops (e.g. 2 with --fields Component,Level, so a log line's fields always "
                                        "stay while its message words are dropped).")
    balance: str = option("weights", "Class balance.", ("weights", "oversample", "none"))
    early_stopping: int = option(2, "Evaluations without improvement before stopping (0 = off).")
    monitor: str = option("f1", "Early-stopping metric on validation (the weights of its best evaluation are kept): "
                                "f1, loss, f1-auc (F1, ties broken by ROC-AUC: on a small validation part "
                                "F1 often ties while the ranking still improves) or f1-loss (F1, ties broken by "
                                "the validation loss: when validation is separated perfectly, F1 and ROC-AUC "
                                "both stay at 1).", ("f1", "loss", "f1-auc", "f1-loss"))
    eval_every: int = option(0, "Evaluate every N steps (0 = each epoch).")
    eval_max: int | None = option(None, "Evaluate early stopping on at most N validation records (stratified, "
                                        "seeded; default all). The threshold is still chosen on every validation "
                                        "record: this only bounds the per-epoch cost on large workflows.")
    max_grad_norm: float = option(1.0, "Gradient clipping norm (0 = off).")
    precision: str = option("auto", "Numeric precision (auto = bf16 on GPU).", ("auto", "fp32", "bf16", "fp16"))
    checkpoint_every: int = option(200, "Optimiser steps between checkpoints (with a checkpoint folder).")
    seed: int = option(0, "Seed of the training loop (the detector sets it from its own seed).")

    def __post_init__(self):
        check_choices(self)
        if self.epochs <= 0 or self.batch_size < 1 or self.grad_accum < 1:
            raise LlmadError("epochs must be > 0, batch size and gradient accumulation >= 1")
        if not 0 <= self.token_dropout < 1:
            raise LlmadError(f"token_dropout must be in [0, 1), not {self.token_dropout}")
        if self.token_dropout_keep < 0:
            raise LlmadError(f"token_dropout_keep must be >= 0 words, not {self.token_dropout_keep}")
        if self.token_dropout_keep and not self.token_dropout:
            raise LlmadError("token_dropout_keep says which words token dropout spares; it needs token_dropout > 0 "
                             "(--token-dropout P) too")
        if self.eval_max is not None and self.eval_max < 2:
            raise LlmadError(f"eval_max must be at least 2 validation records, not {self.eval_max}")
