"""In-context learning: prompts (:mod:`.prompts`), demonstrations (:mod:`.demos`) and the causal-LM backend
(:mod:`.backend`) of the ``icl`` detector (:mod:`llmad.detectors.icl`)."""
