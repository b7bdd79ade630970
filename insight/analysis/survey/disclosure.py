"""Disclosure control: the one gate every published survey figure goes through.

Every output (estimates, change, perception gaps, maps, profiles, exports) is derived from
a table that has passed :func:`disclosure_control`, so none can publish more than it allows.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from insight.errors import ConfigError, SurveyError

__all__ = ["DEFAULT_RULES", "DisclosureRules", "disclosure_control"]

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
ObjectArray = NDArray[np.object_]

DIRECT_COLUMNS = ("n", "weight_sum", "share", "n_eff", "deff", "se", "ci_low", "ci_high", "shrinkage")
MODEL_COLUMNS = ("synthetic", "model_share", "model_ci_low", "model_ci_high", "model_rmse")
NEVER_PUBLISHED = ("n_reported", "n_not_reported")

REASON_NONE = "no respondents"
REASON_FEW = "too few respondents to publish"
REASON_SECONDARY = "withheld so that a withheld figure cannot be worked out from the total (secondary suppression)"
REASON_MODEL_ONLY = "direct share withheld (too few respondents); model-based estimate shown"


@dataclass(frozen=True)
class DisclosureRules:
    """Thresholds for :func:`disclosure_control`.

    ``min_base``: unweighted respondents a direct share needs (reliability).
    ``min_count``: unweighted respondents each answer group (reported and not
    reported) needs in any published figure, and in anything that can be worked
    out by differencing (confidentiality). ``model_below_base``: publish a
    small-area estimate where the direct share is withheld only for its base
    (see the rules in :func:`disclosure_control`); off by default.
    """

    min_base: int = 30
    min_count: int = 5
    model_below_base: bool = False

    def __post_init__(self) -> None:
        if self.min_count < 1 or self.min_base < 1:
            raise ConfigError(f"min_base ({self.min_base}) and min_count ({self.min_count}) must be at least 1")
        if self.min_base < 2 * self.min_count:
            raise ConfigError(f"min_base {self.min_base} is below twice min_count {self.min_count}: a published "
                              "share could then come from fewer respondents than min_count allows in each group")


DEFAULT_RULES = DisclosureRules()


def disclosure_control(
    cells: pd.DataFrame,
    *,
    rules: DisclosureRules = DEFAULT_RULES,
    groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Apply the publication rules to a table of survey cells: the one gate every output goes through.

    ``cells`` has unweighted ``n`` and ``n_reported`` per cell (from
    :func:`weighted_shares`), the value columns to protect and, optionally, a
    boolean ``is_total`` marking the total rows that the other rows are parts of.
    Rows with equal values in ``groups`` (e.g. ``["wave"]``) are the disjoint
    parts of one total; without ``groups`` all rows are one group.

    Rules (``b`` = rules.min_base, default 30; ``c`` = rules.min_count, default 5):

    1. Base: a direct share (and its interval, n, n_eff, design effect and
       shrinkage weight) is published only when the cell has at least ``b``
       unweighted respondents.
    2. Answer groups: any figure for a cell, direct or model-based, is
       published only when at least ``c`` unweighted respondents gave a
       reported answer and at least ``c`` did not, because a share and its base
       imply those counts (weighting blurs them only slightly, so this is
       assumed not to protect).
    3. Differencing: within a group, everything that is not revealed can be
       worked out as the total minus the revealed parts (when there is no total
       row, the total is assumed published elsewhere and equal to the sum of the
       parts). That remainder must be empty or have at least ``c`` respondents
       in each answer group. If not, revealed parts are withheld as well,
       smallest base first, until it does. A part counts as revealed when its
       direct share or its model-based estimate is published (a model estimate
       could be inverted to the direct share). A total row that fails rules 1-2
       is withheld and then nothing can be differenced against it.
    4. Model-based estimates (``model_*`` and ``synthetic`` columns) are
       published with the direct share. Where the direct share is withheld by
       rule 1 only, they are published if ``rules.model_below_base`` is set and
       rule 2 holds (or the area has no respondents, so the estimate is purely
       the regression), with the direct columns still withheld.
    5. The unweighted counts ``n_reported`` and ``n_not_reported`` are dropped;
       withheld values become None; ``published`` and ``model_published`` say
       what is shown and ``suppression_reason`` why something is not. Reasons
       never say which rule a small cell failed.

    Limits: one level of totals per call. Tables that overlap in other ways
    (e.g. wards and LSOAs of the same wave, or two cross-cuts of one total)
    need their cells protected together, not separately.
    """
    for column in ("n", "n_reported"):
        if column not in cells:
            raise SurveyError(f"cells lack column '{column}' (unweighted counts from weighted_shares)")
    out = cells.reset_index(drop=True).copy()
    n = out["n"].to_numpy(dtype=float).astype(np.int64)
    rep = out["n_reported"].to_numpy(dtype=float).astype(np.int64)
    if np.any(rep < 0) or np.any(rep > n):
        raise SurveyError("n_reported must be between 0 and n in every cell")
    other = n - rep
    total = out["is_total"].to_numpy(dtype=bool) if "is_total" in out else np.zeros(len(out), dtype=bool)
    counts_ok = (rep >= rules.min_count) & (other >= rules.min_count)
    direct = (n >= rules.min_base) & counts_ok
    has_model = any(c in out for c in MODEL_COLUMNS)
    model = direct.copy()
    if has_model and rules.model_below_base:
        model |= ~total & (n < rules.min_base) & (counts_ok | (n == 0))
    reason: ObjectArray = np.where(n == 0, REASON_NONE, REASON_FEW).astype(object)
    reason[direct] = None
    reason[~direct & model] = REASON_MODEL_ONLY

    keys = list(groups) if groups else []
    labels = (out.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if keys
              else np.zeros(len(out), dtype=np.int64))
    table = _Cells(n, rep, total, direct, model, reason)
    for label in np.unique(labels):
        _protect_group(np.flatnonzero(labels == label), label, table, rules.min_count)
    return _withhold(out, direct, model if has_model else direct, model, reason)


