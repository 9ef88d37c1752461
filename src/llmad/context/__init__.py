"""Context: what a record's surroundings say (a job's run, worker and DAG), computed without labels."""

from llmad.context.workflow import COLUMNS, MODES, RunContext, add_context, dag_for

__all__ = ["COLUMNS", "MODES", "RunContext", "add_context", "dag_for"]
