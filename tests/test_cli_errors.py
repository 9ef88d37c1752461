"""A user's mistake on the command line gets a usage message and a non-zero exit, never a traceback —
with whatever typer / click pip resolves, and without click or torch installed."""

import json
import subprocess
import sys

import pytest
from test_cli import assert_clean_error, llmad

# run llmad's entry point with some top-level modules made unimportable
BLOCKED = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Block())
sys.argv = ["llmad"] + {args!r}
from llmad.cli import main
main()
"""


def llmad_without(blocked, *args):
    code = BLOCKED.format(blocked=set(blocked), args=[str(a) for a in args])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


MISTAKES = [
    (["data", "stats", "flowbench/sample", "--split", "run"], "No such option: --split"),
    (["train", "flowbench/sample"], "Missing option '--out'"),
    (["trian"], "No such command 'trian'"),
    (["train", "flowbench/sample", "--seed", "abc", "--out", "x"], "Invalid value for '--seed'"),
    (["train", "--bogus"], "No such option: --bogus"),
    (["evaluate"], "Missing argument"),
    ([], "Usage: llmad"),
]


def _check_usage(r, pattern):
    text = r.stdout + r.stderr
    assert r.returncode == 2, (r.returncode, text)
    assert "Traceback" not in text, text
    assert "Usage" in text, text
    assert " ".join(pattern.split()) in " ".join(text.replace("│", " ").split()), text


@pytest.mark.parametrize("args,pattern", MISTAKES, ids=[" ".join(a) or "bare" for a, _ in MISTAKES])
def test_usage_mistakes_print_usage_not_a_traceback(args, pattern):
    _check_usage(llmad(*args, check=False), pattern)


@pytest.mark.parametrize("args,pattern", MISTAKES[:4], ids=[" ".join(a) for a, _ in MISTAKES[:4]])
def test_usage_mistakes_without_click_installed(args, pattern):
    r = llmad_without({"click"}, *args)
    assert "No module named 'click'" not in r.stderr
    _check_usage(r, pattern)


def test_classical_detectors_without_torch(tmp_path):
    r = llmad_without({"torch", "transformers", "peft"}, "demo", "--detectors", "gbdt", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["detector"] == "gbdt"
    for det in ("gbdt", "iforest", "tfidf"):
        r = llmad_without({"torch"}, "train", "flowbench/sample", "--detector", det, "--out", tmp_path / det)
        assert r.returncode == 0, r.stderr
        r = llmad_without({"torch"}, "evaluate", tmp_path / det, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["detector"] == det, r.stderr
    # asking for the language model without its extra: one line naming what to install
    r = llmad_without({"torch"}, "train", "flowbench/sample", "--detector", "sft", "--out", tmp_path / "s")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    msg = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(msg) == 1 and "pip install 'llmad[sft]'" in msg[0], r.stderr


def test_library_import_does_not_pull_torch():
    code = ("import sys; import llmad.cli, llmad.runs, llmad.detectors, llmad.detectors.catalog; "
            "from llmad.detectors import make_detector; make_detector('gbdt'); make_detector('tfidf'); "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


HELP_TEXTS = [
    (["train", "--help"], "[logs] Line format"),
    (["train", "--help"], "[sft] Backbone"),
    (["detect", "--help"], "[ray] Model actors"),
    (["serve", "--help"], "pip install 'llmad[serve]'"),
    (["data", "parse", "--help"], "<Component>[[[<PID>]]]: <Content>' ([[...]]: optional)"),
    (["train", "--help"], "flowbench/NAME (flowbench/sample is packaged), logs/NAME, or a raw log file as logs:PATH"),
    (["evaluate", "--help"], "A trained detector folder (llmad train --out, llmad ensemble --out)."),
]


@pytest.mark.parametrize("args,text", HELP_TEXTS, ids=[t for _, t in HELP_TEXTS])
def test_help_shows_bracketed_words(args, text):
    """typer renders help as Rich markup, where "[logs]" or "llmad[serve]" would vanish as unknown style tags."""
    r = llmad(*args, env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    shown = " ".join(r.stdout.replace("│", " ").split())
    assert text in shown, shown


FOREIGN = [
    (["--detector", "gbdt", "--epochs", "3"], "the gbdt detector does not read 1 of the options given (--epochs is "
                                              "read by sft)"),
    (["--detector", "gbdt", "--tune", "valid", "--lr", "0.1"], "(--lr is read by sft; --tune is read by tfidf); "
                                                                "drop them"),
    (["--detector", "tfidf", "--target", "type"], "--target is read by gbdt and sft"),
    (["--detector", "sft", "--shots", "3"], "--shots is read by icl"),
    (["--detector", "icl", "--template", "context"], "--template is read by sft and tfidf"),
    (["--detector", "iforest", "--backbone", "minilm"], "--backbone is read by sft and icl"),
    (["--detector", "sft", "--features", "context"], "--features is read by gbdt and iforest"),
    (["--detector", "sft", "--no-calibrate"], "--calibrate is read by icl"),
]


@pytest.mark.parametrize("args,pattern", FOREIGN, ids=[" ".join(a) for a, _ in FOREIGN])
def test_an_option_the_detector_would_ignore_is_refused(tmp_path, args, pattern):
    """`--epochs` on gbdt used to train a gbdt and say nothing: the user believed a setting was in force."""
    r = llmad("train", "flowbench/sample", *args, "--out", tmp_path / "m", check=False)
    assert_clean_error(r, pattern)
    assert r.returncode == 2 and not (tmp_path / "m").exists()


def test_every_train_option_is_read_by_every_detector_or_listed():
    """A new `train` option must be classified: read by all detectors, or listed with the ones that read it."""
    import inspect

    from llmad.cli import TRAIN_OPTION_DETECTORS, train
    from llmad.detectors.catalog import DETECTORS

    every = {"dataset", "out_dir", "detector", "split_kind", "seed", "model_seed", "config_file", "context",
             "threshold", "threshold_folds", "threshold_groups", "train_fraction", "train_prefixes", "fmt", "grouping", "window", "step",
             "labels", "dedup", "allow_unparsed", "text", "fields"}
    assert set(inspect.signature(train).parameters) == every | set(TRAIN_OPTION_DETECTORS)
    assert all(set(d) < set(DETECTORS) for d in TRAIN_OPTION_DETECTORS.values())


def test_template_on_a_log_dataset_points_to_text(tmp_path):
    r = llmad("train", "logs/hdfs-2k", "--detector", "tfidf", "--template", "context", "--out", tmp_path / "m",
              check=False)
    assert_clean_error(r, "a log window's text is chosen with --text")