@dataclass(frozen=True)
class _Cells:
    """The unweighted counts and publication flags of a table, updated in place by secondary suppression."""

    n: IntArray
    rep: IntArray
    total: BoolArray
    direct: BoolArray
    model: BoolArray
    reason: ObjectArray


def _protect_group(members: IntArray, label: object, cells: _Cells, min_count: int) -> None:
    """Rule 3 for one group: withhold revealed parts, smallest base first, until the remainder is safe."""
    n, rep, direct, model = cells.n, cells.rep, cells.direct, cells.model
    totals = members[cells.total[members]]
    parts = members[~cells.total[members]]
    if len(totals) > 1:
        raise SurveyError(f"group {label} has {len(totals)} total rows; each group may have one")
    if len(totals) == 1 and not direct[totals[0]]:
        return
    all_n = int(n[totals[0]]) if len(totals) else int(n[parts].sum())
    all_rep = int(rep[totals[0]]) if len(totals) else int(rep[parts].sum())
    while True:
        shown = parts[direct[parts] | model[parts]]
        rest_n = all_n - int(n[shown].sum())
        rest_rep = all_rep - int(rep[shown].sum())
        if rest_n == 0 or (rest_rep >= min_count and rest_n - rest_rep >= min_count):
            return
        candidates = shown[n[shown] > 0]
        if len(candidates) == 0:
            return
        pick = candidates[np.lexsort((candidates, n[candidates]))[0]]
        direct[pick] = model[pick] = False
        cells.reason[pick] = REASON_SECONDARY


def _withhold(out: pd.DataFrame, direct: BoolArray, model_published: BoolArray, model: BoolArray,
              reason: ObjectArray) -> pd.DataFrame:
    """Rule 5: blank the withheld values, drop the unweighted counts, say what is shown and why not."""
    for column in DIRECT_COLUMNS:
        if column in out:
            out[column] = out[column].astype(object).where(direct, None)
    for column in MODEL_COLUMNS:
        if column in out:
            out[column] = out[column].astype(object).where(model, None)
    out = out.drop(columns=[c for c in NEVER_PUBLISHED if c in out])
    out["published"] = direct
    out["model_published"] = model_published
    out["suppression_reason"] = pd.Series(reason, dtype=object)
    return out

