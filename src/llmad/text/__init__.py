"""Records -> text for language models. Templates are registered by name; some are fitted on training records."""

from llmad.text.records import FITTED, TEMPLATES, fit_template, get_template, needs_fit, render

__all__ = ["FITTED", "TEMPLATES", "fit_template", "get_template", "needs_fit", "render"]
