"""Image recovery: the width curves (Fig. 1b), the gallery (Fig. 3), the corruption levels
(Fig. 4) and the learning curves (Fig. 5 of the arXiv version; Fig. 4 of the NeurIPS paper).

One job per (image, p, trial): it makes every run (method, width) of the sweep on that
corrupted image, one after the other. Each job writes, besides the tables, ``clean.png``,
``input.png`` (the corrupted image) and, per run ``<method>_w<width>``, ``<run>_final.png``
(the last iterate), ``<run>_best.png`` (the recorded iterate of highest PSNR) and
``<run>_checkpoint.pt`` into its job folder; a job started again after a kill resumes each
run from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..grids import BOOKKEEPING_KEYS, param_key
from ..plotting import METHOD_COLORS, METHOD_LABELS, figure
from ..records import tidy
from ..scorecard import FAILS, HOLDS, INCONCLUSIVE, NO_DATA, NOT_REACHED, Claim
from ..seeding import trial_rngs, trial_seed
from . import Context, Family, Kind, Plot, one_job_per

#: Paper image side when ``image_size`` is null (F16, Peppers, Baboon are 512 x 512).
PAPER_SIDE = 512


def runs_of(s: dict) -> list[tuple[str, int]]:
    """The (method, width) pairs of a sweep: ``runs`` if given, else methods x widths."""
    if s["runs"]:
        return [(r["method"], int(r["width"])) for r in s["runs"]]
    return [(m, int(w)) for w in s["widths"] for m in s["methods"]]


def run_name(method: str, width: int) -> str:
    """The name of a run of a job, ``dop_w16``: the prefix of its files."""
    return f"{method}_w{width}"


#: One job per (image, p, trial); trials differ in the corruption and the network's
#: initialization. A job makes every run (method, width) of the sweep.
image_jobs = one_job_per(image="images", p="p", trial="trials")


def image_files(s: dict) -> tuple[str, ...]:
    """What an image job leaves in its job folder besides the tables; figures read them."""
    runs = [run_name(m, w) for m, w in runs_of(s)]
    return ("clean.png", "input.png", *(f"{r}_{kind}.png" for r in runs for kind in ("final", "best")))


#: Keys that choose which jobs a sweep makes, or change no number: not what a job computes.
_GRID_KEYS = ("kind", "images", "p", "methods", "widths", "runs", "trials", "alphas", "tuned_on", *BOOKKEEPING_KEYS)


def image_run_key(s: dict, job: dict) -> str:
    """What a job computes: its job, its runs and every setting that changes their numbers.
    Two sweeps' jobs with one key are one computation (the gallery's p = 0.5 runs and the
    corruption sweep's, say); the workflow runs it once and gives both sweeps its tables."""
    science = {k: v for k, v in s.items() if k not in _GRID_KEYS}
    return json.dumps({"job": job, "runs": runs_of(s), "settings": science}, sort_keys=True)


#: The sensitivity kind (image_alpha): one job per (image, p, trial, alpha).
alpha_jobs = one_job_per(image="images", p="p", trial="trials", alpha="alphas")


def alpha_run_key(s: dict, job: dict) -> str:
    """:func:`image_run_key` of a sensitivity job: the job's alpha is the one its runs take."""
    return image_run_key({**s, "alpha": float(job["alpha"])}, job)


def image_resources(s: dict, job: dict) -> dict:
    """Scheduling hints of one job (every job of a sweep asks the same).

    A job on full-size images (``image_size`` null, the paper) or on images of 256 pixels
    or more asks for one GPU; its runtime assumes about 20 steps/s at 512 x 512, width 128
    on a GPU, and about 2.5e-9 CPU-seconds per pixel x width^1.5 per step on a CPU core,
    plus 15 ms of per-step overhead (measured at 64 x 64).

    :param s: the sweep's settings.
    :param job: the job's parameters.
    :returns: ``threads``, ``gpu``, ``mem_mb`` and ``runtime`` (minutes).
    """
    side = s["image_size"] or PAPER_SIDE
    gpu = 1 if side >= 256 else 0
    if gpu:
        per_step = sum((side / PAPER_SIDE) ** 2 * (w / 128) ** 1.5 / 20.0 for _, w in runs_of(s))
        mem_mb = 8000
    else:
        per_step = sum(0.015 + 2.5e-9 * side * side * w**1.5 for _, w in runs_of(s))
        mem_mb = 1500
    minutes = math.ceil(2.0 * s["steps"] * per_step / 60.0) + 2
    return {"threads": 1, "gpu": gpu, "mem_mb": mem_mb, "runtime": minutes}


def image_checks(s: dict) -> list[tuple[str, str]]:
    """The image side suits the network, and the claims are judged on images the settings
    were not chosen on.

    :param s: the sweep's settings.
    :returns: ``(key, problem)`` pairs.
    """
    out = []
    side, scales = s["image_size"], s["scales"]
    if side is not None and side % 2**scales:
        out.append(
            (
                "image_size",
                f"{side} is not a multiple of 2^scales = {2**scales} (the network halves the image {scales} times)",
            )
        )
    both = sorted(set(s["images"]) & set(s["tuned_on"]))
    if both:
        out.append(
            (
                "images",
                f"{', '.join(both)} also in tuned_on: a claim is judged on images its settings were not chosen on",
            )
        )
    return out


