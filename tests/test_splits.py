import pytest

from llmad import LlmadError
from llmad.data.splits import SplitConfig, split


def _runs(parts):
    return {p: set(df["run_id"].astype(str)) for p, df in parts.items()}


@pytest.mark.parametrize("kind", ["run", "time"])
def test_no_run_in_two_parts(sample, kind):
    parts = split(sample, SplitConfig(kind, seed=3))
    r = _runs(parts)
    assert not (r["train"] & r["valid"]) and not (r["train"] & r["test"]) and not (r["valid"] & r["test"])
    assert sum(len(df) for df in parts.values()) == len(sample)
    if kind == "time":
        assert (len(r["train"]), len(r["valid"]), len(r["test"])) == (32, 4, 4)
    else:  # 8 runs in each of 5 categories -> 6 / 1 / 1 per category
        assert (len(r["train"]), len(r["valid"]), len(r["test"])) == (30, 5, 5)


def test_run_split_stratified_and_seeded(sample):
    a = split(sample, SplitConfig("run", seed=1))
    b = split(sample, SplitConfig("run", seed=1))
    c = split(sample, SplitConfig("run", seed=2))
    assert _runs(a) == _runs(b)
    assert _runs(a) != _runs(c)
    for part, want in (("train", 6), ("valid", 1), ("test", 1)):
        cats = a[part].groupby("run_id", observed=True)["run_category"].first().astype(str).value_counts()
        assert len(cats) == 5 and (cats == want).all()


def test_time_split_is_chronological(sample):
    parts = split(sample, "time")
    assert parts["train"]["run_start"].max() <= parts["valid"]["run_start"].min()
    assert parts["valid"]["run_start"].max() <= parts["test"]["run_start"].min()


def test_paper_split_matches_pandas_shuffle(sample):
    parts = split(sample, "paper")
    shuffled = sample.sample(frac=1, random_state=42)
    n = len(sample)
    assert parts["train"].index.equals(shuffled.index[: int(n * 0.8)])
    assert parts["valid"].index.equals(shuffled.index[int(n * 0.8): int(n * 0.9)])
    assert parts["test"].index.equals(shuffled.index[int(n * 0.9):])
    # leaky: runs appear on both sides
    r = _runs(parts)
    assert r["train"] & r["test"]


def test_bad_split_name():
    with pytest.raises(LlmadError, match="unknown split"):
        SplitConfig("random")
