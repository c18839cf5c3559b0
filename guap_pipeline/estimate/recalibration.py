"""Recalibration: ``logit p' = α + β·logit p`` fitted to the labels landed inside the label
window, kept near the identity by a ridge penalty when labels are few."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit

from guap_pipeline.estimate.calibration import _EPS

RIDGE = 1.0  # penalty keeping the recalibration near the identity when labels are few


@dataclass(frozen=True)
class Recalibration:
    """``logit p' = alpha + beta·logit p``, fitted on fresh labels; LR test vs identity."""

    alpha: float = 0.0
    beta: float = 1.0
    lr_statistic: float = 0.0

    def apply(self, probs: ArrayLike) -> NDArray[np.float64]:
        p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
        return np.clip(expit(self.alpha + self.beta * logit(p)), _EPS, 1 - _EPS)


def _curvature(c: NDArray, el: NDArray, ridge: float) -> NDArray:
    """Minus the Hessian of the penalized log-likelihood in (α, β)."""
    cross = float((c * el).sum())
    return np.array([[c.sum() + ridge, cross], [cross, float((c * el * el).sum()) + ridge]])


def recalibrate(
    probs: ArrayLike,
    labeled: ArrayLike,
    positive: ArrayLike,
    *,
    still_unlabeled: tuple[ArrayLike, ArrayLike] | None = None,
    weights: ArrayLike | None = None,
    start: Recalibration | None = None,
    ridge: float = RIDGE,
    max_iter: int = 50,
    tol: float = 1e-5,
) -> Recalibration:
    """Fit ``logit p' = α + β·logit p`` to the labels landed so far, by maximum likelihood.

    ``probs``: calibrated probabilities of every row of the recent days; ``labeled``:
    whether its label has arrived; ``positive``: 1/0 on labeled rows. A labeled row
    contributes log P(y | p'), an unlabeled one log(u₀ + p'·(u₁ − u₀)) — the chance
    it is still unlabeled at its age (``still_unlabeled`` = (u₀, u₁), see
    :class:`LabelDelays`), so labels that arrive later for one class do not bias the fit.
    Solved by Fisher-scoring steps with step halving; ``ridge`` pulls towards the identity.
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
    lab = np.asarray(labeled, dtype=bool)
    y = np.nan_to_num(np.asarray(positive, dtype=np.float64))
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=np.float64)
    if still_unlabeled is None:
        u0 = u1 = np.ones(len(p))
    else:
        u0, u1 = (np.asarray(u, dtype=np.float64) for u in still_unlabeled)
    # unlabeled rows whose status says nothing about their class drop out
    use = lab | (np.abs(u1 - u0) > 1e-12)
    if not use.any():
        return Recalibration()
    el, lab, y, w, u0 = logit(p[use]), lab[use], y[use], w[use], u0[use]
    gap = u1[use] - u0
    sign = np.where(lab, 2 * y - 1, 0.0)  # labeled: P(y | η) = σ(sign·η)

    def penalized(t: NDArray) -> tuple[float, float]:
        eta = t[0] + t[1] * el
        s = expit(eta)
        ll_lab = -np.logaddexp(0.0, -sign * eta)
        ll_unl = np.log(np.maximum(u0 + s * gap, 1e-300))
        ll = float(np.sum(w * np.where(lab, ll_lab, ll_unl)))
        return ll - ridge / 2 * (t[0] ** 2 + (t[1] - 1) ** 2), ll

    theta = np.array([0.0, 1.0]) if start is None else np.array([start.alpha, start.beta])
    current = penalized(theta)[0]
    for _ in range(max_iter):
        s = expit(theta[0] + theta[1] * el)
        v = s * (1 - s)
        m = np.maximum(u0 + s * gap, 1e-300)
        g_unl = v * gap / m
        grad_eta = np.where(lab, y - s, g_unl)
        r = w * grad_eta
        grad = np.array([r.sum() - ridge * theta[0], (r * el).sum() - ridge * (theta[1] - 1)])
        # the exact curvature when it is negative definite, else the outer product for
        # the unlabeled rows (always is)
        exact = w * np.where(lab, v, g_unl**2 - v * (1 - 2 * s) * gap / m)
        hess = _curvature(exact, el, ridge)
        if np.linalg.eigvalsh(hess).min() <= 0:
            hess = _curvature(w * np.where(lab, v, g_unl**2), el, ridge)
        step = np.linalg.solve(hess, grad)
        for _ in range(30):  # halve until the penalized likelihood does not fall
            candidate = penalized(theta + step)[0]
            if candidate >= current - 1e-9:
                break
            step = step / 2
        theta, current = theta + step, max(candidate, current)
        if np.abs(step).max() < tol:
            break
    lr = 2 * (penalized(theta)[1] - penalized(np.array([0.0, 1.0]))[1])
    return Recalibration(float(theta[0]), float(theta[1]), max(lr, 0.0))