def image_kind(*plots: str, jobs=image_jobs, run=None, share=image_run_key) -> Kind:
    """An image kind: the kinds run, check and share their jobs alike and differ in the
    figures drawn of a sweep no figure names (and the sensitivity kind in its jobs).

    :param plots: those figures' plots.
    :param jobs: the kind's jobs (default: one per image, p and trial).
    :param run: the job's run (default :func:`run_image`).
    :param share: the key of a job's computation.
    :returns: the kind.
    """
    return Kind(
        jobs=jobs,
        run=run or run_image,
        plots=plots,
        resources=image_resources,
        files=image_files,
        preflight=image_preflight,
        share=share,
        checks=image_checks,
        folders=("image_dir",),
    )


def image_preflight(s: dict) -> list[tuple[str, str]]:
    """The sweep's images exist in their source, decode, and (in a folder) match their checksums."""
    from ..image_data import check_images

    return [("images", text) for text in check_images(s["images"], s["image_source"], s["image_dir"])]


def plateau_gain(iterations, values, steps: int) -> float:
    """PSNR gain over the last 20% of a run: the last value minus the one recorded at or just
    before 80% of the steps. Below :data:`PLATEAU_DB` a run has reached its plateau (our
    definition)."""
    its = np.asarray(iterations)
    vals = np.asarray(values, dtype=float)
    before = its <= 0.8 * steps
    if not before.any() or len(vals) < 2:
        return float("nan")
    return float(vals[-1] - vals[before][-1])


def run_image(ctx: Context, job: dict):
    from ..image_data import load_image, salt_and_pepper, save_png

    s = ctx.settings
    image, p, trial = job["image"], float(job["p"]), int(job["trial"])
    clean = load_image(image, s["image_source"], s["image_dir"], s["image_size"], multiple=2 ** s["scales"])
    # Runs of one (image, p, trial) share the corruption and the network's initialization,
    # in every sweep: a run is the same whichever sweep asks for it.
    seed = trial_seed(ctx.seed, "images", param_key({"image": image, "p": p}), trial)
    corruption_rng, init_rng = trial_rngs(seed, 2)
    noisy = salt_and_pepper(clean, p, corruption_rng)
    run_seed = int(init_rng.integers(2**62))
    save_png(clean, ctx.outdir / "clean.png")
    save_png(noisy, ctx.outdir / "input.png")
    rows, frames = [], []
    for method, width in runs_of(s):
        row, curves = _one_run(ctx, clean, noisy, method=method, width=width, seed=run_seed)
        rows.append({"job": ctx.outdir.name, "trial": trial, "image": image, "p": p, **row})
        for key, value in reversed(
            [("method", method), ("image", image), ("p", p), ("width", width), ("trial", trial)]
        ):
            curves.insert(0, key, value)
        frames.append(curves)
    return tidy(rows), pd.concat(frames, ignore_index=True)


def run_alpha(ctx: Context, job: dict):
    """A job of a sensitivity sweep (image_alpha): the sweep's runs at the job's learning-rate
    ratio alpha. The corruption and the network's initialization are those of (image, p,
    trial) in every sweep, so each alpha is paired with the other sweeps' runs of that trial."""
    alpha = float(job["alpha"])
    summary, curves = run_image(dataclasses.replace(ctx, settings={**ctx.settings, "alpha": alpha}), job)
    curves.insert(0, "alpha", alpha)
    return summary, curves


def _one_run(ctx: Context, clean: np.ndarray, noisy: np.ndarray, *, method: str, width: int, seed: int):
    """One run of a job: its summary row (without the job's columns) and its curves."""
    from ..image_data import psnr, save_png
    from ..image_recovery import RecoveryConfig, recover_image

    s = ctx.settings
    name = run_name(method, width)
    cfg = RecoveryConfig.from_settings(s, method=method, width=width)
    res = recover_image(
        noisy,
        clean,
        cfg,
        seed,
        ctx.device,
        checkpoint=ctx.outdir / f"{name}_checkpoint.pt",
        desc=ctx.label(f"{ctx.outdir.name} {name}"),
    )
    save_png(res.final, ctx.outdir / f"{name}_final.png")
    save_png(res.best if res.best is not None else res.final, ctx.outdir / f"{name}_best.png")
    # The number the paper reports: the last iterate for DOP, the best along the run
    # (an oracle early stop) for DIP and DIP-l1.
    reported = res.psnr_last if method == "dop" else res.best_psnr
    # The same on the output for the unperturbed input (ours), at the same recorded steps.
    reported_clean = res.psnr_clean_last if method == "dop" else res.psnr_clean_best
    row = {
        "method": method,
        "run": name,
        "seed": seed,
        "width": width,
        "steps": s["steps"],
        "lr": s["lr"],
        "alpha": s["alpha"],
        "init_scale": s["init_scale"],
        "image_shape": f"{clean.shape[0]}x{clean.shape[1]}",
        "psnr": reported,
        "psnr_last": res.psnr_last,
        "psnr_best": res.best_psnr,
        "iter_best": res.best_iteration,
        "psnr_clean": reported_clean,
        "psnr_clean_last": res.psnr_clean_last,
        "psnr_clean_best": res.psnr_clean_best,
        "optimizer": cfg.optimizer,
        "optimizer_lr": cfg.adam_lr if cfg.optimizer == "adam" else cfg.lr,
        "gain_last_20pct": plateau_gain(res.iterations, res.psnr, s["steps"]),
        "psnr_input": psnr(clean, noisy),
        "loss_last": res.loss[-1] if res.loss else float("nan"),
        "diverged": res.diverged,
        "resumed_from": res.resumed_from,
        "steps_per_s": res.steps_per_s,
        "amp": cfg.amp if ctx.device.type == "cuda" else "float32",
    }
    curves = pd.DataFrame(
        {"iteration": res.iterations, "psnr": res.psnr, "psnr_clean": res.psnr_clean, "loss": res.loss}
    )
    return row, curves


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

