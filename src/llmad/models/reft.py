"""LoReFT, implemented natively (Wu et al., 2024).

An intervention edits a hidden state h (dimension d) inside a rank-r subspace:

    Φ(h) = h + Rᵀ (W h + b − R h)

R (r × d) has orthonormal rows (kept so by torch's orthogonal parametrisation), W (r × d) and b (r)
are a learned projection. Interventions sit on the outputs of chosen layers and act only at chosen
token positions (the first and last ``positions`` real tokens); the backbone stays frozen.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

from llmad.models.configs import ReftConfig


class LoReFTIntervention(nn.Module):
    def __init__(self, dim: int, rank: int, dropout: float = 0.0):
        super().__init__()
        if rank > dim:
            raise ValueError(f"LoReFT rank {rank} exceeds hidden size {dim}")
        self.rotate = orthogonal(nn.Linear(dim, rank, bias=False))  # weight = R, rows orthonormal
        self.learned = nn.Linear(dim, rank)                           # W h + b
        self.dropout = nn.Dropout(dropout)
        self.frozen_R: torch.Tensor | None = None  # set by frozen_rotations() (export to ONNX)

    @property
    def R(self) -> torch.Tensor:
        return self.rotate.weight if self.frozen_R is None else self.frozen_R

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        R = self.R.to(h.dtype)
        delta = self.learned(h.to(self.learned.weight.dtype)).to(h.dtype) - h @ R.T
        return h + self.dropout(delta @ R)


@contextlib.contextmanager
def frozen_rotations(model: nn.Module):
    """Within the block every LoReFT R is a plain tensor (tracers cannot follow the orthogonal map)."""
    found = [m for m in model.modules() if isinstance(m, LoReFTIntervention)]
    with torch.no_grad():
        for m in found:
            m.frozen_R = m.rotate.weight.detach().clone()
    try:
        yield
    finally:
        for m in found:
            m.frozen_R = None


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks of a (sequence-classification) model."""
    for path in ("bert.encoder.layer", "roberta.encoder.layer", "mpnet.encoder.layer",
                 "distilbert.transformer.layer", "model.layers", "transformer.h", "gpt_neox.layers",
                 "model.decoder.layers", "encoder.layer", "layers"):
        obj = model
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(f"cannot find the transformer layers of {type(model).__name__} for ReFT")


def position_mask(attention_mask: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean (B, T): the first k and the last k real (non-pad) tokens of each row."""
    am = attention_mask.bool()
    idx = torch.cumsum(am.long(), dim=1) - 1            # rank of each real token
    length = am.sum(dim=1, keepdim=True)
    return am & ((idx < k) | (idx >= length - k))


class ReftModel(nn.Module):
    """Wraps a sequence classifier; hooks LoReFT interventions onto chosen layers' outputs."""

    def __init__(self, model: nn.Module, cfg: ReftConfig):
        super().__init__()
        self.model = model
        self.cfg = cfg
        layers = transformer_layers(model)
        chosen = cfg.layers if cfg.layers is not None else list(range(len(layers)))
        bad = [i for i in chosen if not 0 <= i < len(layers)]
        if bad:
            from llmad import LlmadError

            raise LlmadError(f"ReFT layer(s) {bad} out of range: the backbone has layers 0..{len(layers) - 1}")
        dim = model.config.hidden_size
        self.interventions = nn.ModuleDict(
            {str(i): LoReFTIntervention(dim, cfg.rank, cfg.dropout) for i in chosen})
        self._mask: torch.Tensor | None = None
        self._handles = [layers[i].register_forward_hook(self._hook(str(i))) for i in chosen]

    def _hook(self, key: str):
        def hook(module, args, output):
            if self._mask is None:
                return output
            h = output[0] if isinstance(output, tuple) else output
            m = self._mask.to(h.device).unsqueeze(-1)
            new = torch.where(m, self.interventions[key](h), h)
            return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new
        return hook

    def forward(self, input_ids=None, attention_mask=None, **kw):
        self._mask = position_mask(attention_mask, self.cfg.positions)
        try:
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **kw)
        finally:
            self._mask = None

    @property
    def config(self):
        return self.model.config
