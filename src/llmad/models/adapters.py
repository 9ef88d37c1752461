"""Adapters: which parameters of a sequence classifier train.

- ``full``: every parameter.
- ``head``: only the classification head (``classifier`` / ``score``, and BERT's ``pooler``);
  the paper's head-only setting for the forgetting study.
- ``lora``: HF peft LoRA on the attention projections (r=8, alpha=32, dropout 0.1 by default), head trainable.
- ``reft``: native LoReFT interventions (:mod:`llmad.models.reft`), head trainable, backbone frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from llmad import LlmadError
from llmad.models.configs import ADAPTERS, AdapterConfig, LoraSettings  # noqa: F401  (re-exported)
from llmad.models.reft import ReftModel

HEAD_NAMES = ("classifier", "score", "pooler", "pre_classifier", "sequence_summary", "logits_proj")


def is_head(name: str) -> bool:
    return any(part in HEAD_NAMES for part in name.split("."))


_LORA_TARGETS = {
    "bert": ["query", "key", "value"], "roberta": ["query", "key", "value"], "xlm-roberta": ["query", "key", "value"],
    "mpnet": ["q", "k", "v"], "distilbert": ["q_lin", "k_lin", "v_lin"], "albert": ["query", "key", "value"],
    "gpt2": ["c_attn"], "llama": ["q_proj", "k_proj", "v_proj", "o_proj"], "gemma3_text": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma3": ["q_proj", "k_proj", "v_proj", "o_proj"], "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
}


def apply_adapter(model: nn.Module, cfg: AdapterConfig) -> nn.Module:
    """Return the model to train, with ``requires_grad`` set as the adapter says."""
    if cfg.kind == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if cfg.kind == "head":
        for n, p in model.named_parameters():
            p.requires_grad_(is_head(n))
        if not any(p.requires_grad for p in model.parameters()):
            raise LlmadError(f"no classification head found in {type(model).__name__}")
        return model
    if cfg.kind == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        targets = list(cfg.lora.target_modules or ()) or _LORA_TARGETS.get(model.config.model_type)
        heads = sorted({n.split(".")[0] if n.split(".")[0] in HEAD_NAMES else next(
            x for x in n.split(".") if x in HEAD_NAMES) for n, _ in model.named_parameters() if is_head(n)})
        lc = LoraConfig(task_type=TaskType.SEQ_CLS, r=cfg.lora.r, lora_alpha=cfg.lora.alpha,
                        lora_dropout=cfg.lora.dropout, target_modules=targets, modules_to_save=heads)
        return get_peft_model(model, lc)
    # reft
    for n, p in model.named_parameters():
        p.requires_grad_(is_head(n))
    return ReftModel(model, cfg.reft)


def count_parameters(model: nn.Module) -> dict:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": int(trainable), "total": int(total), "percent": round(100 * trainable / max(total, 1), 4)}


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the parameters that train (adapter + head), contiguous, for safetensors."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().contiguous() for k, v in model.state_dict().items() if k in names}
