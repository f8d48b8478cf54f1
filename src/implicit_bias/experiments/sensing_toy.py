"""The toy set M_b of Eftekhari & Zygalakis 2021, Fig. 4, with gradient-descent paths onto it.

The figure's operator (d = p = m = 2, caption of Fig. 4): ``A(UU^T) = [||U[1,:]||_2^2,
<A, UU^T>]`` for a random ``A`` in R^{2x2}, and ``b = A(X)`` for a random rank-1 ``X``. The
first constraint fixes the first row of ``U`` on the circle of radius ``sqrt(b_1)``,
``U[1,:] = sqrt(b_1) w`` with ``w = (cos t, sin t)``. With ``c = A_12 + A_21`` and
``e = A_22`` the second reads ``e ||v||^2 + c sqrt(b_1) <w, v> = b_2 - A_11 b_1`` for the
second row ``v = U[2,:]``: a circle of centre ``-c sqrt(b_1) / (2e) w`` and radius ``R``
(the same for every ``t``). So the zero-training-error set is the torus

    U(t, f) = [sqrt(b_1) w ; (-c sqrt(b_1) / (2e) + R cos f) w + R sin f w_perp],

drawn, as in the paper, in the three entries U[1,1], U[2,1], U[2,2] (U[1,2] is fixed up to
its sign by U[1,1]). ``U`` is rank 1 exactly where ``sin f = 0``: two circles in ``t``, one
with ``UU^T = X`` (the planted model) and one with the other rank-1 model that fits ``b``
(its twin). Every other point fits ``b`` with a rank-2 model, and a nonzero test error.
Gradient descent (paper eq. (3)) on ``||A(UU^T) - b||^2`` keeps the row space of its start,
so a rank-1 start can only land on a rank-1 point.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..plotting import pyplot, style
from ..records import tidy
from ..scorecard import NO_DATA, Claim
from ..seeding import numpy_rng, trial_rngs
from . import Context, Family, Kind, Plot, fixed_resources

#: The first measurement matrix: <E11, UU^T> = ||U[1,:]||_2^2.
E11 = np.array([[1.0, 0.0], [0.0, 0.0]])
#: Colours of the two starting ranks' paths.
RANK_COLORS = {1: "#d62728", 2: "#1f77b4"}
#: A smallest singular value below this fraction of the largest counts as rank 1 (ours).
RANK_ONE = 1e-6
#: A test error ||UU^T - X||_F below this counts as the planted model (ours).
PLANTED = 1e-6
#: An |e| = |A_22| below this is refused: the set is then not a torus (ours; measure zero).
MIN_E = 1e-8


# ---------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------


def toy_problem(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The figure's data: ``A`` with i.i.d. N(0, 1) entries, ``X = x x^T`` with ``x`` a
    uniformly random unit vector (trace 1, ours), and ``b = A(X)``.

    :returns: ``(A, b, X)``.
    """
    x = rng.standard_normal(2)
    x /= np.linalg.norm(x)
    A = rng.standard_normal((2, 2))
    X = np.outer(x, x)
    return A, measure_model(X, A), X


