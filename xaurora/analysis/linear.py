"""The probe's linear models fitted out of core: standardise, then ridge or L2 logistic regression.

In memory the probe uses scikit-learn (``StandardScaler`` then ``Ridge`` or
``LogisticRegression``); on Dask-backed embeddings it fits the *same objectives* here, walking
the chunks (:mod:`xaurora.analysis.chunked`) instead of holding the (samples × features)
matrix:

* standardisation: the training rows' mean and population standard deviation in one pass
  (features with zero spread keep scale 1, as ``StandardScaler``);
* ridge: exact, from the normal equations — the training rows' joint moments of ``[x, y]`` in
  the same pass, ``(Zᵀ Z + α I) w = Zᵀ y`` on the centred, standardised features;
* logistic: scikit-learn's objective — mean (sample-weighted) log-loss plus
  ``‖w‖² / (2 C Σ weights)``, intercept unpenalised, class weights as sample weights — minimised
  with the same L-BFGS-B settings (scipy), each loss-and-gradient one pass over the chunks.
  Coefficients agree with scikit-learn's to its tolerance (``tol``).

Why not dask-ml: its ``LogisticRegression`` penalises differently (``C`` scales the mean loss)
and standardises with extra passes and float32 sums; matching scikit-learn's numbers is the
contract, so the objective is written out here. Lazy input stays lazy: each L-BFGS step is one
``dask.compute`` of partial sums; nothing but per-sample labels, weights and F-vectors lives in
memory.

>>> import numpy as np, xarray as xr
>>> from xaurora.analysis.stacking import Stacker
>>> rng = np.random.default_rng(0)
>>> X = xr.DataArray(rng.normal(size=(200, 3)), dims=("time", "c")).chunk(time=50)
>>> y = X.values @ [1.0, -2.0, 0.5] + 3.0
>>> fit = fit_chunked(X, Stacker.of(X, "time"), y, np.ones(200, bool), "regression",
...                   {"alpha": 1e-9})
>>> w, b = fit.raw()
>>> np.round(w, 6).tolist(), round(b, 6)
([1.0, -2.0, 0.5], 3.0)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from xaurora.analysis.chunked import Moments, check_finite, map_rows, moments, rows_chunked
from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError

__all__ = ["LinearFit", "fit_chunked"]

_FIX = "embed complete input fields"


@dataclass(frozen=True)
class LinearFit:
    """A linear model on standardised features: ``((x − mean) / scale) · coef + intercept``."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    n_iter: int
    estimator: str

    @classmethod
    def from_sklearn(cls, pipeline) -> LinearFit:
        scaler, est = pipeline[0], pipeline[-1]
        n_iter = int(np.max(getattr(est, "n_iter_", None) or [0]))
        return cls(np.ravel(est.coef_), float(np.ravel(est.intercept_)[0]), scaler.mean_,
                   scaler.scale_, n_iter, f"StandardScaler + {est!r}")

    def raw(self) -> tuple[np.ndarray, float]:
        """Weights and bias on the raw features (the scaler folded in)."""
        w = self.coef / self.scale
        return w, self.intercept - float(self.mean @ w)

    def linear(self, x: np.ndarray) -> np.ndarray:
        """The decision function on rows ``x``: one matrix-vector product in ``x``'s precision
        (as scikit-learn's own float32 path), the centring term added in float64."""
        w, b = self.raw()
        return (x @ w.astype(x.dtype)).astype(np.float64) + b


def fit_chunked(X: xr.DataArray, stk: Stacker, y: np.ndarray, is_train: np.ndarray, task: str,
                opts: dict) -> LinearFit:
    """Fit the probe's model of ``task`` on the training rows of ``X``, one pass per step.

    ``y``: labels per sample (flat, C order of the sample dims; 0/1 for classification);
    ``is_train``: the training rows; ``opts``: the probe's options (``alpha``; ``C``,
    ``class_weight``, ``max_iter``, ``tol``, ``solver``).
    """
    y = np.asarray(y, dtype=np.float64)
    train = np.asarray(is_train, dtype=bool)
    if task == "regression":
        return _ridge(X, stk, y, train, float(opts["alpha"]))
    if opts.get("solver", "lbfgs") != "lbfgs":
        raise XauroraError(
            f"probe: solver={opts['solver']!r} needs the embedding in memory; on Dask-backed "
            "input the probe fits with 'lbfgs'. Fix: leave solver out, or .compute() the "
            "embedding first."
        )
    return _logistic(X, stk, y, train, opts)


