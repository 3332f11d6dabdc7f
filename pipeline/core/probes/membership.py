"""Loss-threshold membership inference and the paper's sigmoid law for its F1 score.

Morris et al. (2025) score a loss-threshold attack (members: training sequences,
non-members: held-out sequences) by F1 and fit ``F1 = 1/2 (1 + c1 sigma(c2 (x + c3)))``.
The printed x (capacity / dataset size) does not reproduce their Table 2; the working form
``x = 1000 |D| / params`` (|D| in sequences) does, so that is what :func:`membership_x` uses.

The attack's evaluation scores (F1, precision, recall, accuracy, confusion counts, ROC AUC)
come from :mod:`sklearn.metrics`; only the calibration threshold search is written here.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from scipy.special import expit
from scipy.stats import t as student_t
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)
from statsmodels.base.model import GenericLikelihoodModel
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

PAPER_CONSTANTS: dict[str, float] = {"c1": 1.34, "c2": -0.034, "c3": -33.14}
LAW_PARAM_NAMES: tuple[str, str, str] = ("c1", "c2", "c3")


# --------------------------------------------------------------------------- x-axis


def membership_x(train_sequences: float | np.ndarray, params: float | np.ndarray) -> Any:
    """The law's x in the form that reproduces Table 2: ``1000 * |D| / params``."""
    x = 1000.0 * np.asarray(train_sequences, dtype=np.float64) / np.asarray(params, np.float64)
    return float(x) if x.ndim == 0 else x


def tokens_per_parameter(
    train_sequences: float | np.ndarray, seq_len: int, params: float | np.ndarray
) -> Any:
    """Training tokens per model parameter, ``|D| * seq_len / params``."""
    tpp = np.asarray(train_sequences, np.float64) * seq_len / np.asarray(params, np.float64)
    return float(tpp) if tpp.ndim == 0 else tpp


# --------------------------------------------------------------------------- attack


class AttackSplit(NamedTuple):
    """Indices into the member / non-member loss arrays for each half of a balanced split."""

    member_calibration: np.ndarray
    member_evaluation: np.ndarray
    nonmember_calibration: np.ndarray
    nonmember_evaluation: np.ndarray


def split_calibration_evaluation(
    n_members: int, n_nonmembers: int, seed: int, calibration_fraction: float = 0.5
) -> AttackSplit:
    """Balanced, seeded split: both classes cut to the smaller size, then into two halves.

    Each class gets ``m = min(n_members, n_nonmembers)`` randomly chosen samples, of which
    ``round(calibration_fraction * m)`` (at least 1, at most ``m - 1``) go to calibration.
    """
    if not 0 < calibration_fraction < 1:
        raise ValueError("calibration_fraction must lie in (0, 1)")
    m = min(int(n_members), int(n_nonmembers))
    if m < 2:
        raise ValueError(
            f"need at least 2 members and 2 non-members, got {n_members}, {n_nonmembers}"
        )
    rng = np.random.default_rng(seed)
    members = rng.permutation(n_members)[:m]
    nonmembers = rng.permutation(n_nonmembers)[:m]
    n_cal = min(m - 1, max(1, round(calibration_fraction * m)))
    return AttackSplit(members[:n_cal], members[n_cal:], nonmembers[:n_cal], nonmembers[n_cal:])


