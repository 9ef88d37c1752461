"""Records -> text for language models. Templates are registered by name."""

from llmad.text.templates import TEMPLATES, get_template, render

__all__ = ["TEMPLATES", "get_template", "render"]
