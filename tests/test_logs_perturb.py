from collections import Counter

import pandas as pd
import pytest
from logs_common import _private_cache, needs_logs  # noqa: F401

from llmad import LlmadError
from llmad.data.logs import Perturbation, load, perturb
from llmad.data.splits import split


@pytest.fixture(scope="module")
def test_part():
    return split(load("hdfs-20k"), "session")["test"]


KINDS = [("insert_words", 0.3), ("drop_events", 0.3), ("duplicate_events", 0.3), ("shuffle_events", 0.5)]


@needs_logs
@pytest.mark.parametrize("kind,ratio", KINDS)
def test_deterministic_for_a_seed_and_different_for_another(test_part, kind, ratio):
    a = perturb(test_part, Perturbation(kind, ratio, seed=1))
    b = perturb(test_part, Perturbation(kind, ratio, seed=1))
    c = perturb(test_part, Perturbation(kind, ratio, seed=2))
    assert a.text.tolist() == b.text.tolist()
    assert a.text.tolist() != c.text.tolist()
    assert a.text.tolist() != test_part.text.tolist()
    assert (a.label.to_numpy() == test_part.label.to_numpy()).all()
    # order of windows does not change a window's perturbation
    rev = perturb(test_part.iloc[::-1], Perturbation(kind, ratio, seed=1))
    assert rev.text.tolist()[::-1] == a.text.tolist()
    assert a.attrs["perturbation"] == f"{kind}@{ratio:g}/seed1"


@needs_logs
def test_what_each_perturbation_does(test_part):
    n0 = test_part.messages.map(len)
    drop = perturb(test_part, Perturbation("drop_events", 0.5, 0))
    dup = perturb(test_part, Perturbation("duplicate_events", 0.5, 0))
    shuf = perturb(test_part, Perturbation("shuffle_events", 1.0, 0))
    ins = perturb(test_part, Perturbation("insert_words", 0.05, 0))
    assert (drop.messages.map(len) <= n0).all() and (drop.messages.map(len) >= 1).all() and drop.messages.map(len).sum() < n0.sum()
    assert (dup.messages.map(len) >= n0).all() and dup.messages.map(len).sum() > n0.sum()
    assert all(Counter(a) == Counter(b) for a, b in zip(shuf.messages, test_part.messages))
    for a, b in zip(ins.messages, test_part.messages):
        for x, y in zip(a, b):
            assert len(x.split(" ")) - len(y.split(" ")) == -(-0.05 * len(y.split(" ")) // 1)


@needs_logs
def test_test_part_only_and_known_kinds():
    w = load("hdfs-2k")
    with pytest.raises(LlmadError, match="test part only"):
        perturb(w, Perturbation("drop_events", 0.1))
    with pytest.raises(LlmadError, match="unknown perturbation"):
        Perturbation("rotate", 0.1)
    with pytest.raises(LlmadError, match="ratio"):
        Perturbation("drop_events", 1.5)
    with pytest.raises(LlmadError, match="messages"):
        perturb(pd.DataFrame({"text": ["a"], "label": [0]}), Perturbation("drop_events", 0.1))