def best_f1_threshold(
    member_losses: np.ndarray,
    nonmember_losses: np.ndarray,
    max_member_fraction: float | None = 0.5,
) -> tuple[float, float]:
    """Loss threshold maximising F1 of "member if loss < threshold"; returns (threshold, F1).

    One sort plus cumulative sums: cutting the sorted losses after position i flags the i
    lowest losses, with ``TP = cumsum(is_member)[i]`` and ``F1 = 2 TP / (i + P)``. Cuts are
    only placed between distinct values, and the threshold sits midway between them. At most
    ``max_member_fraction`` of the pool may be flagged (``None``: no cap); ties in F1 go to
    the cut that flags fewer.

    Not ``sklearn.metrics.precision_recall_curve``: it yields the same cuts, but F1 rebuilt
    from its float precision and recall can split exact ties, moving the chosen threshold.
    """
    members = np.asarray(member_losses, dtype=np.float64).ravel()
    nonmembers = np.asarray(nonmember_losses, dtype=np.float64).ravel()
    if members.size == 0:
        raise ValueError("need at least one member")
    losses = np.concatenate([members, nonmembers])
    is_member = np.concatenate([np.ones(members.size), np.zeros(nonmembers.size)])
    order = np.argsort(losses, kind="stable")
    sorted_losses = losses[order]
    n = losses.size
    tp = np.concatenate([[0.0], np.cumsum(is_member[order])])
    flagged = np.arange(n + 1)
    f1 = 2.0 * tp / (flagged + members.size)

    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = sorted_losses[:-1] < sorted_losses[1:]
    if max_member_fraction is not None:
        valid &= flagged <= math.floor(max_member_fraction * n)
    best = int(np.argmax(np.where(valid, f1, -np.inf)))

    if best == 0:
        threshold = float(sorted_losses[0])
    elif best == n:
        threshold = math.inf
    else:
        lo, hi = sorted_losses[best - 1], sorted_losses[best]
        mid = 0.5 * (lo + hi)
        threshold = float(mid if lo < mid <= hi else hi)
    return threshold, float(f1[best])


def _evaluation_metrics(
    members: np.ndarray, nonmembers: np.ndarray, threshold: float
) -> dict[str, float]:
    """Scores of "member if loss < threshold" on the evaluation half, plus the ROC AUC."""
    y_true = np.concatenate([np.ones(members.size, int), np.zeros(nonmembers.size, int)])
    losses = np.concatenate([members, nonmembers])
    y_pred = (losses < threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    # zero_division=0: an attack that flags nobody has precision 0, without a warning.
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="binary", zero_division=0.0
    )
    return {
        "f1": float(f1),
        "precision": float(precision),
        "recall": float(recall),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "tp": int(tp),
        "fp": int(fp),
        "fn": int(fn),
        "tn": int(tn),
        # Lower loss means member, so the score is the negated loss.
        "auc": float(roc_auc_score(y_true, -losses)),
    }


def loss_threshold_attack(
    member_losses: np.ndarray,
    nonmember_losses: np.ndarray,
    seed: int,
    calibration_fraction: float = 0.5,
    max_member_fraction: float | None = 0.5,
) -> dict[str, Any]:
    """Loss-threshold membership attack, calibrated and evaluated on disjoint halves.

    Design (the paper leaves these open):

    - Balanced classes: the larger side is subsampled (seeded) to the smaller, so the
      members' share is 1/2 and F1 = 0.5 is the chance level of an uninformative attack
      that flags half the pool.
    - The threshold maximises F1 on the calibration half only; the reported F1 (with
      precision, recall, accuracy, AUC) is on the evaluation half, so it is not optimistic.
    - The attacker flags at most ``max_member_fraction`` (default 1/2, the known member
      share) of the calibration pool. Without this cap the rule "everything is a member"
      scores F1 = 2/3 on uninformative losses and 0.5 would no longer mean chance.
      ``None`` removes the cap.

    Losses may be in any unit (nats, bits, per token or per sequence) as long as both sides
    use the same one. ``auc`` is threshold-free: the ROC AUC of the negated loss, i.e.
    P(member loss < non-member loss) with ties counted half.
    """
    members = np.asarray(member_losses, dtype=np.float64).ravel()
    nonmembers = np.asarray(nonmember_losses, dtype=np.float64).ravel()
    if not (np.all(np.isfinite(members)) and np.all(np.isfinite(nonmembers))):
        raise ValueError("losses must be finite")
    split = split_calibration_evaluation(members.size, nonmembers.size, seed, calibration_fraction)
    threshold, calibration_f1 = best_f1_threshold(
        members[split.member_calibration],
        nonmembers[split.nonmember_calibration],
        max_member_fraction,
    )
    eval_members = members[split.member_evaluation]
    eval_nonmembers = nonmembers[split.nonmember_evaluation]
    return {
        **_evaluation_metrics(eval_members, eval_nonmembers, threshold),
        "threshold": threshold,
        "calibration_f1": calibration_f1,
        "n_members_total": int(members.size),
        "n_nonmembers_total": int(nonmembers.size),
        "n_per_class": int(split.member_calibration.size + split.member_evaluation.size),
        "n_calibration_per_class": int(split.member_calibration.size),
        "n_evaluation_per_class": int(split.member_evaluation.size),
        "seed": int(seed),
        "calibration_fraction": float(calibration_fraction),
        "max_member_fraction": max_member_fraction,
    }


