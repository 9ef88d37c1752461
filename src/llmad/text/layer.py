"""The text layer: how a detector turns its input table into text, learnt on train and saved with it.

One interface for job records and log windows — ``fit(train) -> self``, ``transform(x) -> list[str]``,
``to_dict()`` / :func:`load_text_layer` — used by every detector that reads text (the fine-tuned language
model, TF-IDF, and the in-context prompts to come):

- :class:`RecordText`: a Flow-Bench job record through a named template (:mod:`llmad.text.records`);
  fitted templates (``deciles``) learn their bin edges from the training records.
- :class:`WindowText`: a log window's masked messages, their drain3 templates or template ids (mined on
  the training windows only), in sequence or as distinct items with counts — the text modes of
  :mod:`llmad.data.logs.text`. The template state is saved beside the model (``templates.json``) and
  required to load it.
- :class:`GivenText`: a table that already has a ``text`` column (e.g. an exported CSV).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from llmad import LlmadError

TEMPLATES_FILE = "templates.json"


class RecordText:
    kind = "records"

    def __init__(self, template: str, state: dict | None = None):
        from llmad.text.records import needs_fit

        needs_fit(template)  # validates the name
        self.template = template
        self.state = state

    def fit(self, train: pd.DataFrame) -> RecordText:
        from llmad.text.records import fit_template

        self.state = fit_template(self.template, train)
        return self

    def transform(self, x: pd.DataFrame) -> list[str]:
        from llmad.text.records import render

        if "messages" in x.columns:
            raise LlmadError("this model reads job records, not log windows")
        return render(x, self.template, self.state)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "template": self.template, "state": self.state}

    def save(self, folder: Path) -> None:
        pass


class WindowText:
    kind = "windows"

    def __init__(self, mode: str = "masked", separator: str = " | ", collapse_repeats: bool = True,
                 max_chars: int | None = None, drain=None):
        from llmad.data.logs.text import TextConfig

        self.config = TextConfig(mode, separator, collapse_repeats, max_chars)
        self.drain = drain

    @classmethod
    def for_table(cls, table: pd.DataFrame, words: bool = False) -> WindowText:
        """The text settings the loader recorded for this windows table (defaults otherwise).

        ``words``: a model prompted in words (in-context learning) reads the masked messages when the mode is
        only the dataset's default (template ids say nothing to a model that has not been trained on them);
        a mode the user asked for is kept."""
        t = dict(table.attrs.get("logs", {}).get("text", {}))
        if words and not t.get("given", True):
            t["mode"] = "masked"
        return cls(**{k: t[k] for k in ("mode", "separator", "collapse_repeats", "max_chars") if k in t})

    def fit(self, train: pd.DataFrame) -> WindowText:
        self._need_messages(train)
        self.drain = None
        if self.config.needs_templates:
            from llmad.data.logs.drain import TemplateConfig, TemplateModel

            model = TemplateModel(TemplateConfig(mask=False))  # messages are masked already
            for msgs in train["messages"]:
                for m in msgs:
                    model.add(m)
            self.drain = model
        return self

    def messages(self, x: pd.DataFrame) -> list[list[str]]:
        """Each window's lines as the model reads them: masked messages, template strings or template ids."""
        from llmad.data.logs.text import UNSEEN_ID

        self._need_messages(x)
        unit = self.config.unit
        if unit == "message":
            return [list(m) for m in x["messages"]]
        if self.drain is None:
            raise LlmadError("the template text layer is not fitted")
        d = self.drain
        cache: dict[str, str] = {}

        def of(m: str) -> str:
            t = cache.get(m)
            if t is None:
                cid = d.match(m)
                if unit == "id":
                    t = UNSEEN_ID if cid is None else f"E{cid}"
                else:
                    t = d.template(cid)
                cache[m] = t
            return t
        return [[of(m) for m in msgs] for msgs in x["messages"]]

    def transform(self, x: pd.DataFrame) -> list[str]:
        from llmad.data.logs.text import render_all

        return render_all(self.messages(x), self.config)[0]

    @staticmethod
    def _need_messages(x: pd.DataFrame) -> None:
        if "messages" not in x.columns:
            raise LlmadError("this model reads log windows (a table with a 'messages' column), not job records")

    def to_dict(self) -> dict:
        c = self.config
        return {"kind": self.kind, "mode": c.mode, "separator": c.separator, "collapse_repeats": c.collapse_repeats,
                "max_chars": c.max_chars, "templates": len(self.drain) if self.drain is not None else None}

    def save(self, folder: Path) -> None:
        if self.drain is not None:
            self.drain.save(Path(folder) / TEMPLATES_FILE)


class GivenText:
    kind = "given"

    def fit(self, train: pd.DataFrame) -> GivenText:
        return self

    def transform(self, x: pd.DataFrame) -> list[str]:
        if "text" not in x.columns:
            raise LlmadError("this model reads a 'text' column, which the records lack")
        return x["text"].astype(str).tolist()

    def to_dict(self) -> dict:
        return {"kind": self.kind}

    def save(self, folder: Path) -> None:
        pass


TextLayer = RecordText | WindowText | GivenText


def text_layer_for(table: pd.DataFrame, template: str) -> TextLayer:
    """An unfitted text layer for this kind of table: log windows, given text, or job records."""
    if "messages" in table.columns:
        return WindowText.for_table(table)
    if "text" in table.columns:
        return GivenText()
    return RecordText(template)


def load_text_layer(d: dict, folder: str | Path) -> TextLayer:
    """Rebuild a saved text layer; a template layer needs its ``templates.json`` in ``folder``."""
    kind = d.get("kind")
    if kind == RecordText.kind:
        return RecordText(d["template"], d.get("state"))
    if kind == GivenText.kind:
        return GivenText()
    if kind == WindowText.kind:
        layer = WindowText(d.get("mode", "masked"), d.get("separator", " | "), d.get("collapse_repeats", True),
                           d.get("max_chars"))
        if layer.config.needs_templates:
            from llmad.data.logs.drain import TemplateModel

            f = Path(folder) / TEMPLATES_FILE
            if not f.is_file():
                raise LlmadError(f"{folder}: this model reads drain3 templates but {TEMPLATES_FILE} is missing; "
                                 "the model folder is incomplete (copy it whole, or train again)")
            layer.drain = TemplateModel.load(f)
        return layer
    raise LlmadError(f"{folder}: unknown text layer {kind!r}")
