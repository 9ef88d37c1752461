"""A small, explicit training loop for sequence classifiers (all adapters share it).

Seeded, AdamW with linear warmup/decay, class weights or oversampling, gradient accumulation,
early stopping on validation F1 or loss, bf16 autocast on GPU, a rich progress bar with loss and
samples/s, and checkpoints (safetensors + JSON, never pickle) that resume after a crash.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from llmad import LlmadError
from llmad.models.adapters import trainable_state
from llmad.models.configs import TrainConfig  # noqa: F401  (re-exported)

DEFAULT_LR = {"full": 5e-5, "head": 1e-3, "lora": 5e-4, "reft": 2e-3}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def autocast(device: torch.device, precision: str):
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def drop_tokens(ids: list[int], p: float, seed: tuple[int, ...], first: int = 1) -> list[int]:
    """``ids`` without each inner token (all but the first ``first`` and the last) with probability ``p``; the draw
    depends only on ``seed`` (e.g. training seed, epoch, record), so it is the same however records are batched or
    resumed."""
    first = max(1, int(first))
    if p <= 0 or len(ids) <= first + 1:
        return ids
    keep = np.random.default_rng(seed).random(len(ids) - first - 1) >= p
    return [*ids[:first], *(t for t, k in zip(ids[first:-1], keep) if k), ids[-1]]


def protected_prefix(tokenizer, texts: list[str], encoded: list[list[int]], words: int) -> list[int]:
    """For each text, how many of its leading token ids (special tokens included) hold its first ``words``
    whitespace-separated words: the length of the common start of its encoding and the encoding of those words
    alone, so it holds for any tokenizer (a word split into pieces stays whole). 1 when ``words`` is 0."""
    if words <= 0:
        return [1] * len(encoded)
    heads = [" ".join(t.split()[:words]) for t in texts]
    alone = tokenizer(heads, truncation=False, padding=False, verbose=False)["input_ids"]
    out = []
    for e, a in zip(encoded, alone):
        n = 0
        for x, y in zip(e, a):
            if x != y:
                break
            n += 1
        out.append(max(1, min(n, len(e) - 1)))
    return out


def pad_batch(encoded: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), n), dtype=torch.long)
    for i, e in enumerate(encoded):
        ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
        mask[i, : len(e)] = 1
    return ids.to(device), mask.to(device)


class Checkpoint:
    """Trainable weights + optimiser + scheduler + progress, as safetensors and JSON."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @property
    def exists(self) -> bool:
        return (self.folder / "progress.json").is_file()

    def save(self, model, opt, sched, progress: dict, best_state: dict | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"model::{k}": v for k, v in trainable_state(model).items()}
        tensors.update({f"best::{k}": v for k, v in (best_state or {}).items()})
        # dropout draws continue exactly where they stopped
        tensors["rng::cpu"] = torch.get_rng_state()
        if torch.cuda.is_available():
            tensors["rng::cuda"] = torch.cuda.get_rng_state()
        sd = opt.state_dict()
        for pid, st in sd["state"].items():
            for k, v in st.items():
                tensors[f"opt::{pid}::{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
        tmp = self.folder / "state.safetensors.tmp"
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
        os.replace(tmp, self.folder / "state.safetensors")
        meta = {"progress": progress, "param_groups": sd["param_groups"], "scheduler": sched.state_dict()}
        tmpj = self.folder / "progress.json.tmp"
        tmpj.write_text(json.dumps(meta, default=float))
        os.replace(tmpj, self.folder / "progress.json")

    def load(self, model, opt, sched) -> tuple[dict, dict | None]:
        meta = json.loads((self.folder / "progress.json").read_text())
        tensors = load_file(str(self.folder / "state.safetensors"))
        model_sd = {k.split("::", 1)[1]: v for k, v in tensors.items() if k.startswith("model::")}
        missing = set(trainable_state(model)) - set(model_sd)
        if missing:
            raise ValueError(f"checkpoint {self.folder} does not match the model (missing {sorted(missing)[:3]})")
        model.load_state_dict(model_sd, strict=False)
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith("opt::"):
                _, pid, name = k.split("::")
                state.setdefault(int(pid), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        sched.load_state_dict(meta["scheduler"])
        if "rng::cpu" in tensors:
            torch.set_rng_state(tensors["rng::cpu"])
        if "rng::cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng::cuda"])
        best = {k.split("::", 1)[1]: v.to(device_of(model)) for k, v in tensors.items() if k.startswith("best::")}
        return meta["progress"], best or None