def measure_model(X: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``A(X) = [X_11, <A, X>]`` of models ``X``, ``(..., 2, 2)`` to ``(..., 2)``."""
    return np.stack([X[..., 0, 0], (A * X).sum(axis=(-2, -1))], axis=-1)


def measure(U: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``A(UU^T) = [||U[1,:]||^2, <A, UU^T>]`` of factors ``U``, ``(..., 2, 2)`` to ``(..., 2)``."""
    return measure_model(U @ np.swapaxes(U, -1, -2), A)


def loss(U: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The training error ``||A(UU^T) - b||_2^2`` (paper eq. (3)), per factor."""
    r = measure(U, A) - b
    return (r * r).sum(axis=-1)


def gradient(U: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The gradient of ``||A(UU^T) - b||_2^2`` in ``U``: ``2 sum_i r_i (A_i + A_i^T) U``,
    with ``A_1 = E11``, ``A_2 = A`` and ``r = A(UU^T) - b``."""
    r = measure(U, A) - b
    S = r[..., 0, None, None] * (2 * E11) + r[..., 1, None, None] * (A + A.T)
    return 2 * S @ U


def torus(A: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """The set's constants: ``(sqrt(b_1), centre offset -c sqrt(b_1) / (2e), radius R)``.

    :raises ValueError: where ``b_1 <= 0`` or ``|A_22|`` is below :data:`MIN_E`.
    """
    b1, b2 = float(b[0]), float(b[1])
    if b1 <= 0:
        raise ValueError(f"b_1 = {b1} must be positive (it is ||U[1,:]||^2)")
    a, c, e = float(A[0, 0]), float(A[0, 1] + A[1, 0]), float(A[1, 1])
    if abs(e) < MIN_E:
        raise ValueError(f"A_22 = {e:g}: the set is not a torus")
    s1 = math.sqrt(b1)
    centre = -c * s1 / (2 * e)
    r2 = (b2 - a * b1) / e + centre * centre
    if r2 < 0:
        raise ValueError(f"no U fits b (R^2 = {r2:g} < 0)")
    return s1, centre, math.sqrt(r2)


def set_points(A: np.ndarray, b: np.ndarray, t: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Points of ``{U : A(UU^T) = b}`` at angles ``t`` (first row) and ``f`` (second row).

    :param t: first-row angles, any shape; :param f: second-row angles, broadcast with ``t``.
    :returns: factors ``U``, shape ``broadcast(t, f) + (2, 2)``.
    """
    s1, centre, R = torus(A, b)
    t, f = np.broadcast_arrays(np.asarray(t, float), np.asarray(f, float))
    w = np.stack([np.cos(t), np.sin(t)], axis=-1)
    w_perp = np.stack([-np.sin(t), np.cos(t)], axis=-1)
    v = (centre + R * np.cos(f))[..., None] * w + (R * np.sin(f))[..., None] * w_perp
    return np.stack([s1 * w, v], axis=-2)


def rank_one_offsets(A: np.ndarray, b: np.ndarray, X: np.ndarray) -> tuple[float, float]:
    """The second-row angles ``f`` (0 or pi) of the planted and of the twin rank-1 circle.

    On a rank-1 circle ``U[2,:] = s w``: the planted one has ``UU^T = X``, i.e. ``sqrt(b_1) s
    = X_12``.
    """
    s1, centre, R = torus(A, b)
    planted = X[0, 1] / s1
    f0, f1 = (0.0, math.pi) if abs(centre + R - planted) <= abs(centre - R - planted) else (math.pi, 0.0)
    return f0, f1


def descent(A: np.ndarray, b: np.ndarray, U0: np.ndarray, lr: float, steps: int, record_every: int):
    """Gradient descent ``U <- U - lr grad ||A(UU^T) - b||^2`` (paper eq. (3)), a batch of starts.

    :param U0: starts, ``(B, 2, 2)``.
    :returns: ``(iterations, path, last_change)``: the recorded iterations (0, every
        ``record_every``, the last), the iterates there ``(K, B, 2, 2)``, and the change of
        each run over its last 10% of steps relative to its final norm.
    """
    U = np.array(U0, dtype=float)
    marks = sorted(set(range(0, steps + 1, record_every)) | {steps})
    tenth = steps - max(1, steps // 10)
    path, at_tenth = [], U.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps + 1):
            if k == tenth:
                at_tenth = U.copy()
            if k == marks[len(path)]:
                path.append(U.copy())
            if k == steps:
                break
            U = U - lr * gradient(U, A, b)
        change = np.linalg.norm(U - at_tenth, axis=(-2, -1)) / np.linalg.norm(U, axis=(-2, -1))
    return np.array(marks), np.stack(path), change


def random_start(rank: int, norm: float, rng: np.random.Generator) -> np.ndarray:
    """A 2x2 start of ``rank`` (1: an outer product of Gaussian vectors; 2: a Gaussian
    matrix) scaled to Frobenius norm ``norm``."""
    U = np.outer(rng.standard_normal(2), rng.standard_normal(2)) if rank == 1 else rng.standard_normal((2, 2))
    return U * (norm / np.linalg.norm(U))


# ---------------------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------------------


def _entries(U: np.ndarray) -> dict:
    return {"u11": U[..., 0, 0], "u12": U[..., 0, 1], "u21": U[..., 1, 0], "u22": U[..., 1, 1]}


def _point_columns(U: np.ndarray, A: np.ndarray, b: np.ndarray, X: np.ndarray) -> dict:
    """Per factor: its entries, |A(UU^T) - b| (max and relative), test error, singular values."""
    r = measure(U, A) - b
    sv = np.linalg.svd(U, compute_uv=False)
    return {
        **_entries(U),
        "residual_abs": np.abs(r).max(axis=-1),
        "residual": np.linalg.norm(r, axis=-1) / np.linalg.norm(b),
        "train_error": (r * r).sum(axis=-1),
        "test_error": np.linalg.norm(U @ np.swapaxes(U, -1, -2) - X, axis=(-2, -1)),
        "sigma_max": sv[..., 0],
        "sigma_min": sv[..., -1],
    }


def toy_jobs(s: dict) -> list[dict]:
    """One job: the figure's one problem, its set and every path (a few seconds)."""
    return [{"problem": 0}]


def run_toy(ctx: Context, job: dict):
    s = ctx.settings
    seed = ctx.trial_seed("sensing_toy", 0)
    (data_rng,) = trial_rngs(seed, 1)
    A, b, X = toy_problem(data_rng)
    s1, centre, R = torus(A, b)
    planted_f, twin_f = rank_one_offsets(A, b, X)
    common = {"seed": seed, "b1": b[0], "b2": b[1], "a11": A[0, 0], "a12": A[0, 1], "a21": A[1, 0], "a22": A[1, 1]}
    common |= {"x11": X[0, 0], "x12": X[0, 1], "x22": X[1, 1], "radius": R, "centre": centre}

    # The set: a mesh over both angles, and the two rank-1 circles finely.
    n = int(s["mesh"])
    t = np.linspace(0.0, 2 * math.pi, n)
    T, F = np.meshgrid(t, t, indexing="ij")
    frames = [
        pd.DataFrame(
            {
                "part": "mesh",
                "i": np.repeat(np.arange(n), n),
                "j": np.tile(np.arange(n), n),
                "t": T.ravel(),
                "f": F.ravel(),
                **{k: v.ravel() for k, v in _point_columns(set_points(A, b, T, F), A, b, X).items()},
            }
        )
    ]
    tc = np.linspace(0.0, 2 * math.pi, 4 * n)
    for part, f in (("rank1_planted", planted_f), ("rank1_twin", twin_f)):
        cols = _point_columns(set_points(A, b, tc, np.full_like(tc, f)), A, b, X)
        frames.append(pd.DataFrame({"part": part, "i": np.arange(len(tc)), "j": 0, "t": tc, "f": f, **cols}))
    points = pd.concat(frames, ignore_index=True)
    points.insert(0, "method", "set")

    # Gradient descent from each start.
    starts, U0 = [], []
    for r in s["init_ranks"]:
        for i in range(int(s["starts"])):
            sseed = ctx.trial_seed(f"sensing_toy_init_rank~{r}", i)
            U0.append(random_start(int(r), float(s["init_norm"]), numpy_rng(sseed)))
            starts.append((int(r), i, sseed))
    marks, path, change = descent(A, b, np.stack(U0), float(s["lr"]), int(s["steps"]), int(s["record_every"]))
    final = _point_columns(path[-1], A, b, X)
    rows, curves = [], []
    for k, (r, i, sseed) in enumerate(starts):
        end = {key: float(v[k]) for key, v in final.items()}
        diverged = not bool(np.isfinite(path[-1, k]).all())
        ratio = end["sigma_min"] / end["sigma_max"] if end["sigma_max"] > 0 else float("nan")
        if diverged:
            lands = "diverged"
        elif ratio < RANK_ONE:
            lands = "planted" if end["test_error"] < PLANTED else "twin"
        else:
            lands = "rank2"
        rows.append(
            {
                "method": "gd",
                "part": "path",
                "init_rank": r,
                "start": i,
                "init_norm": float(s["init_norm"]),
                "lr": float(s["lr"]),
                "steps": int(s["steps"]),
                **{f"{key}_0": float(v) for key, v in _entries(U0[k]).items()},
                **end,
                "sigma_ratio": ratio,
                "last_change": float(change[k]),
                "lands": lands,
                "diverged": diverged,
            }
        )
        cols = _point_columns(path[:, k], A, b, X)
        curves.append(
            pd.DataFrame(
                {
                    "method": "gd",
                    "init_rank": r,
                    "start": i,
                    "start_seed": str(sseed),
                    "iteration": marks,
                    **{
                        key: cols[key] for key in ("u11", "u12", "u21", "u22", "train_error", "test_error", "sigma_min")
                    },
                }
            )
        )
    summary = pd.concat([points, pd.DataFrame(rows)], ignore_index=True)
    # One problem (the figure's): every row is its trial 0; a path's start is ``start``.
    summary.insert(1, "trial", 0)
    for key, value in common.items():
        summary[key] = float(value) if key != "seed" else int(value)
    return tidy(summary.to_dict("records")), pd.concat(curves, ignore_index=True)


# ---------------------------------------------------------------------------------------
# The figure
# ---------------------------------------------------------------------------------------


def _draw(tables):
    ((sweep, tab),) = tables.items()
    summary, curves = tab["summary"], tab["curves"]
    plt = pyplot()
    with style():
        fig = plt.figure(figsize=(5.4, 4.6))
        ax = fig.add_subplot(projection="3d", computed_zorder=False)
        mesh = summary[(summary["method"] == "set") & (summary["part"] == "mesh")].sort_values(["i", "j"])
        n = int(mesh["i"].max()) + 1
        grid = {c: mesh[c].to_numpy(float).reshape(n, n) for c in ("u11", "u21", "u22")}
        ax.plot_surface(
            grid["u11"],
            grid["u21"],
            grid["u22"],
            color="0.8",
            alpha=0.22,
            linewidth=0.2,
            edgecolor="0.55",
            shade=False,
            rstride=1,
            cstride=1,
            zorder=1,
        )
        for part, color, style_, label in (
            ("rank1_planted", "#2ca02c", "-", r"rank 1, $UU^\top = X^\natural$"),
            ("rank1_twin", "#ff7f0e", "--", r"rank 1, $UU^\top \neq X^\natural$"),
        ):
            c = summary[(summary["method"] == "set") & (summary["part"] == part)].sort_values("i")
            ax.plot(c["u11"], c["u21"], c["u22"], color=color, ls=style_, lw=1.6, label=label, zorder=3)
        for (r, i), part in curves.groupby(["init_rank", "start"]):
            part = part.sort_values("iteration")
            color = RANK_COLORS.get(int(r), "k")
            ax.plot(
                part["u11"],
                part["u21"],
                part["u22"],
                color=color,
                lw=1.4,
                zorder=5,
                label=f"GD path, rank$(U_0)={int(r)}$" if i == 0 else None,
            )
            ax.scatter(
                *(part[c].iloc[:1] for c in ("u11", "u21", "u22")),
                color=color,
                marker="o",
                s=18,
                depthshade=False,
                zorder=6,
            )
            ax.scatter(
                *(part[c].iloc[-1:] for c in ("u11", "u21", "u22")),
                color=color,
                marker="*",
                s=70,
                edgecolor="k",
                linewidth=0.4,
                depthshade=False,
                zorder=7,
            )
        ax.scatter([], [], [], color="0.3", marker="o", s=18, label="start $U_0$")
        ax.scatter([], [], [], color="0.3", marker="*", s=70, label="end of GD")
        ax.set_xlabel("$U_{11}$")
        ax.set_ylabel("$U_{21}$")
        ax.set_zlabel("$U_{22}$")
        ax.view_init(elev=22, azim=-58)
        ax.set_box_aspect(None, zoom=0.9)
        fig.legend(
            *ax.get_legend_handles_labels(),
            loc="lower center",
            ncol=3,
            frameon=False,
            fontsize=7,
            bbox_to_anchor=(0.5, 0.02),
        )
        fig.subplots_adjust(left=0.0, right=0.93, top=1.05, bottom=0.1)
    return fig


def _caption(settings):
    ((sweep, s),) = settings.items()
    return (
        f"The set M_b = {{U : A(UU^T) = b}} of the toy example of Eftekhari & Zygalakis 2021, "
        f"Fig. 4 (sweep {sweep}): d = p = m = 2, A(UU^T) = [||U[1,:]||^2, <A, UU^T>] for a "
        f"Gaussian A in R^(2x2), b = A(X) for a random rank-1 X of trace 1 (trace: ours). The "
        f"first constraint fixes U[1,2] up to sign by U[1,1], so, as in the paper, only U[1,1], "
        f"U[2,1] and U[2,2] are drawn. The grey surface is the set, solved exactly as a torus "
        f"over the angles of U's two rows ({s['mesh']} x {s['mesh']} mesh); the zero-error set "
        f"is bounded here, so the norm bound ||U|| <= xi of M_b is not applied. Green: the "
        f"rank-1 points with UU^T = X; orange, dashed: the other rank-1 points (UU^T the "
        f"second rank-1 model that fits b); every other point is rank 2 with nonzero test "
        f"error. Lines: gradient descent on ||A(UU^T) - b||^2 (paper eq. (3)) from "
        f"{s['starts']} random start(s) per rank in {list(s['init_ranks'])}, ||U0||_F = "
        f"{s['init_norm']:g}, step {s['lr']:g}, {s['steps']} steps (all ours; the paper draws "
        f"no path); circles: starts, stars: ends."
    )


# ---------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------


def _no_data(lacking: list[str]) -> tuple[str, str]:
    return "missing: " + ", ".join(lacking), NO_DATA


def _part(summary: pd.DataFrame, method: str) -> pd.DataFrame:
    if "method" not in summary:
        return summary.iloc[:0]
    return summary[summary["method"] == method]


def _finished_paths(summary: pd.DataFrame) -> pd.DataFrame:
    gd = _part(summary, "gd")
    if "diverged" in gd:
        gd = gd[~gd["diverged"].astype(bool)]
    return gd


def _gd_rows(settings: dict, summary: pd.DataFrame) -> pd.DataFrame:
    """The rows the at-limit claims rest on: the gradient-descent runs (not the set's points)."""
    return _part(summary, "gd")


def _on_set(s: dict, tables: dict) -> tuple[str, bool | str]:
    pts = _part(tables["summary"], "set")
    if pts.empty or "residual_abs" not in pts:
        return _no_data(["points of the set"])
    worst = float(pts["residual_abs"].max())
    ok = bool(np.isfinite(pts["residual_abs"]).all() and worst <= s["set_tol"])
    return f"{len(pts)} points, max |A(UU^T) - b| = {worst:.2g}", ok


def _gd_on_set(s: dict, tables: dict) -> tuple[str, bool | str]:
    gd = _part(tables["summary"], "gd")
    if gd.empty:
        return _no_data(["a gradient-descent run"])
    gd_ok = _finished_paths(tables["summary"])
    bad = len(gd) - len(gd_ok)
    worst = float(gd_ok["residual_abs"].max()) if not gd_ok.empty else float("nan")
    lands = ", ".join(f"{k}: {v}" for k, v in gd["lands"].value_counts().sort_index().items()) if "lands" in gd else ""
    text = f"{len(gd)} runs ({bad} diverged), max final |A(UU^T) - b| = {worst:.2g}; ends: {lands}"
    return text, bool(bad == 0 and worst <= s["end_tol"])


def _zero_training_nonzero_test(s: dict, tables: dict) -> tuple[str, bool | str]:
    pts = _part(tables["summary"], "set")
    if "part" in pts:
        pts = pts[pts["part"] == "mesh"]  # the mesh samples the set evenly; the rank-1 circles do not
    if pts.empty or "test_error" not in pts:
        return _no_data(["points of the set"])
    fit = pts[pts["residual_abs"] <= s["set_tol"]]
    off = fit[fit["test_error"] > s["test_gap"]]
    models = fit[["u11", "u12", "u21", "u22"]].to_numpy(float)
    gram = np.round(np.einsum("nij,nkj->nik", models.reshape(-1, 2, 2), models.reshape(-1, 2, 2)).reshape(-1, 4), 6)
    distinct = len(np.unique(gram[fit["test_error"].to_numpy() > s["test_gap"]], axis=0))
    share = len(off) / len(pts)
    return (
        f"{len(fit)} of {len(pts)} points fit b; {len(off)} ({share:.0%}) have test error > {s['test_gap']:g}, "
        f"{distinct} distinct models UU^T among them; max test error {float(fit['test_error'].max()):.2g}",
        bool(share >= s["share"] and distinct >= s["distinct"]),
    )


def _rank_decides(s: dict, tables: dict) -> tuple[str, bool | str]:
    gd = _finished_paths(tables["summary"])
    ranks = (1, 2)
    lacking = (
        [f"a run from rank {r} that did not diverge" for r in ranks if not (gd["init_rank"] == r).any()]
        if ("init_rank" in gd)
        else [f"a run from rank {r}" for r in ranks]
    )
    if lacking:
        return _no_data(lacking)
    low, full = gd[gd["init_rank"] == 1], gd[gd["init_rank"] == 2]
    low_ok = bool((low["sigma_ratio"] < s["rank_one"]).all())
    full_ok = bool(((full["sigma_ratio"] > s["rank_two"]) & (full["test_error"] > s["test_gap"])).all())
    text = (
        f"rank-1 starts: sigma_min/sigma_max up to {float(low['sigma_ratio'].max()):.2g}, ends "
        + ", ".join(f"{k}: {v}" for k, v in low.get("lands", pd.Series(dtype=str)).value_counts().sort_index().items())
        + f"; rank-2 starts: sigma_min/sigma_max >= {float(full['sigma_ratio'].min()):.2g}, "
        f"test error >= {float(full['test_error'].min()):.2g}"
    )
    return text, low_ok and full_ok


FAMILY = Family(
    kinds={
        "sensing_toy": Kind(
            jobs=toy_jobs,
            run=run_toy,
            plots=("sensing_toy_set",),
            resources=fixed_resources(mem_mb=500, runtime=5),
        )
    },
    plots={"sensing_toy_set": Plot(draw=_draw, caption=_caption, kinds=("sensing_toy",))},
    claims={
        "sensing_toy": [
            Claim(
                key="on_set",
                text="Every drawn point of M_b fits the data: max |A(UU^T) - b| <= {set_tol:.0e}",
                plot="sensing_toy_set",
                paper="M_b = {U : A(UU^T) = b, ||U|| <= xi} (Sec. 2, (manifold); Fig. 4)",
                check=_on_set,
                needs={"method": ("set",)},
                limits={"set_tol": 1e-9},
                sizes=("smoke", "quick", "cpu", "paper"),
            ),
            Claim(
                key="gd_ends_on_set",
                text="(ours) Gradient descent's paths end on M_b: final max |A(UU^T) - b| <= {end_tol:.0e}",
                plot="sensing_toy_set",
                paper="not stated (the paper draws no path)",
                check=_gd_on_set,
                needs={"method": ("gd",)},
                limits={"end_tol": 1e-9},
                at_limit=_gd_rows,
            ),
            Claim(
                key="zero_training_nonzero_test",
                text="M_b holds many distinct models with zero training error but nonzero test error: "
                "at least {share:.0%} of the drawn points, and {distinct:g} distinct UU^T, have "
                "||UU^T - X||_F > {test_gap:g}",
                plot="sensing_toy_set",
                paper="M_b may contain infinitely many distinct matrices with zero training error "
                "but nonzero test error (Sec. 2, after Fig. 4)",
                check=_zero_training_nonzero_test,
                needs={"method": ("set",)},
                limits={"share": 0.9, "distinct": 10, "test_gap": 1e-3, "set_tol": 1e-9},
            ),
            Claim(
                key="rank_decides",
                text="(ours, in the toy) A rank-1 start ends at a rank-1 point of M_b "
                "(sigma_min/sigma_max < {rank_one:.0e}), a rank-2 start at a rank-2 point "
                "(> {rank_two:.0e}) with test error > {test_gap:g}",
                plot="sensing_toy_set",
                paper="initialization rank matters (Sec. 1; Figs. 1-3)",
                check=_rank_decides,
                needs={"init_rank": (1, 2)},
                limits={"rank_one": RANK_ONE, "rank_two": 1e-3, "test_gap": 1e-3},
                at_limit=_gd_rows,
            ),
        ]
    },
)