# --------------------------------------------------------------------------- law


def membership_law(x: float | np.ndarray, c1: float, c2: float, c3: float) -> np.ndarray:
    """``F1 = 1/2 (1 + c1 sigma(c2 (x + c3)))``."""
    return 0.5 * (1.0 + c1 * expit(c2 * (np.asarray(x, dtype=np.float64) + c3)))


def paper_law(x: float | np.ndarray) -> np.ndarray:
    """The law with the paper's printed constants (use with x from :func:`membership_x`)."""
    return membership_law(x, **PAPER_CONSTANTS)


class _SigmoidLawModel(GenericLikelihoodModel):
    """Gaussian errors around the law; the MLE of (c1, c2, c3) is the least-squares fit."""

    def __init__(self, f1: np.ndarray, x: np.ndarray) -> None:
        super().__init__(f1, None, extra_params_names=[*LAW_PARAM_NAMES, "log_sigma"])
        self.x = x

    def nloglikeobs(self, params: np.ndarray) -> np.ndarray:
        c1, c2, c3, log_sigma = params
        resid = self.endog - membership_law(self.x, c1, c2, c3)
        return 0.5 * np.log(2 * np.pi) + log_sigma + 0.5 * (resid * np.exp(-log_sigma)) ** 2


def _nan_dict() -> dict[str, float]:
    return dict.fromkeys(LAW_PARAM_NAMES, math.nan)


