"""Attribution: relevance maps (LRP for transformers and gradient methods), perturbation tests,
the model-randomisation sanity check, and intervention tests on latents (edits, amnesic
probing, an SAE spliced in). torch loads only when a function runs.

>>> from xaurora.attribution import Target
>>> Target("t2m", region=(30, 72, -12, 45)).aurora_variable
'2t'
"""

from xaurora.attribution.intervention import amnesic_probe, inlp, intervention_test
from xaurora.attribution.perturb import perturbation_test
from xaurora.attribution.relevance import relevance, vertical_profile
from xaurora.attribution.sanity import randomization_check, relevance_sanity
from xaurora.attribution.splice import splice_test
from xaurora.attribution.target import Target

__all__ = ["Target", "amnesic_probe", "inlp", "intervention_test", "perturbation_test",
           "randomization_check", "relevance", "relevance_sanity", "splice_test",
           "vertical_profile"]
