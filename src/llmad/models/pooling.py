"""How an encoder's tokens become the one vector its classification head reads.

BERT-style sequence classifiers read the first token ([CLS]) through the pooler. The packaged MiniLM was
trained for sentence embeddings by MEAN pooling, and its [CLS] state carries almost nothing: at 3 layers
(``minilm-l3``) the [CLS] vectors of any two inputs have cosine similarity 0.999999 (measured on seven
unrelated texts, fresh model), so a fresh head scores every record alike and fine-tuning must first
push information into [CLS]. ``mean`` pooling averages the real (unmasked) tokens instead, then applies
the same pooler dense + tanh, so the parameter names, the adapters, the int8 export and saved folders
are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("auto", "cls", "mean")


class _MaskHolder:
    """The attention mask of the current forward pass, shared by the encoder hook and the pooler (and by
    the copies PEFT makes of the pooler: a deep copy returns the same holder)."""

    mask: torch.Tensor | None = None

    def __deepcopy__(self, memo):
        return self


class MeanPooler(nn.Module):
    def __init__(self, pooler: nn.Module, holder: _MaskHolder):
        super().__init__()
        self.dense = pooler.dense
        self.activation = pooler.activation
        self.holder = holder

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        mask = self.holder.mask
        if mask is None or tuple(mask.shape) != tuple(hidden_states.shape[:2]):
            mask = torch.ones(hidden_states.shape[:2], device=hidden_states.device)
        m = mask.unsqueeze(-1).to(hidden_states.dtype)
        mean = (hidden_states * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return self.activation(self.dense(mean))


def encoder_with_pooler(model: nn.Module) -> nn.Module | None:
    enc = getattr(model, getattr(model, "base_model_prefix", ""), None)
    pooler = getattr(enc, "pooler", None)
    if pooler is None or not hasattr(pooler, "dense") or not hasattr(pooler, "activation"):
        return None
    return enc


def apply_pooling(model: nn.Module, pooling: str) -> str:
    """Set the pooling of a sequence classifier in place; returns what is used (``cls``, ``mean`` or
    ``model`` for architectures that pool their own way, e.g. decoders' last token)."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}")
    enc = encoder_with_pooler(model)
    if enc is None:
        if pooling == "mean":
            from llmad import LlmadError

            raise LlmadError(f"mean pooling needs a BERT-style encoder with a pooler; {type(model).__name__} "
                             "pools its own way (use pooling auto)")
        return "model"
    if pooling == "cls":
        return "cls"
    holder = _MaskHolder()
    enc.pooler = MeanPooler(enc.pooler, holder)

    def keep_mask(module, args, kwargs):
        mask = kwargs.get("attention_mask")
        if mask is None and len(args) > 1:
            mask = args[1]
        holder.mask = mask

    enc.register_forward_pre_hook(keep_mask, with_kwargs=True)
    return "mean"
