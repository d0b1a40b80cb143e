"""Attribution: relevance maps (LRP for transformers and gradient methods), perturbation tests
and the model-randomisation sanity check (API.md §5). torch loads only when a function runs.

>>> from xaurora.attribution import Target
>>> Target("t2m", region=(30, 72, -12, 45)).aurora_variable
'2t'
"""

from xaurora.attribution.perturb import perturbation_test
from xaurora.attribution.relevance import relevance, vertical_profile
from xaurora.attribution.sanity import randomization_check
from xaurora.attribution.target import Target

__all__ = ["Target", "perturbation_test", "randomization_check", "relevance", "vertical_profile"]
