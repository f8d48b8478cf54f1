"""The image claims across image sizes: the scale ladder's margins, their trend and what the
trend predicts at the paper's 512 px (``make image-scale``).

``python -m implicit_bias.scale DOCS_DIR`` reads the rungs published under ``DOCS_DIR``
(``<side>px/``, each a workflow run of ``configs/image_scale.yaml`` at one image side:
the gallery sweep ``scale_<side>`` and the sensitivity sweep ``scale_<side>_alpha``) and
writes beside them:

* ``scale.csv``: every margin of every run, per rung, image and seed, on the paper's metric
  and on the unperturbed input's (ours);
* ``margins.csv``: each margin per rung and image, its mean over seeds and Student-t
  interval;
* ``trends.csv``: each margin's trend in log2 of the side (one slope, an intercept per
  image, least squares over seeds) and its prediction at 512 px with a 95% prediction
  interval;
* ``scale.md``: the rungs (commit, code, time, the regime tests), the claims' verdicts per
  rung, the margins, the sensitivity to alpha and a reading of the trends; ``brief.md``,
  its summary for the README;
* ``scale.pdf`` and ``scale.png``: the margins against the side.

The margins are those the gallery's claims judge (``experiments/images.py``): DOP's last
iterate minus DIP-l1's, DOP's last minus the better oracle-stopped baseline, DOP's best
minus its last, DIP-l1's best minus its last.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .experiments.images import GALLERY_P, KEPT_DB, PEAK_BEFORE, PLATEAU_DB, STOP_DB, seed_interval
from .records import read_table, write_table

#: The paper's image side, where the trend is extrapolated to.
PAPER_SIDE = 512
#: The paper's learning-rate ratio; the verdicts are taken at it only.
PAPER_ALPHA = 500.0
#: The fewest rungs a prediction at 512 px is made from (a line through two says nothing of
#: its straightness).
MIN_SIDES_TO_PREDICT = 3
#: A rung's folder under the docs folder.
RUNG_DIR = re.compile(r"^(\d+)px$")


@dataclass(frozen=True)
class Margin:
    """One margin a claim judges: its name, its claim, what it is, the threshold and the
    side of it on which the claim holds."""

    name: str
    claim: str
    text: str
    threshold: float
    above: bool
    #: The least value the margin can take (a best minus a last is never negative); a
    #: prediction below it is clipped to it.
    floor: float | None = None


MARGINS = (
    Margin("dop_minus_l1_last", "dop_ends_above_dip_l1", "DOP last - DIP-l1 last", 0.0, True),
    Margin("dop_minus_stopped", "dop_beats_stopped", "DOP last - best oracle-stopped DIP/DIP-l1", 0.0, True),
    Margin("dop_best_minus_last", "dop_no_early_stop", "DOP best - DOP last", KEPT_DB, False, 0.0),
    Margin("l1_best_minus_last", "dip_l1_needs_early_stop", "DIP-l1 best - DIP-l1 last", STOP_DB, True, 0.0),
)
#: The columns of each metric: the paper's (the perturbed input's output) and ours.
METRICS = {
    "paper": {"last": "psnr_last", "best": "psnr_best"},
    "clean": {"last": "psnr_clean_last", "best": "psnr_clean_best"},
}


def margins(summary: pd.DataFrame, cols: dict) -> pd.DataFrame:
    """Every margin of one gallery sweep, per (image, trial), at the gallery's p.

    :param summary: the sweep's summary table (DIP, DIP-l1 and DOP at one width).
    :param cols: the metric's columns (an entry of :data:`METRICS`).
    :returns: columns ``image``, ``trial``, ``margin``, ``value`` and ``in_regime``: whether
        the run reached the regime its claim is about, by the claim's own test (DOP
        plateaued, for DOP's fall from its best; DIP-l1 past its peak, for DIP-l1's; True for
        the margins whose claims judge every run). A margin whose runs are missing is absent.
    """
    at = summary[np.isclose(summary["p"], GALLERY_P)]
    at = at[at["width"] == at.groupby("method")["width"].transform("max")]

    have = set(at["method"])

    def col(method: str, which: str) -> pd.Series:
        return at[at["method"] == method].set_index(["image", "trial"])[cols.get(which, which)]

    series, regime = {}, {}
    if {"dop", "dip_l1"} <= have:
        series["dop_minus_l1_last"] = col("dop", "last") - col("dip_l1", "last")
    if {"dop", "dip", "dip_l1"} <= have:
        series["dop_minus_stopped"] = col("dop", "last") - np.maximum(col("dip", "best"), col("dip_l1", "best"))
    if "dop" in have:
        series["dop_best_minus_last"] = col("dop", "best") - col("dop", "last")
        regime["dop_best_minus_last"] = col("dop", "gain_last_20pct") < PLATEAU_DB
    if "dip_l1" in have:
        series["l1_best_minus_last"] = col("dip_l1", "best") - col("dip_l1", "last")
        regime["l1_best_minus_last"] = col("dip_l1", "iter_best") <= PEAK_BEFORE * col("dip_l1", "steps")
    frames = []
    for name, s in series.items():
        frame = s.rename("value").to_frame()
        frame["in_regime"] = regime[name].reindex(frame.index).fillna(False) if name in regime else True
        frames.append(frame.dropna(subset=["value"]).reset_index().assign(margin=name))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out[["image", "trial", "margin", "value", "in_regime"]] if not out.empty else out


@dataclass
class Rung:
    """One published rung: its side, width, steps, tables, scorecard and run facts."""

    side: int
    folder: Path
    gallery: pd.DataFrame
    alpha: pd.DataFrame | None
    scorecard: pd.DataFrame | None
    run: dict

    @property
    def width(self) -> int:
        return int(self.gallery["width"].max())

    @property
    def steps(self) -> int:
        return int(self.gallery["steps"].max())

    def codes(self) -> dict[str, set[str]]:
        """The code fingerprints its tables were computed with: gallery and alpha sweep."""
        frames = {"gallery": self.gallery, "alpha": self.alpha}
        return {
            k: {str(c) for c in f["code"].dropna().unique()} for k, f in frames.items() if f is not None and "code" in f
        }


def read_rungs(docs: Path) -> list[Rung]:
    """The rungs published under ``docs`` (folders ``<side>px``), smallest first; a folder
    without its gallery table is skipped."""
    rungs = []
    for folder in sorted(docs.iterdir() if docs.is_dir() else [], key=lambda p: p.name):
        match = RUNG_DIR.match(folder.name)
        if not match or not folder.is_dir():
            continue
        side = int(match.group(1))
        gallery_path = folder / "results" / f"scale_{side}" / "summary.csv"
        if not gallery_path.exists():
            continue
        alpha_path = folder / "results" / f"scale_{side}_alpha" / "summary.csv"
        card_path = folder / "scorecard.csv"
        run_path = folder / "run.json"
        rungs.append(
            Rung(
                side=side,
                folder=folder,
                gallery=read_table(gallery_path),
                alpha=read_table(alpha_path) if alpha_path.exists() else None,
                scorecard=read_table(card_path) if card_path.exists() else None,
                run=json.loads(run_path.read_text()) if run_path.exists() else {},
            )
        )
    return sorted(rungs, key=lambda r: r.side)


def ladder_table(rungs: list[Rung]) -> pd.DataFrame:
    """Every margin of every rung: ``side``, ``width``, ``metric``, ``image``, ``trial``,
    ``margin``, ``value``, ``in_regime``."""
    frames = []
    for rung in rungs:
        for metric, cols in METRICS.items():
            if not set(cols.values()) <= set(rung.gallery.columns):
                continue
            m = margins(rung.gallery, cols)
            if not m.empty:
                frames.append(m.assign(side=rung.side, width=rung.width, metric=metric))
    if not frames:
        return pd.DataFrame(columns=["side", "width", "metric", "image", "trial", "margin", "value", "in_regime"])
    out = pd.concat(frames, ignore_index=True)
    return out[["side", "width", "metric", "image", "trial", "margin", "value", "in_regime"]]


def per_image(table: pd.DataFrame) -> pd.DataFrame:
    """Each margin per (metric, side, image) over the seeds whose runs reached the margin's
    regime: their number, the number left out, the mean and its 95% Student-t interval."""
    rows = []
    for (metric, margin, side, image), part in table.groupby(["metric", "margin", "side", "image"], sort=True):
        kept = part[part["in_regime"].astype(bool)]
        mean, lo, hi = seed_interval(kept["value"].to_numpy())
        rows.append(
            {
                "metric": metric,
                "margin": margin,
                "side": side,
                "image": image,
                "seeds": len(kept),
                "not_in_regime": len(part) - len(kept),
                "mean": mean,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return pd.DataFrame(rows)


def trend(part: pd.DataFrame, at_side: float = PAPER_SIDE, level: float = 0.95) -> dict:
    """The least-squares trend of one margin in log2 of the side: one slope, an intercept per
    image, fitted to every seed's value; the slope's interval and, per image, the prediction
    at ``at_side`` with its prediction interval (Student t on the residual variance).

    :param part: columns ``side``, ``image`` and ``value`` (one margin, one metric).
    :returns: ``slope``, ``slope_low``, ``slope_high`` (dB per doubling of the side),
        ``dof``, ``sides`` (how many), and ``predict``: image to ``(mean, low, high)`` at
        ``at_side``. NaN where fewer than two sides or no residual degrees of freedom.
    """
    from scipy.stats import t

    part = part.dropna(subset=["value"])
    images = sorted(part["image"].unique())
    nan = float("nan")
    out = {"slope": nan, "slope_low": nan, "slope_high": nan, "dof": 0, "sides": part["side"].nunique()}
    out["predict"] = {i: (nan, nan, nan) for i in images}
    if out["sides"] < 2:
        return out
    x = np.log2(part["side"].to_numpy(dtype=float))
    dummies = (part["image"].to_numpy()[:, None] == np.array(images)[None, :]).astype(float)
    design = np.column_stack([x, dummies])
    y = part["value"].to_numpy(dtype=float)
    dof = len(y) - design.shape[1]
    out["dof"] = int(dof)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    out["slope"] = float(coef[0])
    if dof <= 0:
        return out
    resid = y - design @ coef
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    q = float(t.ppf(0.5 + level / 2, dof))
    half = q * math.sqrt(cov[0, 0])
    out["slope_low"], out["slope_high"] = out["slope"] - half, out["slope"] + half
    for k, image in enumerate(images):
        x0 = np.zeros(design.shape[1])
        x0[0], x0[1 + k] = math.log2(at_side), 1.0
        mean = float(x0 @ coef)
        spread = q * math.sqrt(sigma2 + float(x0 @ cov @ x0))
        out["predict"][image] = (mean, mean - spread, mean + spread)
    return out


def trends(table: pd.DataFrame, at_side: float = PAPER_SIDE) -> pd.DataFrame:
    """:func:`trend` of every margin on every metric, one row per (metric, margin, image)."""
    rows = []
    for (metric, margin), part in table.groupby(["metric", "margin"], sort=True):
        part = part[part["in_regime"].astype(bool)]
        fit = trend(part, at_side)
        if fit["sides"] < MIN_SIDES_TO_PREDICT:
            fit["predict"] = {i: (float("nan"),) * 3 for i in fit["predict"]}
        floor = next((m.floor for m in MARGINS if m.name == margin), None)
        clipped = {}
        for image, values in fit["predict"].items():
            clipped[image] = floor is not None and values[0] < floor
            if floor is not None:
                fit["predict"][image] = tuple(v if np.isnan(v) else max(v, floor) for v in values)
        for image, (mean, lo, hi) in fit["predict"].items():
            rows.append(
                {
                    "metric": metric,
                    "margin": margin,
                    "sides": fit["sides"],
                    "slope_per_doubling": fit["slope"],
                    "slope_low": fit["slope_low"],
                    "slope_high": fit["slope_high"],
                    "dof": fit["dof"],
                    "image": image,
                    f"predicted_{int(at_side)}": mean,
                    "predicted_low": lo,
                    "predicted_high": hi,
                    "clipped": clipped.get(image, False),
                }
            )
    return pd.DataFrame(rows)


def direction(low: float, high: float) -> str:
    """How a margin moves with the side, by its slope's interval: ``grows``, ``falls`` or
    ``undecided`` (the interval contains 0, or there is none)."""
    if np.isnan(low) or np.isnan(high):
        return "undecided"
    if low > 0:
        return "grows"
    if high < 0:
        return "falls"
    return "undecided"


def predicted_verdict(margin: Margin, low: float, high: float) -> str:
    """What a prediction interval at 512 px says of the claim: ``yes`` (clear of the
    threshold on the claim's side), ``no`` (clear on the other) or ``undecided``."""
    if np.isnan(low) or np.isnan(high):
        return "undecided"
    good = low >= margin.threshold if margin.above else high <= margin.threshold
    bad = high < margin.threshold if margin.above else low > margin.threshold
    return "yes" if good else ("no" if bad else "undecided")


def regime_rows(rungs: list[Rung]) -> pd.DataFrame:
    """Per rung, the regime tests of the claims about a regime: DOP's largest gain over its
    last 20% of steps (plateaued below :data:`PLATEAU_DB`) and DIP-l1's latest best as a
    fraction of the steps (past its peak below :data:`PEAK_BEFORE`)."""
    rows = []
    for rung in rungs:
        g = rung.gallery[np.isclose(rung.gallery["p"], GALLERY_P)]
        dop, l1 = g[g["method"] == "dop"], g[g["method"] == "dip_l1"]
        gain = float(dop["gain_last_20pct"].max()) if not dop.empty else float("nan")
        peak = float((l1["iter_best"] / l1["steps"]).max()) if not l1.empty else float("nan")
        rows.append(
            {
                "side": rung.side,
                "width": rung.width,
                "steps": rung.steps,
                "dop_gain_last_20pct_max": gain,
                "dop_plateaued_runs": f"{int((dop['gain_last_20pct'] < PLATEAU_DB).sum())} of {len(dop)}",
                "dip_l1_latest_best_share": peak,
                "dip_l1_past_peak_runs": f"{int((l1['iter_best'] <= PEAK_BEFORE * l1['steps']).sum())} of {len(l1)}",
                "wall_s": rung.run.get("wall_s"),
                "commit": rung.run.get("commit", ""),
                "code": ", ".join(f"{k} {', '.join(sorted(v))}" for k, v in rung.codes().items()),
            }
        )
    return pd.DataFrame(rows)


def alpha_rows(rungs: list[Rung]) -> pd.DataFrame:
    """The sensitivity row of each rung: per alpha, DOP's last PSNR and DOP last - DIP-l1
    last, on the trials the sensitivity sweep ran (the gallery's runs at the paper's alpha,
    on the same trials), mean over images and trials, with the number of runs."""
    rows = []
    for rung in rungs:
        if rung.alpha is None:
            continue
        g = rung.gallery[np.isclose(rung.gallery["p"], GALLERY_P)]
        a = rung.alpha[np.isclose(rung.alpha["p"], GALLERY_P) & (rung.alpha["method"] == "dop")]
        keys = set(zip(a["image"], a["trial"], strict=True))
        paired = np.array([k in keys for k in zip(g["image"], g["trial"], strict=True)], dtype=bool)
        paper = g[(g["method"] == "dop").to_numpy() & paired]
        l1 = g[g["method"] == "dip_l1"].set_index(["image", "trial"])["psnr_last"]
        for alpha, part in pd.concat([a, paper]).groupby("alpha", sort=True):
            d = part.set_index(["image", "trial"])
            diff = (d["psnr_last"] - l1.reindex(d.index)).dropna()
            rows.append(
                {
                    "side": rung.side,
                    "alpha": float(alpha),
                    "runs": len(part),
                    "diverged": int(part["diverged"].astype(bool).sum()) if "diverged" in part else 0,
                    "dop_last": float(part["psnr_last"].mean()),
                    "dop_best_minus_last": float((part["psnr_best"] - part["psnr_last"]).mean()),
                    "dop_minus_l1_last": float(diff.mean()) if len(diff) else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def verdict_rows(rungs: list[Rung]) -> pd.DataFrame:
    """The gallery claims' verdicts per rung, from each rung's scorecard (the paper's alpha)."""
    rows = []
    for rung in rungs:
        if rung.scorecard is None:
            continue
        card = rung.scorecard[rung.scorecard["sweep"] == f"scale_{rung.side}"]
        for _, r in card.iterrows():
            rows.append({"side": rung.side, "claim": str(r["claim_id"]).split(":")[-1], "holds": r["holds"]})
    return pd.DataFrame(rows)


def _fmt(v: float, signed: bool = True) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def _ci(mean: float, lo: float, hi: float) -> str:
    if np.isnan(lo):
        return f"{_fmt(mean)} (one seed)"
    return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"


def _left_out(table: pd.DataFrame, margin: str) -> str:
    """Per rung, the runs of a margin left out as not in their regime ("" where none)."""
    part = table[(table["metric"] == "paper") & (table["margin"] == margin)]
    out = []
    for side, d in part.groupby("side"):
        missed = int((~d["in_regime"].astype(bool)).sum())
        if missed:
            out.append(f"{int(side)} px {missed} of {len(d)}")
    return "; runs not in the claim's regime, left out: " + ", ".join(out) if out else ""


def reading(table: pd.DataFrame, fits: pd.DataFrame) -> list[str]:
    """The written reading: per margin (the paper's metric), how it moves with the side and
    what the trend predicts at 512 px, each with its interval; where the data cannot decide,
    it says so. Runs not in the regime their claim is about are left out, and counted."""
    lines = []
    paper = fits[fits["metric"] == "paper"] if not fits.empty else fits
    for m in MARGINS:
        part = paper[paper["margin"] == m.name] if not paper.empty else paper
        head = f"- **{m.text}** (claim `{m.claim}`)"
        left = _left_out(table, m.name)
        if part.empty:
            present = (table["margin"] == m.name).any()
            lines.append(head + (f": no run reached the claim's regime{left}." if present else ": no data."))
            continue
        first = part.iloc[0]
        sides = int(first["sides"])
        if sides < 2:
            lines.append(head + f": one rung only; no trend can be read{left}.")
            continue
        moves = direction(first["slope_low"], first["slope_high"])
        slope = _ci(first["slope_per_doubling"], first["slope_low"], first["slope_high"])
        says = {
            "grows": "grows with the side",
            "falls": "falls with the side",
            "undecided": "has no trend the data can resolve",
        }[moves]
        text = (
            f"{head} {says}: {slope} dB per doubling of the side (95% interval, {sides} rungs, "
            f"{int(first['dof'])} residual degrees of freedom{left})."
        )
        if sides < MIN_SIDES_TO_PREDICT:
            lines.append(text + f" No prediction at {PAPER_SIDE} px: it needs {MIN_SIDES_TO_PREDICT} rungs or more.")
            continue
        preds, verdicts = [], []
        for _, r in part.iterrows():
            v = predicted_verdict(m, r["predicted_low"], r["predicted_high"])
            verdicts.append(v)
            clip = ", clipped at the margin's floor of 0: the line reaches it first" if r.get("clipped") else ""
            preds.append(
                f"{r['image']} {_ci(r[f'predicted_{PAPER_SIDE}'], r['predicted_low'], r['predicted_high'])} ({v}{clip})"
            )
        rule = f"{'>=' if m.above else '<='} {m.threshold:g} dB"
        if all(v == "yes" for v in verdicts):
            sum_ = f"if the trend held, the claim ({rule}) would hold at {PAPER_SIDE} px on every image"
        elif any(v == "no" for v in verdicts):
            failing = sum(v == "no" for v in verdicts)
            sum_ = (
                f"if the trend held, the claim ({rule}) would still fail at {PAPER_SIDE} px "
                f"on {failing} of {len(verdicts)} images"
            )
        else:
            sum_ = f"the data cannot decide the claim ({rule}) at {PAPER_SIDE} px"
        lines.append(text + f" Predicted at {PAPER_SIDE} px (95% prediction interval): {'; '.join(preds)}; {sum_}.")
    return lines


def draw(table: pd.DataFrame, fits: pd.DataFrame, alpha: pd.DataFrame):
    """The margins (the paper's metric) against the side, per image, seeds as points, the
    mean as a line, the trend's prediction at 512 px as an interval; and the sensitivity
    row (DOP last - DIP-l1 last per alpha)."""
    from .plotting import figure

    paper = table[table["metric"] == "paper"]
    images = sorted(paper["image"].unique())
    colors = dict(zip(images, ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"), strict=False))
    fig, axes = figure(3, 2, width=3.3, height=2.6)
    flat = list(axes.flat)
    flat[5].set_visible(False)
    for ax, m in zip(flat, MARGINS, strict=False):
        part = paper[paper["margin"] == m.name]
        for k, image in enumerate(images):
            d = part[part["image"] == image]
            if d.empty:
                continue
            shift = 1.0 + 0.02 * (k - (len(images) - 1) / 2)
            inside = d["in_regime"].astype(bool)
            ax.scatter(d["side"][inside] * shift, d["value"][inside], s=10, color=colors[image], alpha=0.6)
            # Runs not in their claim's regime: hollow, and left out of the mean and the trend.
            ax.scatter(
                d["side"][~inside] * shift, d["value"][~inside], s=12, facecolors="none", edgecolors=colors[image]
            )
            d = d[inside]
            if d.empty:
                continue
            mean = d.groupby("side")["value"].mean()
            ax.plot(mean.index * shift, mean.to_numpy(), color=colors[image], label=image)
            f = fits[(fits["metric"] == "paper") & (fits["margin"] == m.name) & (fits["image"] == image)]
            if not f.empty and not np.isnan(f["predicted_low"].iloc[0]):
                y = f[f"predicted_{PAPER_SIDE}"].iloc[0]
                lo, hi = f["predicted_low"].iloc[0], f["predicted_high"].iloc[0]
                ax.errorbar(
                    [PAPER_SIDE * shift],
                    [y],
                    yerr=[[y - lo], [hi - y]],
                    color=colors[image],
                    fmt="o",
                    ms=3,
                    capsize=2,
                    alpha=0.7,
                )
                ax.plot(
                    [mean.index[-1] * shift, PAPER_SIDE * shift],
                    [mean.iloc[-1], y],
                    color=colors[image],
                    ls=":",
                    lw=0.8,
                )
        ax.axhline(m.threshold, color="0.3", lw=0.8, ls="--")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({*paper["side"].unique(), PAPER_SIDE}))
        ax.set_xticklabels(
            [str(int(s)) for s in sorted({*paper["side"].unique(), PAPER_SIDE})], fontsize=7, rotation=45
        )
        ax.minorticks_off()
        ax.set_xlabel("image side (px); width = side / 4")
        ax.set_ylabel("dB")
        ax.set_title(m.text, fontsize=8)
    ax = flat[4]
    if alpha.empty:
        ax.text(0.5, 0.5, "no sensitivity runs", ha="center", va="center", transform=ax.transAxes)
    else:
        for side, part in alpha.groupby("side"):
            ax.plot(part["alpha"], part["dop_minus_l1_last"], marker="o", ms=3, label=f"{int(side)} px")
        ax.set_xscale("log")
        ticks = sorted(alpha["alpha"].unique())
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{a:g}" for a in ticks], fontsize=7)
        ax.minorticks_off()
        ax.axvline(PAPER_ALPHA, color="0.5", lw=0.8, ls=":")
        ax.axhline(0.0, color="0.3", lw=0.8, ls="--")
        ax.legend(frameon=False, fontsize=7)
    ax.set_xlabel("alpha (paper: 500)")
    ax.set_ylabel("dB")
    ax.set_title("DOP last - DIP-l1 last, by alpha", fontsize=8)
    handles, labels = flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def write(docs: Path, out: Path | None = None) -> dict:
    """Read the rungs under ``docs``, write the tables, the figure and the Markdown to
    ``out`` (default ``docs``).

    :returns: what was written: ``rungs`` (the sides), ``files``.
    :raises SystemExit: where no rung is published under ``docs``.
    """
    out = out or docs
    rungs = read_rungs(docs)
    if not rungs:
        raise SystemExit(f"no rung under {docs}: expected folders <side>px/ made by `make image-scale`")
    out.mkdir(parents=True, exist_ok=True)
    table = ladder_table(rungs)
    cells, fits = per_image(table), trends(table)
    alpha, regime, verdicts = alpha_rows(rungs), regime_rows(rungs), verdict_rows(rungs)
    write_table(table, out / "scale.csv")
    write_table(cells, out / "margins.csv")
    write_table(fits, out / "trends.csv")
    write_table(alpha, out / "alpha.csv")
    fig = draw(table, fits, alpha)
    for ext in ("pdf", "png"):
        fig.savefig(out / f"scale.{ext}", dpi=150, bbox_inches="tight")
    text, brief = markdown(
        rungs,
        {"table": table, "cells": cells, "fits": fits, "alpha": alpha, "regime": regime, "verdicts": verdicts},
    )
    (out / "scale.md").write_text(text)
    (out / "brief.md").write_text(brief)
    return {"rungs": [r.side for r in rungs], "files": sorted(p.name for p in out.iterdir() if p.is_file())}


def markdown(rungs: list[Rung], tables: dict[str, pd.DataFrame]) -> tuple[str, str]:
    """``scale.md`` and ``brief.md``, from the rungs and the tables :func:`write` makes
    (``table``, ``cells``, ``fits``, ``alpha``, ``regime``, ``verdicts``)."""
    table, cells, fits = tables["table"], tables["cells"], tables["fits"]
    alpha, regime, verdicts = tables["alpha"], tables["regime"], tables["verdicts"]
    sides = [r.side for r in rungs]
    codes = {}
    for r in rungs:
        for kind, found in r.codes().items():
            codes.setdefault(kind, set()).update(found)
    differ = {kind: found for kind, found in codes.items() if len(found) > 1}
    lines = [
        "# The image claims across image sizes",
        "",
        f"Rungs: {', '.join(f'{r.side} px / width {r.width}' for r in rungs)}, each a run of "
        "`configs/image_scale.yaml` (`make image-scale`): DIP, DIP-l1 and DOP at the paper's lr 1, "
        "alpha 500 and p = 0.5, on the evaluation images, two seeds each; the steps per rung below. "
        "Judged with the paper's metric (PSNR of the output for the perturbed input); the same on the "
        "unperturbed input (ours) is in `scale.csv` and `margins.csv`.",
        "",
        f"Evaluation images: {', '.join(sorted({i for r in rungs for i in r.gallery['image'].unique()}))}. "
        "The steps of each rung were chosen on the development images named in `configs/image_scale.yaml`, "
        "none of them an evaluation image.",
        "",
    ]
    if differ:
        lines += [
            "**The rungs ran different code** ("
            + "; ".join(f"{kind} sweeps: fingerprints {', '.join(sorted(found))}" for kind, found in differ.items())
            + "): compare them with care, or rerun the older rungs.",
            "",
        ]
    lines += ["## The rungs and their regime tests", ""]
    reg = regime.copy()
    reg["dop_gain_last_20pct_max"] = reg["dop_gain_last_20pct_max"].map(lambda v: _fmt(v))
    reg["dip_l1_latest_best_share"] = reg["dip_l1_latest_best_share"].map(lambda v: f"{v:.0%}")
    reg["wall_s"] = reg["wall_s"].map(lambda v: "-" if v is None else f"{v:.0f}")
    lines += [
        f"DOP has plateaued where it gained < {PLATEAU_DB:g} dB over its last 20% of steps; DIP-l1 is past "
        f"its peak where its best came before {PEAK_BEFORE:.0%} of the steps (the claims' own tests).",
        "",
        _md_table(reg),
        "",
        "## The claims' verdicts per rung (the paper's alpha)",
        "",
    ]
    if not verdicts.empty:
        pivot = verdicts.pivot(index="claim", columns="side", values="holds").reset_index()
        pivot.columns = ["claim", *[f"{int(c)} px" for c in pivot.columns[1:]]]
        lines += [_md_table(pivot), ""]
    else:
        lines += ["No scorecard published with the rungs.", ""]
    lines += ["## The margins (dB; mean over seeds [95% interval])", ""]
    paper = cells[cells["metric"] == "paper"]
    for m in MARGINS:
        part = paper[paper["margin"] == m.name]
        if part.empty:
            continue
        rows = []
        for side, d in part.groupby("side"):
            row = {"side": f"{int(side)} px"}
            for _, r in d.iterrows():
                cell = _ci(r["mean"], r["ci_low"], r["ci_high"]) if r["seeds"] else "-"
                if r["not_in_regime"]:
                    cell += f" ({int(r['not_in_regime'])} of {int(r['seeds'] + r['not_in_regime'])} not in regime)"
                row[r["image"]] = cell
            rows.append(row)
        lines += [f"**{m.text}** (claim `{m.claim}`; holds {'>=' if m.above else '<='} {m.threshold:g}):", ""]
        lines += [_md_table(pd.DataFrame(rows).fillna("-")), ""]
    lines += ["## What the trend says, and predicts at 512 px", ""]
    lines += reading(table, fits)
    lines += [
        "",
        f"The prediction extends a straight line in log2 of the side from {min(sides)}-{max(sides)} px to "
        f"{PAPER_SIDE} px, at each rung's own steps (the paper runs 150,000); it assumes the trend stays "
        "straight, which nothing here tests, and its interval covers only the seeds' scatter about that line.",
        "",
        "## Sensitivity to alpha (reported, not judged)",
        "",
    ]
    if not alpha.empty:
        a = alpha.copy()
        a["side"] = a["side"].map(lambda v: f"{int(v)} px")
        for c in ("dop_last", "dop_best_minus_last", "dop_minus_l1_last"):
            a[c] = a[c].map(lambda v, signed=c != "dop_last": _fmt(v, signed=signed))
        lines += [
            "DOP at each alpha on the sensitivity sweep's trials (the first seed of each evaluation image), "
            "the paper's 500 from the gallery's runs of the same trials; means over the images (dB):",
            "",
            _md_table(a),
            "",
        ]
    else:
        lines += ["No sensitivity sweep published with the rungs.", ""]
    lines += [
        "Files: `scale.csv` (every margin of every run, both metrics), `margins.csv` (per rung and image), "
        "`trends.csv` (the fits), `alpha.csv`, `scale.png`; each rung's run, scorecard and figures in "
        f"{', '.join(f'`{r.side}px/`' for r in rungs)}.",
        "",
    ]
    held = verdicts.groupby("side")["holds"].apply(lambda s: int((s == "yes").sum())) if not verdicts.empty else {}
    counts = "; ".join(
        f"{r.side} px: {held.get(r.side, 0)} of {int((verdicts['side'] == r.side).sum()) if not verdicts.empty else 0}"
        for r in rungs
    )
    brief = (
        f"The image claims at {len(rungs)} {'size' if len(rungs) == 1 else 'sizes'} "
        f"({', '.join(f'{s} px' for s in sides)}; width = side / 4, the paper's lr and alpha, "
        f"{', '.join(f'{r.steps:,}' for r in rungs)} steps): claims that hold per rung, "
        f"{counts}.\n\n" + "\n".join(reading(table, fits)) + "\n"
    )
    return "\n".join(lines), brief


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("docs", type=Path, help="the folder holding the rungs (<side>px/)")
    ap.add_argument("--out", type=Path, default=None, help="where to write (default: the same folder)")
    args = ap.parse_args(argv)
    done = write(args.docs, args.out)
    print(f"{len(done['rungs'])} rungs ({', '.join(f'{s} px' for s in done['rungs'])}): {', '.join(done['files'])}")


if __name__ == "__main__":
    main()
