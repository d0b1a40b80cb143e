"""Models: registry, tiny/random weights with every block active, pickling, checkpoints."""

from __future__ import annotations

import io
import pickle
import re

import numpy as np
import pytest
import torch

import xaurora as xa
from xaurora.io.canonical import canonicalize
from xaurora.io.static import load_static, safe_unpickle
from xaurora.models.loading import ModelSpec, build_module, clear_cache
from xaurora.run.source import make_batch

API_NAMES = ["aurora-0.25-pretrained", "aurora-0.25-small-pretrained", "aurora-0.25-finetuned",
             "aurora-0.25-12h-pretrained", "aurora-0.1-finetuned", "aurora-0.4-air-pollution",
             "aurora-0.25-wave", "tiny"]


def test_registry_lists_released_checkpoints_with_real_classes():
    import aurora

    for name in API_NAMES:
        info = xa.MODELS[name]
        assert hasattr(aurora, info.cls), name
        if name != "tiny":
            assert re.fullmatch(r"[0-9a-f]{40}", info.revision), name
            # the registry agrees with the class defaults in the installed package
            cls = getattr(aurora, info.cls)
            assert cls.default_checkpoint_name == info.checkpoint
            assert cls.default_checkpoint_revision == info.revision
    assert xa.MODELS["aurora-0.1-finetuned"].patch_size == 10
    assert xa.MODELS["aurora-0.4-air-pollution"].patch_size == 3
    assert xa.MODELS["aurora-0.25-12h-pretrained"].timestep.total_seconds() == 12 * 3600


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ValueError, match="aurora-0.25-pretrained"):
        xa.load_model("aurora-9")


def _params(model):
    module = getattr(model, "module", model)
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_tiny_is_deterministic_per_seed():
    a, b = _params(xa.load_model("tiny", seed=3)), _params(build_module(ModelSpec("tiny", seed=3)))
    c = _params(xa.load_model("tiny", seed=4))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_tiny_modulation_is_not_zero(tiny):
    from aurora.model.film import AdaptiveLayerNorm

    adaln = [m for m in tiny.module.modules() if isinstance(m, AdaptiveLayerNorm)]
    assert adaln and all(m.ln_modulation[-1].weight.abs().sum() > 0 for m in adaln)


def _backbone_out(module, batch):
    out = {}
    h = module.backbone.register_forward_hook(lambda m, a, o: out.setdefault("x", o))
    with torch.no_grad():
        module(batch)
    h.remove()
    return out["x"]


def test_information_crosses_levels_and_locations(tiny, small_ds):
    """Perturb one surface patch: the backbone output changes far away and on latent levels."""
    import aurora

    cds = canonicalize(small_ds)
    t = cds.time.values[1:2]
    base = make_batch(cds, t, tiny.module)
    pert = make_batch(cds, t, tiny.module)
    pert.surf_vars["2t"][..., 12:16, 0:4] += 20.0  # one 4 × 4 patch, row 3, column 0
    shape = (4, 8, 16, -1)  # latent levels, patch rows, patch columns
    d = (_backbone_out(tiny.module, pert) - _backbone_out(tiny.module, base)).abs()
    d = d.reshape(shape).amax(-1)
    assert d[1:, 3, 0].min() > 1e-4  # other levels at that location
    assert d[0, 3, 8] > 1e-4 and d[0, 7, 12] > 1e-4  # far-away locations

    # the same architecture as Aurora builds it: zero modulation, every block the identity, so
    # far-away locations are untouched
    with torch.random.fork_rng():
        torch.manual_seed(0)
        fresh = aurora.Aurora(**xa.MODELS["tiny"].kwargs).eval()
    d0 = (_backbone_out(fresh, pert) - _backbone_out(fresh, base)).abs().reshape(shape).amax(-1)
    assert d0[0, 3, 8] == 0 and d0[0, 7, 12] == 0


def test_random_weights_control_differs_from_model(tiny):
    ctrl = tiny.with_random_weights(seed=7)
    assert ctrl.random_weights and ctrl.name == "tiny"
    a, b = _params(tiny), _params(ctrl)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_model_pickles_as_spec_and_rebuilds_identically(tiny):
    blob = pickle.dumps(tiny)
    assert len(blob) < 2000  # a specification, not weights
    clear_cache()  # as in a fresh Dask worker
    clone = pickle.loads(blob)
    a, b = _params(tiny), _params(clone)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert pickle.loads(blob).module is clone.module  # built once per process


def test_checkpoint_roundtrip(tmp_path):
    model = xa.load_model("tiny", seed=1)
    state = {k: v + 0.01 for k, v in model.module.state_dict().items()}
    path = tmp_path / "tiny.ckpt"
    torch.save(state, path)
    loaded = xa.load_model("tiny", checkpoint=path)
    assert not loaded.random_weights
    got = loaded.module.state_dict()
    assert all(torch.allclose(got[k], state[k]) for k in state)


def test_missing_checkpoint_file_is_actionable(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        xa.load_model("tiny", checkpoint=tmp_path / "nope.ckpt")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_static_pickle_accepts_arrays_and_refuses_code(tmp_path):
    good = tmp_path / "static.pickle"
    good.write_bytes(pickle.dumps({"lsm": np.ones((5, 8)), "z": np.zeros((5, 8))}))
    ds = load_static(good)
    assert set(ds.data_vars) == {"lsm", "z"} and ds.lat.values[0] == 90
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        safe_unpickle(io.BytesIO(pickle.dumps({"x": _Evil()})))


def test_import_is_light_and_names_are_functions():
    """``import xaurora`` pulls in no torch/sklearn/cartopy; xa.embed stays the function."""
    import subprocess
    import sys

    code = ("import sys, xaurora as xa, xaurora.results.embedding, xaurora.results.forecast; "
            "assert callable(xa.embed) and callable(xa.forecast); "
            "print(sorted(m for m in ('torch', 'sklearn', 'cartopy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
