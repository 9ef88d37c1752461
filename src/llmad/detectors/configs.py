"""One frozen configuration per detector: defaults and help text in one place (the CLI reads them here).

Importable without torch, LightGBM or PyOD, so ``llmad --help`` and the classical detectors never pull
the language-model stack in.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmad import LlmadError
from llmad.config import check_choices, option
from llmad.models.configs import AdapterConfig, TrainConfig

FEATURE_SETS = ("paper", "context", "all")
RECORD_TEMPLATES = ("paper", "readable", "readable-peers", "compact", "deciles", "context",
                    "context-percentiles", "context-digits", "context-percentiles-global")
CONTEXT_MODES = ("batch", "online")
TARGETS = ("anomaly", "type")
TARGET_HELP = ("What to learn: anomaly (normal / anomalous) or type (normal / cpu / hdd: the stress injected on "
               "the job's worker, Flow-Bench); a type model still scores anomalies as 1 - P(normal).")
CONTEXT_HELP = ("Run context mode, when the features / template read it: batch (the whole run is known) or "
                "online (only jobs that ended before this one).")


def _features_ok(cfg) -> None:
    f = cfg.features
    if isinstance(f, str):
        if f not in FEATURE_SETS:
            raise LlmadError(f"unknown feature set {f!r}; choose {', '.join(FEATURE_SETS)} or a list of columns")
    else:
        from llmad.data.flowbench import assert_no_banned

        if not f:
            raise LlmadError("features: give a feature set name or at least one column")
        assert_no_banned(f)


@dataclass(frozen=True)
class GBDTConfig:
    features: str | tuple[str, ...] = option("paper", "Numeric features: paper (the 9 of the paper), context (those "
                                                      "+ run context: peers, same worker, DAG), all (every numeric "
                                                      "non-host column) or a list of columns.")
    context: str = option("batch", CONTEXT_HELP, CONTEXT_MODES)
    target: str = option("anomaly", TARGET_HELP, TARGETS)
    seed: int = option(0, "Seed.")
    n_estimators: int = option(300, "Boosting rounds.")
    learning_rate: float = option(0.05, "Learning rate.")
    num_leaves: int = option(31, "Leaves per tree.")

    def __post_init__(self):
        check_choices(self)
        _features_ok(self)
        if self.n_estimators < 1 or self.num_leaves < 2 or self.learning_rate <= 0:
            raise LlmadError("gbdt needs n_estimators >= 1, num_leaves >= 2 and learning_rate > 0")


@dataclass(frozen=True)
class IForestConfig:
    features: str | tuple[str, ...] = option("paper", "Numeric features: paper, context, all or a list of columns.")
    context: str = option("batch", CONTEXT_HELP, CONTEXT_MODES)
    seed: int = option(0, "Seed.")
    n_estimators: int = option(200, "Trees.")
    max_train: int | None = option(50000, "Fit on at most N training records (seeded sample).")

    def __post_init__(self):
        check_choices(self)
        _features_ok(self)
        if self.n_estimators < 1:
            raise LlmadError("iforest needs n_estimators >= 1")


@dataclass(frozen=True)
class TfidfConfig:
    seed: int = option(0, "Seed.")
    template: str = option("readable", "Flow-Bench text template (log windows are read as they are).",
                           RECORD_TEMPLATES)
    context: str = option("batch", CONTEXT_HELP, CONTEXT_MODES)
    ngram_max: int = option(2, "Longest word n-gram.")
    min_df: int = option(1, "Ignore terms in fewer training texts.")
    max_features: int = option(50000, "Vocabulary size.")
    C: float = option(10.0, "Inverse regularisation of the logistic regression.")
    tf: str = option("sublinear", "Term frequency: sublinear (1 + log tf) or raw (counts: with --text ids, the "
                                  "window's event-count vector).", ("sublinear", "raw"))
    idf: bool = option(True, "Weight terms by inverse document frequency.")
    class_weight: str = option("balanced", "Logistic-regression class weights: balanced (anomalies weigh as much "
                                           "as normals in total) or none.", ("balanced", "none"))
    tune: str = option("none", "none: fit the settings given; valid: try 48 settings (C 0.1/1/10/100 x n-grams up "
                               "to 1/2/3 x tf x class weights) on the train part and keep the one with the best "
                               "validation F1, ties broken by the lower validation log-loss (no test record "
                               "is read). The kept setting is saved as the config.", ("none", "valid"))

    def __post_init__(self):
        check_choices(self)
        if self.ngram_max < 1 or self.min_df < 1 or self.max_features < 1 or self.C <= 0:
            raise LlmadError("tfidf needs ngram_max, min_df, max_features >= 1 and C > 0")


TRUNCATIONS = ("head", "head-tail")
ENGINES = ("auto", "torch", "int8")


@dataclass(frozen=True)
class SFTConfig:
    backbone: str = option("minilm-l3", "Backbone: minilm-l3 (3 layers of all-MiniLM-L6-v2: the default, chosen on "
                                        "measured speed and quality), minilm (all 6), smollm2, a Hugging Face id or "
                                        "a path.")
    adapter: AdapterConfig = option(AdapterConfig(), "Adapter: which parameters train, and its settings.")
    template: str = option("deciles", "Flow-Bench text template (log windows are read as they are).",
                           RECORD_TEMPLATES)
    context: str = option("batch", CONTEXT_HELP, CONTEXT_MODES)
    target: str = option("anomaly", TARGET_HELP, TARGETS)
    max_length: int = option(128, "Max tokens per record (longer ones are truncated).")
    layers: int | None = option(None, "Keep only the first N transformer layers (faster; default all).")
    truncation: str = option("head", "Texts over max_length keep the head, or head-tail (drop the middle).",
                             TRUNCATIONS)
    pooling: str = option("auto", "What the head reads: auto (mean of the tokens for BERT-style encoders such as "
                                  "MiniLM, whose [CLS] state is near constant; the model's own pooling otherwise), "
                                  "cls (the first token, as models saved before 2026-12 do) or mean.",
                          ("auto", "cls", "mean"))
    train: TrainConfig = option(TrainConfig(), "Training loop settings.")
    max_train: int | None = option(None, "Use at most N training records (stratified, seeded).")
    train_frac: float | None = option(None, "Use this fraction of the training records.")
    seed: int = option(0, "Seed of the subsample, the head initialisation and the training loop.")
    eval_batch_size: int = option(64, "Batch size when scoring.")
    inference: str = option("auto", "Scoring engine: auto (int8 ONNX Runtime on CPU), torch, int8.", ENGINES)
    device: str | None = option(None, "cpu or cuda (default: cuda when available).")

    def __post_init__(self):
        check_choices(self)
        if self.layers is not None and self.layers < 1:
            raise LlmadError(f"layers must be a positive number of transformer layers, not {self.layers}")
        if self.max_length < 4:
            raise LlmadError("max_length must be at least 4 tokens")
        if self.train_frac is not None and not 0 < self.train_frac <= 1:
            raise LlmadError("train fraction must be in (0, 1]")
        if self.max_train is not None and self.max_train < 2:
            raise LlmadError("max_train must be at least 2")


@dataclass(frozen=True)
class ICLConfig:
    model: str = option("smollm2", "Causal language model: smollm2 (the packaged SmolLM2-135M-Instruct), a local "
                                   "folder or a Hugging Face id available offline (no remote code).")
    prompt: str = option("paper-few", "Prompt template: paper-zero, paper-few (train-only class statistics and "
                                      "demonstrations), paper-cot (few-shot, reasoning generated first), "
                                      "fenced-zero, fenced-few (records fenced as data), marked-zero, marked-few "
                                      "(fenced, and words inside the fence joined by ^: the injection defence).",
                         ("paper-zero", "paper-few", "paper-cot", "fenced-zero", "fenced-few", "marked-zero",
                          "marked-few"))
    shots: int = option(3, "Demonstrations in a few-shot prompt.")
    demos: str = option("stratified", "Demonstrations: random, stratified (classes balanced) or knn (the nearest "
                                      "training records to each query, MiniLM embeddings).",
                        ("random", "stratified", "knn"))
    knn_pool: int = option(2000, "Training records (stratified sample) the knn demonstrations come from.")
    calibrate: bool = option(True, "Contextual calibration: subtract the model's label bias on a content-free "
                                   "input (N/A) from every score.")
    max_valid: int = option(300, "Validation records (stratified sample) scored to choose the threshold.")
    batch_size: int = option(8, "Queries per forward pass.")
    max_new_tokens: int = option(96, "Chain of thought: most tokens of reasoning generated per record.")
    reuse_prefix: bool = option(True, "Compute the shared prompt prefix once and reuse its key/value cache.")
    scoring: str = option("words", "How a record is scored: words (log-odds of the label words, calibrated) or "
                                   "knn-prompting (Xu et al.: the next-token distribution of the prompt is compared "
                                   "by KL divergence with those of labelled training anchors; a weighted vote of the "
                                   "nearest anchors).", ("words", "knn-prompting"))
    anchors: int = option(256, "kNN prompting: training records (classes balanced) whose distributions are kept.")
    neighbours: int = option(16, "kNN prompting: nearest anchors that vote.")
    base_url: str = option("", "An OpenAI-compatible server (vLLM, Ollama, llama.cpp server), e.g. "
                               "http://127.0.0.1:8080/v1; model is then the served model's name and the key comes "
                               "from LLMAD_API_KEY. Empty: the model runs in-process.")
    top_logprobs: int = option(20, "Server: most likely tokens returned per answer (where the label words are "
                                   "looked for).")
    parallel: int = option(4, "Server: requests in flight at once.")
    context: str = option("none", "Job records: add the job's run context in words (its peer ratios and those of "
                                  "the other jobs on its worker in the run): none, batch (the whole run known) or "
                                  "online (only jobs finished before it).", ("none", *CONTEXT_MODES))
    job_text: str = option("delays", "Job records in words: delays (the paper's six delays in seconds) or levels "
                                     "(each of the 9 features, and the run context when set, as very low ... very "
                                     "high against training jobs of the same kind; edges from the train part).",
                           ("delays", "levels"))
    guard: str = option("none", "Injection guard on record text: none; vocabulary (a record shows the model "
                                "only words seen in training records, numbers, and <?> for each run of other words; "
                                "label words and prompt markers never pass); or vocabulary-drop (the same, with the "
                                "other words withheld without a trace: what kNN prompting needs). Both also hide "
                                "a new message's new words.", ("none", "vocabulary", "vocabulary-drop"))
    seed: int = option(0, "Seed of the demonstrations and samples.")

    def __post_init__(self):
        check_choices(self)
        if self.shots < 0 or self.knn_pool < 2 or self.max_valid < 2 or self.batch_size < 1:
            raise LlmadError("icl needs shots >= 0, knn_pool >= 2, max_valid >= 2 and batch_size >= 1")
        if self.anchors < 2 or self.neighbours < 1 or self.top_logprobs < 2 or self.parallel < 1:
            raise LlmadError("icl needs anchors >= 2, neighbours >= 1, top_logprobs >= 2 and parallel >= 1")
        if self.scoring == "knn-prompting" and self.base_url:
            raise LlmadError("knn-prompting needs the whole next-token distribution, which an HTTP server does "
                             "not return: drop base_url to run the model in-process")
        if self.scoring == "knn-prompting" and self.demos == "knn" and self.prompt.endswith("-few") and self.shots:
            raise LlmadError("knn-prompting compares every record under one shared prompt: use random or stratified "
                             "demonstrations with it, not knn")
        if self.scoring == "knn-prompting" and self.prompt == "paper-cot":
            raise LlmadError("knn-prompting scores the answer position directly; it does not combine with paper-cot")
        if self.prompt.endswith("-zero") and self.shots and self.demos == "knn":
            raise LlmadError("knn demonstrations go in a few-shot prompt: use paper-few, fenced-few or marked-few")


@dataclass(frozen=True)
class EnsembleConfig:
    combine: str = option("mean-log-odds", "How the members' scores become one: mean-log-odds (the mean of each "
                                           "member's log P(anomalous) - log P(normal)).", ("mean-log-odds",))

    def __post_init__(self):
        check_choices(self)
