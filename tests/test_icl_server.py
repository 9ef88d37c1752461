"""The OpenAI-compatible HTTP backend against a real llama.cpp server on loopback (xllamacpp), and kNN
prompting (Xu et al.) with the packaged SmolLM2."""

import json

import numpy as np
import pytest

from llmad import LlmadError, runs
from llmad.icl import prompts as P
from llmad.icl.demos import balanced_anchors, knn_vote
from llmad.icl.http_backend import OpenAIServer, label_logprobs, top_tokens
from test_icl import _jobs, needs_smollm2

try:
    import xllamacpp  # noqa: F401

    HAS_SERVER = True
except ImportError:
    HAS_SERVER = False
needs_server = pytest.mark.skipif(not HAS_SERVER, reason="xllamacpp (the prebuilt llama.cpp server) is not installed")


def test_both_logprob_shapes_are_read():
    openai = {"logprobs": {"top_logprobs": [{" Normal": -0.5, " Abnormal": -1.5, " No": -2.0}]}}
    llama = {"logprobs": {"content": [{"token": " Normal", "logprob": -0.5, "top_logprobs": [
        {"token": " Normal", "logprob": -0.5}, {"token": " Abnormal", "logprob": -1.5}, {"token": " No", "logprob": -2.0}]}]}}
    assert top_tokens(openai) == top_tokens(llama) == {" Normal": -0.5, " Abnormal": -1.5, " No": -2.0}
    with pytest.raises(LlmadError, match="no logprobs"):
        top_tokens({"text": "x"})


def test_label_words_are_summed_over_variants_and_a_missing_one_is_floored_and_counted():
    got, missing = label_logprobs({" Normal": np.log(0.3), "Normal": np.log(0.1), " No": np.log(0.2),
                                   " Abn": np.log(0.05)}, P.LABELS)
    assert missing == 0
    np.testing.assert_allclose(got, [np.log(0.4), np.log(0.05)])  # " No" is not the word Normal
    got, missing = label_logprobs({" Normal": -0.1, " Yes": -3.0}, P.LABELS)
    assert missing == 1 and got == [-0.1, -3.0]  # absent: the smallest returned log-probability, an upper bound


def test_unreachable_server_is_a_clear_error():
    from llmad.icl.local_server import free_port

    lm = OpenAIServer(f"http://127.0.0.1:{free_port()}/v1", "m", timeout=5)
    with pytest.raises(LlmadError, match="cannot reach the server"):
        lm.score("p", ["q"], P.LABELS)
    with pytest.raises(LlmadError, match="http://"):
        OpenAIServer("127.0.0.1:8080", "m")


@pytest.fixture(scope="module")
def server():
    from llmad.icl.local_server import start

    srv, url = start("smollm2", ctx=2048)
    yield url
    del srv


@needs_server
@needs_smollm2
def test_http_backend_agrees_with_the_in_process_model(server):
    """The same GGUF weights, served by llama.cpp and run by transformers, give close label log-probabilities
    (llama.cpp's Q4_1 kernels are not float32 arithmetic: close, not equal; on these near-identical records
    the differences are of the order of the spread, so ranks are not compared)."""
    from llmad.icl.backend import CausalLM

    prompt = P.get_prompt("paper-zero")
    pre = P.prefix(prompt, "jobs")
    qs = [P.query(s, prompt, "jobs") for s in P.job_sentences(_jobs(12, seed=3))]
    remote = OpenAIServer(server, "smollm2", parallel=2)
    a = remote.score(pre, qs, P.LABELS)
    b = CausalLM("smollm2").score(pre, qs, P.LABELS)
    assert remote.missing == 0 and a.shape == b.shape == (12, 2)
    np.testing.assert_allclose(a, b, atol=0.5)
    assert abs(np.mean(a[:, 1] - a[:, 0]) - np.mean(b[:, 1] - b[:, 0])) < 0.5
    text = remote.generate(pre, qs[0], max_new_tokens=4)
    assert isinstance(text, str) and text