_WIDTH_STYLES = ((":", "#1f77b4"), ("-", "#000000"), ("--", "#2ca02c"), ("-.", "#9467bd"))

#: The methods in the order the curves draw them: those of
#: :data:`~implicit_bias.image_recovery.METHODS`, named here, as drawing imports no torch.
CURVE_METHODS = ("dip", "dip_l1", "dop")


def _run_label(method: str, width: int) -> str:
    return f"{METHOD_LABELS[method]}, width {width}"


def _draw_width_curves(tables):
    ((sweep, tab),) = tables.items()
    s, curves = tab["settings"], tab["curves"]
    keys = list(dict.fromkeys(zip(curves["image"], curves["p"], strict=True))) if not curves.empty else []
    fig, axes = figure(max(len(keys), 1), 1, width=3.8, height=2.8)
    l1_index = 0
    for ax, (image, p) in zip(axes[0], keys, strict=False):
        part = curves[(curves["image"] == image) & (curves["p"] == p)]
        for method, width in runs_of(s):
            run = part[(part["method"] == method) & (part["width"] == width)].sort_values("iteration")
            if run.empty:
                continue
            if method == "dop":
                style, color = "-", METHOD_COLORS["dop"]
            else:
                style, color = _WIDTH_STYLES[l1_index % len(_WIDTH_STYLES)]
                l1_index += 1
            ax.plot(run["iteration"], run["psnr"], ls=style, color=color, label=_run_label(method, width))
        ax.set_xlabel("iteration")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(f"{image}, salt-and-pepper p = {p:g}")
        ax.legend(frameon=False, loc="lower right")
    return fig


def _settings_text(s: dict) -> str:
    side = s["image_size"]
    size = "full size, cropped to multiples of 32" if side is None else f"{side} x {side} px"
    source = "scikit-image's bundled images" if s["image_source"] == "skimage" else "the paper's images"
    ours = ""
    if (s["lr"], s["alpha"]) != (1.0, 500.0):
        ours = (
            f" The step sizes are ours (lr = {s['lr']:g} for theta, alpha * lr = {s['alpha'] * s['lr']:g} "
            f"for g, h; the paper: 1 and 500), chosen so that this reduced size shows the effect "
            f"in {s['steps']} steps."
        )
    return (
        f"Images: {source}, {size}. {s['steps']} steps of plain gradient descent, lr = {s['lr']:g}, "
        f"alpha = {s['alpha']:g}, g0, h0 ~ N(0, {s['init_scale']:g}^2), PSNR recorded every "
        f"{s['record_every']} steps.{ours}"
    )


def _caption_width_curves(settings):
    ((sweep, s),) = settings.items()
    runs = ", ".join(f"{m} width {w}" for m, w in runs_of(s))
    return (
        f"PSNR against iteration for robust image recovery (sweep {sweep}; You et al. 2020, Fig. 1b): "
        f"{runs}. DIP-l1 needs the right width or an early stop; DOP needs neither. "
        f"{_settings_text(s)}"
    )


_SHORT_LABELS = {"dip": "DIP", "dip_l1": "DIP-$\\ell_1$", "dop": "DOP"}


def _read_image(path: Path) -> np.ndarray | None:
    import skimage.io

    return skimage.io.imread(path) if path.exists() else None


def _panels(tables) -> list[tuple[dict, str, float]]:
    """(sweep table, image, p) of every panel, each (image, p) once: a run two sweeps share
    is drawn once."""
    seen, panels = set(), []
    for tab in tables.values():
        for image, p in dict.fromkeys(zip(tab["summary"].get("image", []), tab["summary"].get("p", []), strict=True)):
            if (image, p) not in seen:
                seen.add((image, p))
                panels.append((tab, image, p))
    return panels


