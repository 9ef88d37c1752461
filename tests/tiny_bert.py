"""A tiny random BERT classifier and token data for training-loop tests (no weights to load, dropout off, so a
training run is a deterministic function of its seed)."""

import numpy as np
import torch


def tiny_bert():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                     max_position_embeddings=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                     num_labels=2)
    return BertForSequenceClassification(cfg)


def token_data(n: int = 64):
    """``n`` random token sequences of 4-11 ids, labelled by whether the first id is above 30."""
    rng = np.random.default_rng(0)
    enc = [list(rng.integers(1, 60, rng.integers(4, 12))) for _ in range(n)]
    return enc, np.array([int(e[0] > 30) for e in enc])
