"""Change in a published share between two survey waves, and whether it is more than sampling noise."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from insight.analysis.survey.intervals import BoolArray, FloatArray, critical_value, level_text, wilson
from insight.errors import BadRequest, SurveyError

__all__ = ["wave_change"]

CHANGE_METHOD = ("difference of weighted shares; {level} Newcombe hybrid score interval from the Wilson limits "
                 "on Kish effective sample sizes; two-sided pooled z-test on effective sample sizes{adjust}")


def wave_change(
    table: pd.DataFrame,
    *,
    wave_from: str,
    wave_to: str,
    area: str = "area_code",
    wave: str = "wave",
    level: float = 0.95,
    adjust: str | None = "fdr_bh",
) -> pd.DataFrame:
    """Change in a share between two waves per area, and whether it is more than sampling noise.

    ``table`` is a published table from :func:`area_estimates` (or any frame
    with ``share`` and ``n_eff`` per area and wave). Only areas published in
    both waves get a change, so nothing is derived from a withheld figure. The
    two waves are independent samples; each share's variance uses its Kish
    effective sample size, so the test allows for the weighting's design
    effect. The interval is Newcombe's hybrid score interval built from the two
    Wilson intervals; the p-value is from the pooled two-proportion z-test.

    ``adjust`` corrects the p-values for testing many areas at once: with 24
    wards, about one would show a "significant" change at 5% by chance alone.
    The default "fdr_bh" (Benjamini-Hochberg) keeps the expected share of false
    alarms among the flagged areas at 1 - ``level``; "holm" bounds the chance
    of any false alarm (stricter: ward-sized samples then rarely show a
    change); None tests each area on its own (right for a single area's page).
    Total rows (``is_total``) are tested on their own, outside the family. The
    verdict uses the adjusted p-value at 1 - ``level``.
    """
    critical_value(level)
    if adjust not in (None, "holm", "fdr_bh"):
        raise BadRequest(f"adjust must be 'holm', 'fdr_bh' or None, got {adjust!r}")
    present = set(table[wave].astype(str))
    for label in (wave_from, wave_to):
        if str(label) not in present:
            raise SurveyError(f"wave '{label}' is not in the table (waves: {', '.join(sorted(present))})")
    out = _paired(table, wave_from=str(wave_from), wave_to=str(wave_to), area=area, wave=wave)
    p1, p2 = out["share_from"].to_numpy(), out["share_to"].to_numpy()
    n1, n2 = out["n_eff_from"].to_numpy(), out["n_eff_to"].to_numpy()
    ok = np.isfinite(p1) & np.isfinite(p2) & (n1 > 0) & (n2 > 0)
    l1, u1 = wilson(p1, n1, level=level)
    l2, u2 = wilson(p2, n2, level=level)
    diff = p2 - p1
    with np.errstate(invalid="ignore", divide="ignore"):
        low = diff - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
        high = diff + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        zstat = np.where(se0 > 0, diff / se0, 0.0)
    pvalue = 2 * stats.norm.sf(np.abs(zstat))
    total = out["is_total"].fillna(False).to_numpy(dtype=bool) if "is_total" in out else np.zeros(len(out), bool)
    family = ok & ~total
    adjusted = np.where(ok, pvalue, np.nan)
    if adjust and family.any():
        adjusted[family] = multipletests(pvalue[family], method=adjust)[1]
    significant = ok & (adjusted < 1 - level)
    note = f", adjusted for {int(family.sum())} areas" if adjust else ""
    verdicts = _verdicts(ok, significant, diff, adjusted, total, note)
    out["change"] = np.where(ok, diff, np.nan)
    out["change_ci_low"] = np.where(ok, low, np.nan)
    out["change_ci_high"] = np.where(ok, high, np.nan)
    out["z"] = np.where(ok, zstat, np.nan)
    out["p_value"] = np.where(ok, pvalue, np.nan)
    out["p_adjusted"] = adjusted
    out["significant"] = significant
    out["verdict"] = pd.Series(verdicts, dtype=object)
    reason = np.full(len(out), "not published in both waves", dtype=object)
    reason[ok] = None
    out["reason"] = pd.Series(reason, dtype=object)
    out["method"] = CHANGE_METHOD.format(level=level_text(level),
                                         adjust=f"; p-values adjusted across areas ({adjust})" if adjust else "")
    return out.sort_values(area, kind="stable").reset_index(drop=True)


def _paired(table: pd.DataFrame, *, wave_from: str, wave_to: str, area: str, wave: str) -> pd.DataFrame:
    """One row per area with ``share`` and ``n_eff`` of both waves side by side (``_from``, ``_to``)."""
    names = [c for c in ("area_name", "is_total") if c in table]
    before = table[table[wave].astype(str) == wave_from][[area, *names, "share", "n_eff"]]
    after = table[table[wave].astype(str) == wave_to][[area, *names, "share", "n_eff"]]
    out = before.merge(after, on=area, how="outer", suffixes=("_from", "_to"))
    for column in names:
        out[column] = out[f"{column}_from"].where(out[f"{column}_from"].notna(), out[f"{column}_to"])
        out = out.drop(columns=[f"{column}_from", f"{column}_to"])
    out = out[[area, *names, *[c for c in out.columns if c not in (area, *names)]]]
    out.insert(1 + len(names), "wave_from", wave_from)
    out.insert(2 + len(names), "wave_to", wave_to)
    for column in ("share_from", "share_to", "n_eff_from", "n_eff_to"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


def _verdicts(ok: BoolArray, significant: BoolArray, diff: FloatArray, adjusted: FloatArray, total: BoolArray,
              note: str) -> list[str | None]:
    """Each area's change in words: its direction and size when more than noise, with the p-value."""
    verdicts: list[str | None] = []
    for good, sig, d, p, whole in zip(ok, significant, diff, adjusted, total):
        tail = f"p = {p:.3f}{'' if whole else note}" if sig else f"p = {p:.2f}{'' if whole else note}"
        if not good:
            verdicts.append(None)
        elif sig:
            verdicts.append(f"{'Rose' if d > 0 else 'Fell'} by {abs(100 * d):.0f} percentage points: more than "
                            f"sampling noise ({tail})")
        else:
            verdicts.append(f"No clear change: {100 * d:+.0f} percentage points is within sampling noise ({tail})")
    return verdicts
