"""LRP rules: conservation, rules-off = gradient × input, per-rule checks, clean undo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xaurora as xa
from xaurora.attribution import Target, relevance
from xaurora.attribution.rules import RULES, LRPContext, attention, is_patched, lrp_rules, product

TARGET = Target("msl", region=(0, 60, -30, 60))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ds():
    return xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))


def _conservation(rel):
    a = rel.attrs
    scale = abs(a["input_relevance_sum"]) + abs(a["sink_relevance_sum"] - a["output_offset"])
    return abs(a["target_value"] - a["input_relevance_sum"] - a["sink_relevance_sum"]) / scale


@pytest.mark.parametrize("target", [TARGET, Target("t", level=850, region=(-40, 40, 90, 200))])
def test_cp_lrp_conserves_in_float64(ds, tiny, target):
    rel = relevance(ds, tiny, target, method="lrp", dtype=torch.float64)
    assert _conservation(rel) < 1e-9
    assert rel.attrs["rule"] == "cp-lrp"
    assert abs(rel.attrs["input_relevance_sum"]) > 1e-3  # the inputs do get relevance
    total = sum(float(rel[v].sum()) for v in rel.data_vars)
    assert total == pytest.approx(rel.attrs["input_relevance_sum"], rel=1e-9)


def test_cp_lrp_conserves_over_two_steps(ds, tiny):
    rel = relevance(ds, tiny, Target("msl", region=(0, 60, -30, 60), lead_steps=2),
                    dtype=torch.float64)
    assert _conservation(rel) < 1e-6  # Aurora casts each step's output to float32


def test_rules_off_equals_gradient_times_input(ds, tiny):
    plain = relevance(ds, tiny, TARGET, method="lrp", rule=None, dtype=torch.float64)
    gxi = relevance(ds, tiny, TARGET, method="gradxinput", dtype=torch.float64)
    for v in gxi.data_vars:
        np.testing.assert_allclose(plain[v].values, gxi[v].values, rtol=1e-8, atol=1e-12)
    lrp = relevance(ds, tiny, TARGET, method="lrp", dtype=torch.float64)
    assert not np.allclose(lrp["msl"].values, gxi["msl"].values)  # rules change the map


def test_attnlrp_and_checkpointing(ds, tiny):
    att = relevance(ds, tiny, TARGET, rule="attnlrp", dtype=torch.float64)
    assert att.attrs["rule"] == "attnlrp" and np.isfinite(att.attrs["input_relevance_sum"])
    ref = relevance(ds, tiny, TARGET, dtype=torch.float64)
    ckp = relevance(ds, tiny, TARGET, dtype=torch.float64, checkpointing=True)
    for v in ref.data_vars:
        np.testing.assert_allclose(ckp[v].values, ref[v].values, rtol=1e-9, atol=1e-12)
    assert ckp.attrs["sink_relevance_sum"] == pytest.approx(ref.attrs["sink_relevance_sum"])


def test_patch_embedding_lrp_equals_gradient_times_input(tiny):
    emb = tiny.module.encoder.surf_token_embeds
    names = tuple(emb.var_names[:3])
    x = torch.randn(2, 3, 2, 8, 12, dtype=torch.float32)
    probe = torch.randn(2, 6, emb.embed_dim)

    def run():
        xx = x.clone().requires_grad_(True)
        return xx, (emb(xx, names) * probe).sum()

    xx, f = run()
    (g_plain,) = torch.autograd.grad(f, [xx])
    with lrp_rules(emb, "cp-lrp") as ctx:
        xl, fl = run()
        sinks = ctx.leaves()
        g = torch.autograd.grad(fl, [xl, *sinks])
        sink = LRPContext.relevance(sinks, g[1:])
    torch.testing.assert_close(x * g[0], x * g_plain)
    assert float(fl) == pytest.approx(float((x * g[0]).sum()) + sink, rel=1e-5, abs=1e-4)


def test_single_rules_are_conservative():
    x = torch.randn(4, 8, dtype=torch.float64)
    w = torch.randn(4, 8, dtype=torch.float64)
    gelu, ln = torch.nn.GELU().double(), torch.nn.LayerNorm(8).double()
    torch.nn.init.normal_(ln.bias)
    with lrp_rules(gelu):  # identity rule: x·g_in == y·g_out element-wise
        xl = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad((gelu(xl) * w).sum(), [xl])
    torch.testing.assert_close(x * g, torch.nn.functional.gelu(x) * w)
    with lrp_rules(ln) as c:  # LayerNorm with constant std: Σ x·g + β·g_β == Σ y·w
        xl = x.clone().requires_grad_(True)
        y = ln(xl)
        s = c.leaves()
        g = torch.autograd.grad((y * w).sum(), [xl, *s])
        total = float((x * g[0]).sum()) + c.relevance(s, g[1:])
    assert total == pytest.approx(float((y * w).sum()), rel=1e-10)
    # CP-LRP attention: the weights are constant, v receives all relevance, q and k none
    q, k, v = (torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
               for _ in range(3))
    out = attention(q, k, v, None, LRPContext(RULES["cp-lrp"]))
    wo = torch.randn_like(out)
    gq, gk, gv = torch.autograd.grad((out * wo).sum(), [q, k, v], allow_unused=True)
    assert gq is None and gk is None
    assert float((v * gv).sum()) == pytest.approx(float((out * wo).sum()), rel=1e-10)
    # uniform rule for a product of two activations (AttnLRP): each factor gets half
    a = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    z = product(a, b, uniform=True)
    ga, gb = torch.autograd.grad(z.sum(), [a, b])
    assert float((a * ga).sum()) == pytest.approx(0.5 * float(z.sum()), rel=1e-10)
    assert float((b * gb).sum()) == pytest.approx(0.5 * float(z.sum()), rel=1e-10)


def _out_and_grad(module, batch_fn):
    b = batch_fn()
    pred = module(b)
    (g,) = torch.autograd.grad(pred.surf_vars["msl"].sum(), [b.surf_vars["msl"]])
    return pred.surf_vars["msl"].detach(), g


def test_rules_are_undone_also_after_an_exception(ds, tiny):
    from xaurora.attribution.relevance import prepare

    module = tiny.module
    prep = prepare(ds, tiny)

    def batch_fn():
        b = prep.batch
        b.surf_vars["msl"] = b.surf_vars["msl"].detach().clone().requires_grad_(True)
        return b

    flags = {n: p.requires_grad for n, p in module.named_parameters()}
    before = _out_and_grad(module, batch_fn)
    with lrp_rules(module, "cp-lrp", checkpointing=True):
        assert is_patched(module)
        during = _out_and_grad(module, batch_fn)
    assert not is_patched(module)
    after = _out_and_grad(module, batch_fn)
    with pytest.raises(RuntimeError, match="boom"):
        with lrp_rules(module, "attnlrp"):
            raise RuntimeError("boom")
    after_exc = _out_and_grad(module, batch_fn)
    assert not is_patched(module)
    assert flags == {n: p.requires_grad for n, p in module.named_parameters()}
    for res in (after, after_exc):
        torch.testing.assert_close(res[0], before[0], rtol=0, atol=0)
        torch.testing.assert_close(res[1], before[1], rtol=0, atol=0)
    assert not torch.allclose(during[1], before[1])  # the rules were active inside