def _scale(m: Moments) -> np.ndarray:
    std = m.std()
    return np.where(std > 10 * np.finfo(np.float64).eps * np.maximum(np.abs(m.mean), 1.0),
                    std, 1.0)


def _ridge(X, stk: Stacker, y, train, alpha: float) -> LinearFit:
    m = moments(X, stk, keep=train, extra=[y])
    check_finite(m, stk.name, _FIX)
    F = stk.n_features
    mean, scale = m.mean[:F], _scale(Moments(m.n, m.mean[:F], m.m2[:F, :F]))
    zz = m.m2[:F, :F] / np.outer(scale, scale)
    zy = m.m2[:F, F] / scale
    coef = np.linalg.solve(zz + alpha * np.eye(F), zy)
    return LinearFit(coef, float(m.mean[F]), mean, scale, 1,
                     f"StandardScaler + Ridge(alpha={alpha:g}) (normal equations over chunks)")


def _class_weights(y, train, class_weight) -> np.ndarray:
    """Per-sample weights: zero outside training, class weights inside (scikit-learn's rule)."""
    counts = np.array([np.sum(train & (y == c)) for c in (0, 1)], dtype=np.float64)
    if class_weight is None:
        per_class = np.ones(2)
    elif isinstance(class_weight, str) and class_weight == "balanced":
        per_class = counts.sum() / (2 * counts)
    elif isinstance(class_weight, dict):
        per_class = np.array([float(class_weight.get(c, 1.0)) for c in (0, 1)])
    else:
        raise XauroraError(f"class_weight: {class_weight!r} is not None, 'balanced' or a dict "
                           "{0: w0, 1: w1}. Fix: pass one of those.")
    return np.where(train, per_class[(y > 0.5).astype(int)], 0.0)


def _logistic(X, stk: Stacker, y, train, opts: dict) -> LinearFit:
    from scipy import optimize  # heavy

    scaler = moments(X, stk, keep=train, full=False)
    check_finite(scaler, stk.name, _FIX)
    mean, scale = scaler.mean, _scale(scaler)
    sw = _class_weights(y, train, opts.get("class_weight"))
    sw_sum = float(sw.sum())
    C = float(opts.get("C", 1.0))
    l2 = 1.0 / (C * sw_sum)
    F = stk.n_features
    arr = rows_chunked(X, stk)  # one graph, walked once per loss-and-gradient

    def loss_grad(theta):
        w, b = theta[:F], theta[F]
        w_raw = w / scale
        b_raw = b - float(mean @ w_raw)
        parts = map_rows(X, stk, _logistic_part(w_raw, b_raw), _sum_parts, [y, sw], arr=arr)
        loss_sum, xg, g_sum = parts
        grad_w = (xg - mean * g_sum) / scale / sw_sum + l2 * w
        loss = loss_sum / sw_sum + 0.5 * l2 * float(w @ w)
        return loss, np.append(grad_w, g_sum / sw_sum)

    res = optimize.minimize(
        loss_grad, np.zeros(F + 1), method="L-BFGS-B", jac=True,
        options={"maxiter": int(opts.get("max_iter", 1000)), "maxls": 50,
                 "gtol": float(opts.get("tol", 1e-4)), "ftol": 64 * np.finfo(float).eps},
    )
    if res.status == 1:  # as scikit-learn: the iteration limit was reached
        from sklearn.exceptions import ConvergenceWarning  # heavy

        warnings.warn(f"probe: L-BFGS did not converge in {res.nit} iterations. Fix: raise "
                      "max_iter, or check the features' scale.", ConvergenceWarning,
                      stacklevel=3)
    cw = opts.get("class_weight")
    return LinearFit(res.x[:F], float(res.x[F]), mean, scale, int(res.nit),
                     f"StandardScaler + LogisticRegression(C={C:g}, class_weight={cw!r}) "
                     f"(L-BFGS over chunks, {res.nfev} passes)")


def _logistic_part(w_raw: np.ndarray, b_raw: float):
    """The partial sums of one block: Σ sw·loss, Xᵀ(sw·(p − y)), Σ sw·(p − y)."""
    from scipy.special import expit  # heavy

    def part(x, y, sw):
        raw = x @ w_raw + b_raw
        loss = np.logaddexp(0.0, raw) - y * raw
        g = sw * (expit(raw) - y)
        return float(sw @ loss), x.T @ g, float(g.sum())

    return part


def _sum_parts(a, b):
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]