def monitor_score(r: dict, monitor: str) -> tuple[float, ...]:
    """An evaluation's early-stopping score (higher is better), compared left to right by :func:`improves`."""
    if monitor == "loss":
        return (-float(r["loss"]),)
    if monitor == "f1-loss":
        return (float(r["f1"]), -float(r["loss"]))
    if monitor == "f1-auc":
        auc = r.get("roc_auc")
        return (float(r["f1"]), float(auc) if auc is not None else -math.inf)
    return (float(r["f1"]),)


def improves(score: tuple[float, ...], best: tuple[float, ...], tol: float = 1e-6) -> bool:
    """Whether ``score`` beats ``best``: the first component that differs by more than ``tol`` decides; equal
    scores do not improve (the earlier evaluation's weights stay)."""
    for a, b in zip(score, best):
        if a > b + tol:
            return True
        if a < b - tol:
            return False
    return False


def train_classifier(
    model: nn.Module,
    encoded: list[list[int]],
    labels: np.ndarray,
    cfg: TrainConfig,
    adapter: str,
    pad_id: int,
    evaluate: Callable[[], dict] | None = None,
    checkpoint_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
    stop_epoch: float | None = None,
    keep_first: list[int] | None = None,
) -> dict:
    """Train ``model`` in place; return the history. ``evaluate()`` returns {"f1":…, "loss":…} on validation.

    ``stop_epoch``: follow the learning-rate schedule of ``cfg.epochs`` but stop after this many epochs (the
    point at which an early-stopped model of the same configuration kept its weights). ``keep_first``: for each
    record, how many leading token ids token dropout never drops (default 1, the first token)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from transformers import get_linear_schedule_with_warmup

    from llmad.models.distributed import sum_gradients, world

    seed_everything(cfg.seed)
    device = device_of(model)
    rank, n_proc = world()
    labels = np.asarray(labels).astype(int)
    n = len(encoded)
    n_classes = max(2, int(getattr(getattr(model, "config", None), "num_labels", 2) or 2), int(labels.max()) + 1)
    counts = np.bincount(labels, minlength=n_classes)
    weight = None
    if cfg.balance == "weights":  # n / (K * count): each class weighs the same in the loss
        weight = torch.tensor([n / (n_classes * max(int(c), 1)) for c in counts], dtype=torch.float32, device=device)

    def epoch_order(epoch: int) -> np.ndarray:
        r = np.random.RandomState(cfg.seed * 1000 + epoch)
        present = counts[counts > 0]
        if cfg.balance == "oversample" and len(present) > 1:  # every class up to the largest one
            extra = [r.choice(np.flatnonzero(labels == c), counts.max() - counts[c], replace=True)
                     for c in range(n_classes) if 0 < counts[c] < counts.max()]
            idx = np.concatenate([np.arange(n)] + extra)
            return idx[r.permutation(len(idx))]
        return r.permutation(n)

    steps_per_epoch = math.ceil(len(epoch_order(0)) / (cfg.batch_size * cfg.grad_accum))
    total_steps = max(1, int(math.ceil(steps_per_epoch * cfg.epochs)))
    if stop_epoch is not None and stop_epoch <= 0:
        raise LlmadError(f"stop_epoch must be > 0, not {stop_epoch}")
    last_step = total_steps if stop_epoch is None else \
        min(total_steps, max(1, int(math.ceil(steps_per_epoch * stop_epoch))))
    params = [p for p in model.parameters() if p.requires_grad]
    lr = cfg.lr or DEFAULT_LR[adapter]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * total_steps), total_steps)
    loss_fn = nn.CrossEntropyLoss(reduction="none")  # class weights applied per record (see the loop)
    weight_np = weight.cpu().numpy().astype("float64") if weight is not None else None

    history: dict = {"evals": [], "lr": lr, "total_steps": total_steps, "resumed_from_step": 0}
    if last_step < total_steps:
        history["stop_step"] = last_step
    step, epoch, batch_in_epoch = 0, 0, 0
    best, best_state, bad_evals = None, None, 0
    ckpt = Checkpoint(checkpoint_dir) if checkpoint_dir else None
    if ckpt and ckpt.exists:
        p, best_state = ckpt.load(model, opt, sched)
        step, epoch, batch_in_epoch = p["step"], p["epoch"], p["batch_in_epoch"]
        history["evals"] = p.get("evals", [])
        best, bad_evals = p.get("best"), p.get("bad_evals", 0)
        if best is not None:  # saved as a number before the monitor score became a tuple
            best = tuple(best) if isinstance(best, (list, tuple)) else (float(best),)
        history["resumed_from_step"] = step
        if log:
            log(f"resumed from checkpoint at step {step} (epoch {epoch})")

    def do_eval() -> bool:
        """Evaluate, keep the best state; return True when early stopping says stop."""
        nonlocal best, best_state, bad_evals
        if evaluate is None:
            return False
        model.eval()
        r = evaluate()
        model.train()
        r.update({"step": step, "epoch": round(step / steps_per_epoch, 3)})
        history["evals"].append(r)
        score = monitor_score(r, cfg.monitor)
        if best is None or improves(score, best):
            best, bad_evals = score, 0
            best_state = {k: v.clone() for k, v in trainable_state(model).items()}
        else:
            bad_evals += 1
        return bool(cfg.early_stopping) and bad_evals >= cfg.early_stopping

    model.train()
    seen, t0, stop = 0, time.perf_counter(), False
    running = None
    con = Console(stderr=True)
    plain_every = max(1, last_step // 10) if progress and not con.is_terminal else 0
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=con, transient=True,
                  disable=not (progress and con.is_terminal)) as bar:
        task = bar.add_task(f"training ({adapter})", total=last_step, completed=step, info="")
        while step < last_step and not stop:
            order = epoch_order(epoch)
            batches = [order[i: i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
            while batch_in_epoch < len(batches) and step < last_step:
                group = batches[batch_in_epoch: batch_in_epoch + cfg.grad_accum]
                opt.zero_grad(set_to_none=True)
                total = sum(len(b) for b in group)
                last = 0
                for full in group:
                    # the batch's (class-weighted) mean loss, scaled by its share of the step; with several
                    # processes each takes every n-th record and the summed gradients are the same
                    w_full = weight_np[labels[full]] if weight_np is not None else np.ones(len(full))
                    b = full[rank::n_proc] if n_proc > 1 else full
                    if not len(b):
                        continue
                    batch_ids = [drop_tokens(encoded[i], cfg.token_dropout, (cfg.seed, epoch, int(i)),
                                             keep_first[i] if keep_first is not None else 1) for i in b]
                    ids, mask = pad_batch(batch_ids, pad_id, device)
                    y = torch.as_tensor(labels[b], device=device)
                    with autocast(device, cfg.precision):
                        logits = model(input_ids=ids, attention_mask=mask).logits
                    per = loss_fn(logits.float(), y)
                    if weight is not None:
                        per = per * weight[y]
                    loss = per.sum() / float(w_full.sum()) * (len(full) / total)
                    loss.backward()
                    last = len(full)
                    value = loss.item() * total / len(full)
                    running = value if running is None else 0.95 * running + 0.05 * value
                if n_proc > 1:
                    sum_gradients(params)
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                opt.step()
                sched.step()
                step += 1
                batch_in_epoch += len(group)
                seen += total
                rate = seen / max(time.perf_counter() - t0, 1e-9)
                bar.update(task, completed=step, info=f"loss {running or 0:.4f} · {rate:.1f} samples/s")
                if plain_every and step % plain_every == 0:  # no terminal (a log file): a line per 10 %
                    con.print(f"training ({adapter}) step {step}/{last_step} · loss {running or 0:.4f} · "
                              f"{rate:.1f} samples/s", markup=False, highlight=False)
                if last:
                    history.setdefault("loss", []).append(round(float(value), 6))
                if cfg.eval_every and step % cfg.eval_every == 0 and do_eval():
                    stop = True
                    break
                if ckpt and rank == 0 and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    ckpt.save(model, opt, sched, {"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch,
                                                  "evals": history["evals"], "best": best, "bad_evals": bad_evals},
                              best_state)
            if batch_in_epoch >= len(batches):
                epoch, batch_in_epoch = epoch + 1, 0
                if not cfg.eval_every and do_eval():
                    stop = True
    history["train_seconds"] = round(time.perf_counter() - t0, 3)
    history["train_samples_per_s"] = round(seen / max(time.perf_counter() - t0, 1e-9), 2)
    history["steps"] = step
    if evaluate is not None and (not history["evals"] or history["evals"][-1]["step"] != step):
        do_eval()
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
        history["best_eval"] = history["evals"][0]
        for r in history["evals"][1:]:  # the first evaluation of the best score: the one whose weights were kept
            if improves(monitor_score(r, cfg.monitor), monitor_score(history["best_eval"], cfg.monitor)):
                history["best_eval"] = r
    history["processes"] = n_proc
    if ckpt and rank == 0 and ckpt.exists:
        ckpt.save(model, opt, sched, {"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch,
                                      "evals": history["evals"], "best": best, "bad_evals": bad_evals, "done": True},
                  best_state)
    return history
