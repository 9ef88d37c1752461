"""llmad: anomaly detection in computational workflows and system logs with language models."""

__version__ = "0.1.0"


class LlmadError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits non-zero."""
