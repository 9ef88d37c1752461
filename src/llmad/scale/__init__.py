"""Scale: distributed batch scoring on Ray (:mod:`llmad.scale.ray_batch`), ``pip install 'llmad[ray]'``."""