@dataclass(frozen=True)
class MembershipFit:
    """Result of :func:`fit_membership_law`; ``predict`` gives NaN unless ``converged``."""

    converged: bool
    reason: str | None
    n_points: int
    params: dict[str, float] = field(default_factory=_nan_dict)
    std_errors: dict[str, float] = field(default_factory=_nan_dict)
    conf_int: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {k: (math.nan, math.nan) for k in LAW_PARAM_NAMES}
    )
    sigma: float = math.nan
    ssr: float = math.nan
    start: str | None = None
    confidence: float = 0.95

    def predict(self, x: float | np.ndarray) -> np.ndarray:
        xs = np.asarray(x, dtype=np.float64)
        if not self.converged:
            return np.full(xs.shape, math.nan)
        return membership_law(xs, **self.params)

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-friendly summary."""
        out: dict[str, Any] = {
            "converged": self.converged,
            "reason": self.reason,
            "n_points": self.n_points,
            "sigma": self.sigma,
            "ssr": self.ssr,
            "start": self.start,
            "confidence": self.confidence,
        }
        for name in LAW_PARAM_NAMES:
            lo, hi = self.conf_int[name]
            out |= {
                name: self.params[name],
                f"{name}_se": self.std_errors[name],
                f"{name}_ci_low": lo,
                f"{name}_ci_high": hi,
            }
        return out


def _starts(x: np.ndarray, f1: np.ndarray) -> dict[str, np.ndarray]:
    """The paper's constants, plus a start placed on the data's own x range."""
    spread = float(np.ptp(x)) or 1.0
    c2, c3 = -8.0 / spread, -float(np.median(x))
    # c1 chosen so the law passes through the highest F1 at the smallest x.
    c1 = max(2.0 * float(f1.max()) - 1.0, 0.1) / float(expit(c2 * (x.min() + c3)))
    data_start = np.array([c1, c2, c3])
    starts = {"paper": np.array([PAPER_CONSTANTS[k] for k in LAW_PARAM_NAMES]), "data": data_start}
    out = {}
    for name, c in starts.items():
        resid = f1 - membership_law(x, *c)
        log_sigma = math.log(max(float(np.sqrt(np.mean(resid**2))), 1e-4))
        out[name] = np.append(c, log_sigma)
    return out


def fit_membership_law(x: np.ndarray, f1: np.ndarray, confidence: float = 0.95) -> MembershipFit:
    """Fit (c1, c2, c3) by nonlinear least squares, as a Gaussian MLE in statsmodels.

    Starts from the paper's constants and from a data-driven guess; keeps the better
    converged optimum (Nelder-Mead, then BFGS to polish). Standard errors come from the
    observed information (statsmodels' numerical Hessian), rescaled by ``n / (n - 3)`` so
    the noise variance is ``SSR / (n - 3)`` as in classical NLS; intervals use Student t
    with ``n - 3`` degrees of freedom. Non-finite pairs are dropped. Never raises on bad
    data: with fewer than 4 points, no convergence or a singular information matrix it
    returns ``converged=False`` with the reason.
    """
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(f1, dtype=np.float64).ravel()
    if xs.shape != ys.shape:
        return MembershipFit(False, f"x and f1 differ in length ({xs.size} vs {ys.size})", 0)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    n = int(xs.size)
    k = len(LAW_PARAM_NAMES)
    if n < k + 1:
        return MembershipFit(False, f"need at least {k + 1} finite points, got {n}", n)

    model = _SigmoidLawModel(ys, xs)
    best, best_start, best_cov = None, None, None
    for name, start in _starts(xs, ys).items():
        try:
            # Failure is reported through `converged` and `reason`, not warnings.
            with warnings.catch_warnings():
                for category in (ConvergenceWarning, HessianInversionWarning, RuntimeWarning):
                    warnings.simplefilter("ignore", category)
                res = model.fit(start_params=start, method="nm", maxiter=20000, disp=0)
                res = model.fit(start_params=res.params, method="bfgs", maxiter=2000, disp=0)
                cov_full = np.asarray(res.cov_params(), dtype=np.float64)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            continue
        if not (res.mle_retvals.get("converged", False) and np.isfinite(res.llf)):
            continue
        if best is None or res.llf > best.llf:
            best, best_start, best_cov = res, name, cov_full
    if best is None:
        return MembershipFit(False, "optimizer did not converge from any start", n)

    est = np.asarray(best.params, dtype=np.float64)
    params = dict(zip(LAW_PARAM_NAMES, map(float, est[:k]), strict=True))
    ssr = float(np.sum((ys - membership_law(xs, *est[:k])) ** 2))
    df = n - k
    var = np.diag(best_cov)[:k] * (n / df)
    if not (np.all(np.isfinite(var)) and np.all(var > 0)):
        return MembershipFit(
            False,
            "information matrix not positive definite: the points "
            "do not identify all three constants",
            n,
            params=params,
            ssr=ssr,
            sigma=math.sqrt(ssr / df),
            start=best_start,
        )
    se = np.sqrt(var)
    q = float(student_t.ppf(0.5 + confidence / 2.0, df))
    return MembershipFit(
        converged=True,
        reason=None,
        n_points=n,
        params=params,
        std_errors=dict(zip(LAW_PARAM_NAMES, map(float, se), strict=True)),
        conf_int={
            name: (params[name] - q * s, params[name] + q * s)
            for name, s in zip(LAW_PARAM_NAMES, se, strict=True)
        },
        sigma=math.sqrt(ssr / df),
        ssr=ssr,
        start=best_start,
        confidence=confidence,
    )


# --------------------------------------------------------------------------- Table 2


def paper_table2_comparison(
    fit: MembershipFit, table2_csv_path: str | Path, seq_len: int = 64
) -> pl.DataFrame:
    """Table 2 rows with the paper's measured F1 and target next to our law's prediction.

    Adds ``x`` (:func:`membership_x`), ``tokens_per_param``, ``paper_law_f1`` (the paper's
    constants at that x, which should land near ``target_f1``) and ``fitted_f1``.
    """
    table = pl.read_csv(table2_csv_path)
    params = table["params"].to_numpy().astype(np.float64)
    sequences = table["train_sequences"].to_numpy().astype(np.float64)
    x = membership_x(sequences, params)
    return table.with_columns(
        pl.Series("tokens_per_param", tokens_per_parameter(sequences, seq_len, params)),
        pl.Series("x", x),
        pl.Series("paper_law_f1", paper_law(x)),
        pl.Series("fitted_f1", fit.predict(x)),
    ).select(
        "model",
        "params",
        "train_sequences",
        "tokens_per_param",
        "x",
        "target_f1",
        "measured_f1",
        "measured_f1_sd",
        "paper_law_f1",
        "fitted_f1",
    )
