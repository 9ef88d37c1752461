"""Keep only the first N transformer layers of a backbone (a cheaper, shallower model).

Dropping the top layers of a pre-trained transformer before fine-tuning keeps most of its accuracy on
classification tasks while the cost of every forward pass falls in proportion (Sajjad et al., "On the
effect of dropping layers of pre-trained transformer models", 2023). On a laptop CPU it is the one
knob, besides fewer tokens, that makes scoring much faster: int8 MiniLM is already near the FLOP peak.
"""

from __future__ import annotations

from torch import nn

from llmad import LlmadError


def keep_first_layers(model: nn.Module, n: int) -> nn.Module:
    """Truncate ``model`` in place to its first ``n`` transformer layers (config updated to match)."""
    from llmad.models.reft import transformer_layers

    try:
        layers = transformer_layers(model)
    except ValueError as e:
        raise LlmadError(str(e).replace("for ReFT", "to keep the first ones")) from None
    if not 1 <= n <= len(layers):
        raise LlmadError(f"layers must be between 1 and {len(layers)} for this backbone, not {n}")
    if n == len(layers):
        return model
    del layers[n:]
    cfg = model.config
    cfg.num_hidden_layers = n
    for key in ("layer_types", "sliding_window_pattern_layers"):
        value = getattr(cfg, key, None)
        if isinstance(value, list) and len(value) > n:
            setattr(cfg, key, value[:n])
    return model