@needs_server
@needs_smollm2
def test_icl_detector_through_the_server_trains_saves_and_scores(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMAD_API_KEY", "secret-key-123")
    from llmad.detectors.base import load_detector

    prep = runs.prepare("flowbench/sample")
    res = runs.train(prep, "icl", {"prompt": "fenced-few", "shots": 2, "max_valid": 6, "base_url": server},
                     out=tmp_path / "m")
    test = prep.part("test").iloc[:5]
    s = res.detector.decision_function(test)
    assert np.isfinite(s).all() and len(set(np.round(s, 6))) > 1
    saved = (tmp_path / "m" / "detector.json").read_text()
    assert server in saved and "secret-key-123" not in saved  # the key is never saved
    again = load_detector(tmp_path / "m")
    np.testing.assert_allclose(again.decision_function(test), s, atol=1e-4)


@needs_server
@needs_smollm2
def test_a_prompt_the_server_refuses_names_its_record(server):
    """A served model checks its own context: its refusal of a prompt too long for it (HTTP 400 from llama.cpp,
    context 2048 here) comes back naming the record, for label-word scoring and for a chain of thought."""
    from llmad.detectors import make_detector
    from llmad.icl.http_backend import RequestRefused

    lm = OpenAIServer(server, "m", timeout=60)
    with pytest.raises(RequestRefused, match=r"record 2: the server refused its prompt: .*HTTP 400.*context"):
        lm.score("Is this job normal? ", ["a short job", "word " * 3000], P.LABELS)
    prep = runs.prepare("flowbench/sample")
    det = make_detector("icl", prompt="paper-cot", base_url=server, max_new_tokens=4, max_valid=4)
    det.fit(prep.part("train"), prep.part("valid"))
    with pytest.raises(RequestRefused, match=r"record 3: the server refused its prompt: .*HTTP 400"):
        det._cot(["a short job", "another", "word " * 3000])


def test_knn_vote_and_balanced_anchors():
    d = np.array([[0.1, 0.2, 5.0, 6.0], [5.0, 6.0, 0.1, 0.3]])
    v = knn_vote(d, np.array([1, 1, 0, 0]), 2)
    assert v[0] == 1.0 and v[1] == 0.0
    assert knn_vote(np.ones((1, 4)), np.array([1, 1, 0, 0]), 4)[0] == 0.5
    # with every anchor voting, the nearer ones weigh more
    assert knn_vote(np.array([[0.1, 0.2, 0.3, 5.0]]), np.array([1, 1, 0, 0]), 4)[0] > 0.5
    y = np.array([0] * 90 + [1] * 10)
    ix = balanced_anchors(y, 16, 0)
    assert len(ix) == 16 and y[ix].sum() == 8 and len(set(ix)) == 16
    ix = balanced_anchors(y, 40, 0)
    assert y[ix].sum() == 10 and len(ix) == 40  # the rarer class runs out: all of it, the rest normal
    with pytest.raises(LlmadError, match="both classes"):
        balanced_anchors(np.zeros(5), 4, 0)


@needs_smollm2
def test_knn_prompting_scores_are_votes_and_survive_save_and_load(tmp_path, monkeypatch):
    from llmad.detectors.base import load_detector

    prep = runs.prepare("flowbench/sample")
    res = runs.train(prep, "icl", {"prompt": "paper-zero", "shots": 0, "scoring": "knn-prompting", "anchors": 12,
                                   "neighbours": 4, "max_valid": 6}, out=tmp_path / "k")
    det = res.detector
    train_ids = set(prep.part("train")["job_id"].astype(str))
    assert len(det.info_["anchors"]) == 12 and {a["id"] for a in det.info_["anchors"]} <= train_ids
    assert sum(a["label"] for a in det.info_["anchors"]) == 6 and det.info_["bias"] == 0.0
    test = prep.part("test").iloc[:6]
    s = det.decision_function(test)
    assert ((s >= 0) & (s <= 1)).all()
    doc = json.loads((tmp_path / "k" / "detector.json").read_text())
    assert doc["config"]["scoring"] == "knn-prompting"
    np.testing.assert_allclose(load_detector(tmp_path / "k").decision_function(test), s, atol=1e-6)
    # a full memo is emptied without losing the scores of the call that overflows it
    import llmad.detectors.icl as icl_module

    monkeypatch.setattr(icl_module, "MEMO_MAX", 3)
    more = det.decision_function(prep.part("test").iloc[:8])
    np.testing.assert_allclose(more[:6], s, atol=1e-6)
    assert len(det._memo) == 2
    # an anchor scored as a query is its own nearest neighbour (KL 0): its vote leans to its label
    a = det.info_["anchors"][0]
    kind, prompt = det.info_["kind"], det.prompt
    _, prob, neg_h = det._anchors()
    logq = det.lm().distributions(det._prefix(), [P.query(a["text"], prompt, kind)])
    kl = neg_h[None, :] - np.maximum(logq.astype("float64"), -1e30) @ prob.T
    assert abs(kl[0, 0]) < 1e-3 and kl[0, 0] <= kl[0].min() + 1e-3


def test_knn_prompting_config_is_checked():
    from llmad.detectors.configs import ICLConfig

    with pytest.raises(LlmadError, match="in-process"):
        ICLConfig(scoring="knn-prompting", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(LlmadError, match="paper-cot"):
        ICLConfig(scoring="knn-prompting", prompt="paper-cot")
    with pytest.raises(LlmadError, match="not knn"):
        ICLConfig(scoring="knn-prompting", prompt="paper-few", demos="knn")


@needs_smollm2
def test_knn_prompting_from_the_command_line(tmp_path):
    from test_cli import llmad

    model = tmp_path / "k"
    llmad("train", "flowbench/sample", "--detector", "icl", "--prompt", "paper-zero", "--shots", "0",
          "--scoring", "knn-prompting", "--anchors", "8", "--neighbours", "3", "--max-valid", "6", "--out", model)
    m = json.loads(llmad("evaluate", model, "--limit", "6", "--json").stdout)
    assert m["n"] == 6 and m["roc_auc"] is not None
    r = llmad("train", "flowbench/sample", "--detector", "icl", "--scoring", "knn-prompting", "--base-url",
              "http://127.0.0.1:9/v1", "--out", tmp_path / "x", check=False)
    assert r.returncode != 0 and "in-process" in r.stderr and "Traceback" not in r.stderr


@needs_server
@needs_smollm2
def test_served_model_from_the_command_line(server, tmp_path):
    from test_cli import llmad

    model = tmp_path / "s"
    llmad("train", "flowbench/sample", "--detector", "icl", "--prompt", "fenced-zero", "--shots", "0",
          "--base-url", server, "--max-valid", "6", "--out", model)
    m = json.loads(llmad("evaluate", model, "--limit", "6", "--json").stdout)
    assert m["n"] == 6 and m["roc_auc"] is not None
    assert m["labels_floored"]["records"] == 0  # counted, and SmolLM2 puts both label words in its top 20