def _draw_gallery(tables):
    rows = _panels(tables)
    columns = ["input", "dip", "dip_l1", "dop", "clean"]
    fig, axes = figure(len(columns), max(len(rows), 1), width=1.55, height=1.85)
    for r, (tab, image, p) in enumerate(rows):
        summary, jobs = tab["summary"], Path(tab["jobs_dir"])
        part = summary[(summary["image"] == image) & (summary["p"] == p)]
        first = part[part["trial"] == part["trial"].min()]
        # The widest run of each method (a gallery shows one run per method), its first trial.
        picks = {m: g.sort_values("width").iloc[-1] for m, g in first.groupby("method")}
        for c, col in enumerate(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for side in ax.spines.values():
                side.set_visible(False)
            if col in ("input", "clean"):
                img = _read_image(jobs / first["job"].iloc[0] / f"{col}.png")
                text = f"PSNR = {first['psnr_input'].iloc[0]:.2f}" if col == "input" else ""
                title = "corrupted input" if col == "input" else "clean"
            elif col in picks:
                row = picks[col]
                # The paper's convention: DOP's last iterate; DIP and DIP-l1 at their best
                # recorded step (an oracle early stop).
                name = f"{row['run']}_final.png" if col == "dop" else f"{row['run']}_best.png"
                img = _read_image(jobs / row["job"] / name)
                text = (
                    f"PSNR = {row['psnr_last']:.2f} (last)"
                    if col == "dop"
                    else f"PSNR = {row['psnr_best']:.2f} (it. {int(row['iter_best'])})"
                )
                title = _SHORT_LABELS[col]
            else:
                img, text, title = None, "not run", _SHORT_LABELS[col]
            if img is not None:
                ax.imshow(img, interpolation="nearest", cmap="gray")
            ax.set_xlabel(text, fontsize=7)
            if r == 0:
                ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{image}, p = {p:g}", fontsize=8)
    return fig


def _caption_gallery(settings):
    parts = []
    for sweep, s in settings.items():
        parts.append(f"sweep {sweep}: images {', '.join(s['images'])} at p = {', '.join(f'{p:g}' for p in s['p'])}")
    s = next(iter(settings.values()))
    return (
        f"Robust image recovery from salt-and-pepper corruption (You et al. 2020, Figs. 3 and 5): "
        f"corrupted input, DIP, DIP-l1, DOP and the clean image, PSNR under each ({'; '.join(parts)}); "
        f"the first trial of each. DIP and DIP-l1 are shown at their best recorded step (an oracle early "
        f"stop, as in the paper), DOP at its last iterate. {_settings_text(s)}"
    )


def _curve_panels(tables):
    """A figure of one panel per (image, p) of the sweeps' curves, each drawn once however
    many sweeps hold the run, four to a row, titled and labelled:
    ``(fig, axes, [(ax, curves), ...])``."""
    panels = _panels({k: {**t, "summary": t["curves"]} for k, t in tables.items() if not t["curves"].empty})
    ncols = min(max(len(panels), 1), 4)
    nrows = max(1, math.ceil(len(panels) / ncols))
    fig, axes = figure(ncols, nrows, width=2.5, height=2.1)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    out = []
    for ax, (tab, image, p) in zip(axes.flat, panels, strict=False):
        part = tab["curves"][(tab["curves"]["image"] == image) & (tab["curves"]["p"] == p)]
        trials = part["trial"].nunique()
        ax.set_title(f"{image}, p = {p:g}" + (f" (mean of {trials})" if trials > 1 else ""))
        ax.set_xlabel("iteration")
        ax.set_ylabel("PSNR (dB)")
        out.append((ax, part))
    return fig, axes, out


def _legend_above(fig, axes, panels, most_columns: int | None = None):
    """The first panel's legend above the figure (none without panels); the figure, laid out."""
    if panels:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        ncol = len(labels) if most_columns is None else min(len(labels), most_columns)
        fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig


def _draw_curves(tables):
    # One panel per (image, p), drawn once however many sweeps hold the run; mean over trials.
    fig, axes, panels = _curve_panels(tables)
    for ax, part in panels:
        for method in CURVE_METHODS:
            run = part[part["method"] == method]
            if run.empty:
                continue
            run = run[run["width"] == run["width"].max()]
            mean = run.groupby("iteration")["psnr"].mean()
            ax.plot(
                mean.index,
                mean.to_numpy(),
                color=METHOD_COLORS[method],
                label=METHOD_LABELS[method],
                ls="-" if method == "dop" else ("--" if method == "dip_l1" else ":"),
            )
            if "psnr_clean" in run and run["psnr_clean"].notna().any():
                # Ours: the output for the unperturbed input, thin, beneath the paper's metric.
                clean = run.groupby("iteration")["psnr_clean"].mean()
                ax.plot(clean.index, clean.to_numpy(), color=METHOD_COLORS[method], lw=0.6, alpha=0.55, zorder=1)
    return _legend_above(fig, axes, panels)


def _caption_curves(settings):
    s = next(iter(settings.values()))
    return (
        f"PSNR against iteration for the runs of the gallery and the corruption levels "
        f"(sweeps {', '.join(settings)}; You et al. 2020, Fig. 4 of the NeurIPS version): DIP-l1 "
        f"peaks and then fits the corruption, DOP climbs and stays. Thick: PSNR of the output for the "
        f"perturbed input (the official code's metric); thin: for the unperturbed input (ours), where "
        f"recorded. {_settings_text(s)}"
    )


def _draw_alpha(tables):
    # One panel per (image, p): each run's PSNR against iteration at every alpha (mean over
    # trials), darker for larger alpha.
    fig, axes, panels = _curve_panels(tables)
    for ax, part in panels:
        alphas = sorted(part["alpha"].unique())
        shades = pyplot_colormap("viridis", len(alphas))
        for (method, width), run in part.groupby(["method", "width"], sort=True):
            for alpha, color in zip(alphas, shades, strict=True):
                mean = run[run["alpha"] == alpha].groupby("iteration")["psnr"].mean()
                label = f"{METHOD_LABELS[method]}, width {width}, alpha {alpha:g}"
                ax.plot(mean.index, mean.to_numpy(), color=color, label=label)
    return _legend_above(fig, axes, panels, most_columns=3)


def pyplot_colormap(name: str, count: int) -> list:
    """``count`` colours spread along matplotlib's colormap ``name`` (its ends trimmed)."""
    from matplotlib import colormaps

    return [colormaps[name](x) for x in np.linspace(0.15, 0.85, max(count, 1))][:count]


def _caption_alpha(settings):
    parts = [f"sweep {sweep}: alpha = {', '.join(f'{a:g}' for a in s['alphas'])}" for sweep, s in settings.items()]
    s = next(iter(settings.values()))
    return (
        f"Sensitivity to the learning-rate ratio alpha (ours; the paper runs alpha = 500): PSNR against "
        f"iteration at each alpha ({'; '.join(parts)}), the paper's metric, mean over trials. No claim is "
        f"judged on these runs. {_settings_text(s)}"
    )


# ---------------------------------------------------------------------------------------
# Scorecard claims
# ---------------------------------------------------------------------------------------

#: The paper's PSNR numbers for Fig. 4 (F16; supplement), per p: DIP, DIP-l1, DOP.
PAPER_F16_PSNR = {
    0.1: {"dip": 26.19, "dip_l1": 36.15, "dop": 34.91},
    0.3: {"dip": 20.15, "dip_l1": 33.64, "dop": 34.39},
    0.5: {"dip": 16.46, "dip_l1": 29.06, "dop": 31.60},
    0.7: {"dip": 13.91, "dip_l1": 24.80, "dop": 26.99},
}
#: The image the paper's table is about.
PAPER_TABLE_IMAGE = "F16"

#: A run has plateaued when its PSNR gained less than this over its last 20% of steps (ours).
PLATEAU_DB = 0.1
#: A run is past its peak when its best PSNR came before this fraction of its steps (ours).
PEAK_BEFORE = 0.8
#: The corruption level of the gallery's claims (the paper's Fig. 3).
GALLERY_P = 0.5
#: The lowest corruption level counted as high (the paper's Fig. 4).
HIGH_P = 0.3
#: A run that ends this far below its best needed an early stop (ours).
STOP_DB = 1.0
#: A run that ends within this of its best needed none (ours).
KEPT_DB = 0.5

#: The regime thresholds, as limits of the claims about a regime.
_REGIME = {"plateau_db": PLATEAU_DB, "peak_before": PEAK_BEFORE}
_PLATEAU_TEXT = "where it has plateaued (gained < {plateau_db:g} dB over the last 20% of its steps)"
_PEAK_TEXT = "where it is past its peak (best before {peak_before:.0%} of the steps)"


def _no_data(lacking: list[str]) -> tuple[str, str]:
    """The row of a claim whose sweep lacks what it compares, naming what is missing."""
    return "missing: " + ", ".join(lacking), NO_DATA


def baselines_text(s: dict) -> str:
    """How the sweep trained the baselines DIP and DIP-l1 (the paper does not say)."""
    if s.get("baseline_optimizer", "sgd") == "adam":
        return f"baselines by Adam, lr {s['adam_lr']:g} (as the Deep Image Prior paper)"
    return f"baselines by plain SGD, lr {s['lr']:g} (the official DOP script with the corruption step at 0)"


def _images_note(s: dict) -> str:
    """Which images a claim is judged on, which the settings were chosen on, and how the
    baselines were trained."""
    tuned = f"settings chosen on {', '.join(s['tuned_on'])}" if s["tuned_on"] else "the paper's step sizes, not tuned"
    return f"[evaluation images {', '.join(s['images'])}; {tuned}; {baselines_text(s)}] "


#: The columns of the paper's metric (the output for the perturbed input) and of ours (the
#: output for the unperturbed input), at the same recorded steps.
PAPER_COLS = {"last": "psnr_last", "best": "psnr_best"}
CLEAN_COLS = {"last": "psnr_clean_last", "best": "psnr_clean_best"}


def clean_note(summary: pd.DataFrame, per_seed: Callable[[dict], pd.DataFrame], signed: bool = True) -> str:
    """A claim's per-seed values on the unperturbed input's PSNR, shown beside the paper's
    metric and not judged; "" where the tables lack that metric.

    :param per_seed: from a column map (:data:`PAPER_COLS` or :data:`CLEAN_COLS`), the
        claim's values, columns ``image`` and ``value``, one row per seed.
    """
    if not set(CLEAN_COLS.values()) <= set(summary.columns):
        return ""
    d = per_seed(CLEAN_COLS).dropna(subset=["value"])
    if d.empty:
        return ""
    parts = "; ".join(_seed_text(i, part["value"].to_numpy(), signed=signed) for i, part in d.groupby("image"))
    return f". The same on the unperturbed input (ours, not judged): {parts}"


def _lacking(summary: pd.DataFrame, methods, p: float, images) -> list[str]:
    """The runs a claim about every image at one corruption level lacks.

    :param summary: the sweep's summary table.
    :param methods: the methods compared.
    :param p: the corruption level.
    :param images: the images the claim is about.
    :returns: ``method on image at p = ...`` for every pair without a run.
    """
    at = summary[np.isclose(summary["p"], p)]
    have = set(zip(at["method"], at["image"], strict=True))
    return [f"{m} on {i} at p = {p:g}" for i in images for m in methods if (m, i) not in have]


def _at(summary: pd.DataFrame, method: str, p: float) -> pd.DataFrame:
    """The widest runs of ``method`` at corruption ``p``."""
    part = summary[(summary["method"] == method) & np.isclose(summary["p"], p)]
    return part[part["width"] == part["width"].max()]


def seed_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """The mean of per-seed values and its Student-t interval over seeds.

    :returns: ``(mean, low, high)``; the bounds are NaN with fewer than two seeds.
    """
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    mean = float(v.mean()) if len(v) else float("nan")
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    half = float(t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def seeds_to_settle(values, threshold: float, level: float = 0.95, most: int = 10000) -> int | None:
    """The fewest seeds at which the Student-t interval of the mean would clear
    ``threshold``, at the observed mean and spread; None where the spread is 0, fewer than
    two seeds ran, or more than ``most`` would be needed."""
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    if len(v) < 2 or v.std(ddof=1) == 0 or v.mean() == threshold:
        return None
    sd, gap = v.std(ddof=1), abs(v.mean() - threshold)
    for n in range(max(2, len(v) + 1), most + 1):
        if t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n) < gap:
            return n
    return None


def side_of(values, threshold: float, above: bool = True) -> str:
    """Which side of ``threshold`` the mean over seeds is on, judged by its 95% interval:
    :data:`HOLDS` (clear of it on the wanted side), :data:`FAILS` (clear on the other side),
    or :data:`INCONCLUSIVE` (the interval contains it). With one seed, the value itself."""
    mean, lo, hi = seed_interval(values)
    if np.isnan(lo):
        return HOLDS if (mean >= threshold if above else mean <= threshold) else FAILS
    if (lo >= threshold) if above else (hi <= threshold):
        return HOLDS
    if (hi < threshold) if above else (lo > threshold):
        return FAILS
    return INCONCLUSIVE


def _seed_text(image: str, values, unit: str = "dB", signed: bool = True) -> str:
    mean, lo, hi = seed_interval(values)
    fmt = "{:+.2f}" if signed else "{:.2f}"
    seeds = ", ".join(fmt.format(v) for v in values)
    ci = "one seed" if np.isnan(lo) else f"95% CI {fmt.format(lo)} to {fmt.format(hi)}"
    return f"{image}: {fmt.format(mean)} {unit} (seeds {seeds}; {ci})"


def _every_image(per_seed: pd.DataFrame, threshold: float, above: bool, signed: bool = True) -> tuple[str, str]:
    """Judge "on every image, the mean over seeds is above (below) ``threshold``" with each
    image's interval over seeds: no where any image is clearly on the wrong side, yes where
    every image is clearly on the right side, inconclusive otherwise (with the seeds that
    would settle it).

    :param per_seed: columns ``image`` and ``value``, one row per seed.
    """
    parts, sides, settle = [], {}, []
    for image, part in per_seed.groupby("image", sort=True):
        v = part["value"].to_numpy()
        parts.append(_seed_text(image, v, signed=signed))
        sides[image] = side_of(v, threshold, above)
        if sides[image] == INCONCLUSIVE:
            settle.append(seeds_to_settle(v, threshold))
    text = "; ".join(parts)
    if any(v == FAILS for v in sides.values()):
        return text, FAILS
    if all(v == HOLDS for v in sides.values()):
        return text, HOLDS
    open_ = [i for i, v in sides.items() if v == INCONCLUSIVE]
    need = max((n for n in settle if n is not None), default=None)
    more = f"; about {need} seeds would settle it at the observed spread" if need else ""
    return text + f"; the interval contains {threshold:g} on {', '.join(open_)}{more}", INCONCLUSIVE


def _paired(summary: pd.DataFrame, a: tuple[str, str], b: tuple[str, str], p: float) -> pd.DataFrame:
    """Per (image, trial) at corruption ``p``: method ``a[0]``'s column ``a[1]`` minus method
    ``b[0]``'s column ``b[1]``."""
    left = _at(summary, a[0], p).set_index(["image", "trial"])[a[1]]
    right = _at(summary, b[0], p).set_index(["image", "trial"])[b[1]]
    return (left - right).dropna().rename("diff").reset_index()


def _dop_vs_dip_l1_last(s: dict, tables: dict) -> tuple[str, bool | str]:
    """At ``at_p``, DOP's last iterate is at least DIP-l1's on every image."""
    summary = tables["summary"]
    lacking = _lacking(summary, ("dop", "dip_l1"), s["at_p"], s["images"])
    if lacking:
        return _no_data(lacking)

    def per_seed(cols):
        return _paired(summary, ("dop", cols["last"]), ("dip_l1", cols["last"]), s["at_p"]).rename(
            columns={"diff": "value"}
        )

    text, verdict = _every_image(per_seed(PAPER_COLS), 0.0, above=True)
    return _images_note(s) + "DOP last - DIP-l1 last, mean over seeds: " + text + clean_note(summary, per_seed), verdict


def _dop_no_early_stop(s: dict, tables: dict) -> tuple[str, bool | str]:
    """At ``at_p``, DOP ends within ``within_db`` of its best on every image where it plateaued."""
    lacking = _lacking(tables["summary"], ("dop",), s["at_p"], s["images"])
    if lacking:
        return _no_data(lacking)
    dop = _at(tables["summary"], "dop", s["at_p"])
    plateaued = dop.groupby("image")["gain_last_20pct"].max() < s["plateau_db"]
    judged = dop[dop["image"].isin(plateaued[plateaued].index)]
    gains = ", ".join(f"{i} +{g:.2f}" for i, g in dop.groupby("image")["gain_last_20pct"].max().items())
    if judged.empty:
        return _images_note(
            s
        ) + f"DOP still climbing on every image (dB gained over the last 20%: {gains})", NOT_REACHED

    def per_seed(cols):
        return judged.assign(value=judged[cols["best"]] - judged[cols["last"]])

    drops = per_seed(PAPER_COLS)
    body, verdict = _every_image(drops, s["within_db"], above=False, signed=False)
    text = f"DOP best - last where it plateaued ({drops['image'].nunique()} of {dop['image'].nunique()} images): "
    text += body
    if drops["image"].nunique() < dop["image"].nunique():
        text += f"; still climbing elsewhere (dB gained over the last 20%: {gains})"
    return _images_note(s) + text + clean_note(judged, per_seed, signed=False), verdict


def _dip_l1_needs_stop(s: dict, tables: dict) -> tuple[str, bool | str]:
    """At ``at_p``, DIP-l1 ends ``stop_db`` below its best on a ``share`` of the images past its peak."""
    lacking = _lacking(tables["summary"], ("dip_l1",), s["at_p"], s["images"])
    if lacking:
        return _no_data(lacking)
    l1 = _at(tables["summary"], "dip_l1", s["at_p"])
    past = l1.groupby("image")["iter_best"].max() <= s["peak_before"] * s["steps"]
    judged = l1[l1["image"].isin(past[past].index)]
    if judged.empty:
        return _images_note(s) + "DIP-l1 still at or near its best at the end on every image", NOT_REACHED

    def per_seed(cols):
        return judged.assign(value=judged[cols["best"]] - judged[cols["last"]])

    drops = per_seed(PAPER_COLS)
    sides = {i: side_of(part["value"].to_numpy(), s["stop_db"], above=True) for i, part in drops.groupby("image")}
    text = f"DIP-l1 best - last where past its peak ({len(sides)} of {l1['image'].nunique()} images): " + "; ".join(
        _seed_text(i, part["value"].to_numpy(), signed=False) for i, part in drops.groupby("image")
    )
    clear = sum(v == HOLDS for v in sides.values())
    possible = clear + sum(v == INCONCLUSIVE for v in sides.values())
    text += f"; {clear} of {len(sides)} clearly fall {s['stop_db']:g} dB or more"
    text += clean_note(judged, per_seed, signed=False)
    needed = s["share"] * len(sides)
    if clear >= needed:
        return _images_note(s) + text, HOLDS
    if possible < needed:
        return _images_note(s) + text, FAILS
    return _images_note(s) + text + f" ({possible - clear} undecided by their interval)", INCONCLUSIVE


def _dop_beats_stopped(s: dict, tables: dict) -> tuple[str, bool | str]:
    """At ``at_p``, DOP's last iterate beats the best of DIP and DIP-l1 on every image."""
    summary, p = tables["summary"], s["at_p"]
    lacking = _lacking(summary, ("dop", "dip", "dip_l1"), p, s["images"])
    if lacking:
        return _no_data(lacking)

    def per_seed(cols):
        # Per seed: DOP's last against the better of DIP's and DIP-l1's oracle-stopped best.
        dop = _at(summary, "dop", p).set_index(["image", "trial"])[cols["last"]]
        rival = np.maximum(
            _at(summary, "dip", p).set_index(["image", "trial"])[cols["best"]],
            _at(summary, "dip_l1", p).set_index(["image", "trial"])[cols["best"]],
        )
        return (dop - rival).dropna().rename("value").reset_index()

    text, verdict = _every_image(per_seed(PAPER_COLS), 0.0, above=True)
    text += clean_note(summary, per_seed)
    return _images_note(s) + "DOP last - best early-stopped DIP/DIP-l1, mean over seeds: " + text, verdict


def _width_overfits(s: dict, tables: dict) -> tuple[str, bool | str]:
    """DIP-l1 at its largest width falls ``stop_db`` from its best; DOP at that width stays
    within ``within_db``; judged once both are in their regime."""
    summary = tables["summary"]
    l1 = summary[summary["method"] == "dip_l1"]
    widths = sorted(l1["width"].unique())
    if len(widths) < 2:
        return _no_data([f"a second DIP-l1 width (the sweep has width {', '.join(str(w) for w in widths)} only)"])
    wide = l1[l1["width"] == widths[-1]]
    dop = summary[(summary["method"] == "dop") & (summary["width"] == widths[-1])]
    if dop.empty:
        return _no_data([f"dop at width {widths[-1]}"])
    drop_l1 = float((wide["psnr_best"] - wide["psnr_last"]).mean())
    drop_dop = float((dop["psnr_best"] - dop["psnr_last"]).mean())
    text = f"DIP-l1 width {int(widths[-1])} falls {drop_l1:.2f} dB from its best; DOP falls {drop_dop:.2f} dB"
    if (wide["iter_best"] > s["peak_before"] * s["steps"]).any() or (dop["gain_last_20pct"] >= s["plateau_db"]).any():
        gain = dop["gain_last_20pct"].max()
        return text + f" (DIP-l1 not past its peak, or DOP gaining {gain:.2f} dB over its last 20%)", NOT_REACHED
    return text, drop_l1 >= s["stop_db"] and drop_dop <= s["within_db"]


def _paper_table(s: dict, tables: dict) -> tuple[str, bool | str]:
    """Our PSNRs on the paper's image match its table within ``tolerance_db``."""
    summary = tables["summary"]
    part = summary[summary["image"] == PAPER_TABLE_IMAGE]
    entries, worst, lacking = [], 0.0, []
    for p, paper in PAPER_F16_PSNR.items():
        for method, value in paper.items():
            ours = part[np.isclose(part["p"], p) & (part["method"] == method)]["psnr"]
            if ours.empty:
                lacking.append(f"{method} on {PAPER_TABLE_IMAGE} at p = {p:g}")
                continue
            worst = max(worst, abs(float(ours.mean()) - value))
            entries.append(f"p={p} {method}: {float(ours.mean()):.2f} ({value})")
    if lacking:
        return _no_data(lacking)
    return "ours (paper): " + "; ".join(entries) + f"; largest difference {worst:.2f} dB", worst <= s["tolerance_db"]


def _high_levels(p_values) -> tuple:
    """The corruption levels of ``p_values`` at or above :data:`HIGH_P`."""
    return tuple(p for p in p_values if p >= HIGH_P - 1e-9)


def _noise_dop_vs_l1_check(s: dict, tables: dict) -> tuple[str, bool | str]:
    """At every level p >= ``min_p``, DOP's mean last iterate is at least DIP-l1's."""
    summary = tables["summary"]
    high = summary[summary["p"] >= s["min_p"] - 1e-9]
    if high.empty:
        return _no_data([f"a corruption level p >= {s['min_p']:g}"])
    lacking = [
        f"{m} at p = {p:g}" for p, part in high.groupby("p") for m in ("dop", "dip_l1") if m not in set(part["method"])
    ]
    if lacking:
        return _no_data(lacking)
    rows, ok = [], True
    for p, part in high.groupby("p"):
        last = part.groupby("method")["psnr_last"].mean()
        d = last["dop"] - last["dip_l1"]
        ok &= bool(d >= 0)
        rows.append(f"p={p:g}: {d:+.2f} dB")
    return _images_note(s) + "DOP last - DIP-l1 last: " + "; ".join(rows), ok


def _l1_widths(s: dict) -> tuple[int, ...]:
    """The DIP-l1 widths of a sweep's runs."""
    return tuple(sorted({w for m, w in runs_of(s) if m == "dip_l1"}))


_GALLERY_NEEDS = {"p": (GALLERY_P,), "image": lambda s: tuple(s["images"])}


FAMILY = Family(
    kinds={
        "image_width": image_kind("image_width_curves"),
        "image_gallery": image_kind("image_gallery", "image_curves"),
        "image_noise": image_kind("image_gallery", "image_curves"),
        "image_alpha": image_kind("image_alpha", jobs=alpha_jobs, run=run_alpha, share=alpha_run_key),
    },
    plots={
        "image_width_curves": Plot(draw=_draw_width_curves, caption=_caption_width_curves, kinds=("image_width",)),
        "image_gallery": Plot(draw=_draw_gallery, caption=_caption_gallery, kinds=("image_gallery", "image_noise")),
        "image_curves": Plot(draw=_draw_curves, caption=_caption_curves, kinds=("image_gallery", "image_noise")),
        "image_alpha": Plot(draw=_draw_alpha, caption=_caption_alpha, kinds=("image_alpha",)),
    },
    claims={
        "image_gallery": [
            Claim(
                key="dop_ends_above_dip_l1",
                text="At p = {at_p:g}, DOP's last iterate is at least DIP-l1's last iterate on every image",
                plot="image_gallery",
                paper="DOP highest PSNR (Fig. 3)",
                check=_dop_vs_dip_l1_last,
                needs={"method": ("dop", "dip_l1"), **_GALLERY_NEEDS},
                limits={"at_p": GALLERY_P},
            ),
            Claim(
                key="dop_no_early_stop",
                text="At p = {at_p:g}, DOP needs no early stopping: " + _PLATEAU_TEXT + ", its last iterate is "
                "within {within_db:g} dB of its best, on every image",
                plot="image_curves",
                paper="no early stopping needed",
                check=_dop_no_early_stop,
                needs={"method": ("dop",), **_GALLERY_NEEDS},
                limits={"at_p": GALLERY_P, "within_db": KEPT_DB, **_REGIME},
            ),
            Claim(
                key="dip_l1_needs_early_stop",
                text="At p = {at_p:g}, DIP-l1 needs early stopping: " + _PEAK_TEXT + ", it ends >= {stop_db:g} dB "
                "below its best on at least {share:.0%} of the images",
                plot="image_curves",
                paper="case-dependent early stopping essential",
                check=_dip_l1_needs_stop,
                needs={"method": ("dip_l1",), **_GALLERY_NEEDS},
                limits={"at_p": GALLERY_P, "stop_db": STOP_DB, "share": 0.5, **_REGIME},
            ),
            Claim(
                key="dop_beats_stopped",
                text="At p = {at_p:g}, DOP's last iterate beats the best early-stopped DIP and DIP-l1 on every image",
                plot="image_gallery",
                paper="DOP highest PSNR despite oracle stopping (Fig. 3)",
                check=_dop_beats_stopped,
                needs={"method": ("dop", "dip", "dip_l1"), **_GALLERY_NEEDS},
                limits={"at_p": GALLERY_P},
            ),
        ],
        "image_width": [
            Claim(
                key="width_overfits",
                text="DIP-l1 at its largest width overfits (falls >= {stop_db:g} dB from its best) while DOP at "
                "the same width does not (<= {within_db:g} dB); judged once DIP-l1 is past its peak (best before "
                "{peak_before:.0%} of the steps) and DOP has plateaued (gains < {plateau_db:g} dB over the last "
                "20% of its steps)",
                plot="image_width_curves",
                paper="Fig. 1b",
                check=_width_overfits,
                needs={"method": ("dip_l1", "dop"), "width": _l1_widths},
                limits={"stop_db": STOP_DB, "within_db": KEPT_DB, **_REGIME},
            ),
        ],
        "image_noise": [
            Claim(
                key="paper_psnr_table",
                text=f"{PAPER_TABLE_IMAGE} PSNRs at p = {', '.join(f'{p:g}' for p in PAPER_F16_PSNR)} match the "
                "paper's table within {tolerance_db:g} dB (DIP and DIP-l1 best, DOP last)",
                plot="image_gallery",
                paper="the paper's supplement, Fig. 5 text",
                check=_paper_table,
                needs={"image": (PAPER_TABLE_IMAGE,), "p": tuple(PAPER_F16_PSNR), "method": ("dip", "dip_l1", "dop")},
                limits={"tolerance_db": 1.0},
                sizes=("paper",),
            ),
            Claim(
                key="dop_ends_above_dip_l1",
                text="DOP's last iterate is at least DIP-l1's last iterate at p >= {min_p:g}",
                plot="image_gallery",
                paper="DOP ahead at high corruption (Fig. 4)",
                check=_noise_dop_vs_l1_check,
                needs={"method": ("dop", "dip_l1"), "p": lambda s: _high_levels(s["p"])},
                limits={"min_p": HIGH_P},
            ),
        ],
    },
)
