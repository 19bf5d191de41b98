"""Training curves from a run's ``metrics.csv``: :func:`plot_training_curves` into matplotlib axes (the
notebooks use it through ``course_lib.viz``), and :func:`save_training_curves`, the ``training_curves.png``
that the trainer writes beside every run.

It lives here, below ``course_lib.viz``, because the trainer draws the PNG and ``rl`` may not import ``viz``
(DESIGN.md: calls go down). matplotlib is imported only when a figure is made.
"""
from __future__ import annotations

import csv
import math
import os

import numpy as np

__all__ = ["read_metrics", "plot_training_curves", "save_training_curves", "CURVES", "notebook_figure",
           "show_figures_as_png"]

#: curves drawn when present: column -> (title, scale)
CURVES = {
    "mean_reward": ("mean episode reward", 1.0),
    "success_rate": ("success rate (%)", 100.0),
    "fps": ("FPS (env steps / s)", 1.0),
    "episode_length": ("episode length (steps)", 1.0),
}
#: x-axis labels of the columns that have a better name than the column's
X_LABELS = {"env_steps": "environment steps"}


def _figure_png(fig):
    """PNG bytes of ``fig`` for IPython's display (None for a figure with nothing drawn, as IPython's own)."""
    import io

    if not fig.axes and not fig.lines:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    return buf.getvalue()


def show_figures_as_png() -> bool:
    """In IPython, show every matplotlib ``Figure`` that a cell returns or displays as a PNG picture.

    The course's figures are ``matplotlib.figure.Figure`` objects, not pyplot's: nothing is shown twice and nothing
    depends on the backend. But IPython renders a bare Figure as a picture only once pyplot's inline backend has
    registered its formatter (after ``import matplotlib.pyplot``); in a fresh kernel the cell would print
    ``<Figure size ... with 3 Axes>``. This registers the same kind of formatter, unless one is there already (the
    inline backend's PNG, SVG or retina, which is kept). Returns whether figures now show as pictures.
    """
    import sys

    if "IPython" not in sys.modules:  # not in IPython: nothing to do (and IPython is not imported for it)
        return False
    from IPython import get_ipython

    ip = get_ipython()
    formatters = getattr(getattr(ip, "display_formatter", None), "formatters", None)
    if not formatters or "image/png" not in formatters:
        return False
    from matplotlib.figure import Figure

    for mime in ("image/png", "image/svg+xml", "image/jpeg"):
        if mime in formatters:
            try:
                formatters[mime].lookup_by_type(Figure)
                return True
            except KeyError:
                pass
    formatters["image/png"].for_type(Figure, _figure_png)
    return True


def notebook_figure(**kwargs):
    """``matplotlib.figure.Figure(**kwargs)`` that shows as a picture when a notebook cell returns or displays it."""
    from matplotlib.figure import Figure

    show_figures_as_png()
    return Figure(**kwargs)


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _read_csv(path: str) -> dict:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = list(rows[0].keys()) if rows else []
    return {c: np.array([_float(r.get(c)) for r in rows]) for c in cols}


def read_metrics(source) -> dict:
    """Columns of a run's metrics as ``{name: float array}`` (NaN where a cell is empty).

    source: a ``metrics.csv`` path, a run directory, a pandas DataFrame, a
    list of row dicts or a dict of columns. For a file or a run directory,
    ``timing.csv`` beside it (where the trainer writes ``fps`` and
    ``wall_time_s``) is merged in by iteration.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, "metrics.csv")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no metrics file at {path!r}: give a run directory or its metrics.csv")
        cols = _read_csv(path)
        timing = os.path.join(os.path.dirname(path), "timing.csv")
        if os.path.exists(timing) and "iteration" in cols and os.path.abspath(timing) != os.path.abspath(path):
            t = _read_csv(timing)
            if "iteration" in t:
                where = {it: i for i, it in enumerate(t["iteration"])}
                rows = [where.get(it) for it in cols["iteration"]]
                for k, v in t.items():
                    if k not in cols:
                        cols[k] = np.array([v[i] if i is not None else math.nan for i in rows])
        return cols
    if hasattr(source, "columns") and hasattr(source, "to_dict"):  # a pandas DataFrame
        source = source.to_dict("list")
    if isinstance(source, (list, tuple)):
        keys = list(dict.fromkeys(k for row in source for k in row))
        source = {k: [row.get(k) for row in source] for k in keys}
    if isinstance(source, dict):
        return {k: np.array([_float(v) for v in vals]) for k, vals in source.items()}
    raise ValueError(f"metrics must be a csv path, a run directory, a DataFrame, rows or columns; "
                     f"got {type(source).__name__}")


def _x_axis(cols, x=None):
    if x is not None:
        if x not in cols:
            raise ValueError(f"x column {x!r} not in the metrics; columns: {list(cols)}")
        return x, cols[x]
    for x in ("iteration", "env_steps"):
        if x in cols:
            return x, cols[x]
    n = len(next(iter(cols.values()))) if cols else 0
    return "row", np.arange(n, dtype=float)


def _counted_success(cols, y, xs, title, xlabel):
    """The success rate only where an episode could have reached the time limit (``timeouts_possible``, written by
    the trainer): before, only early endings are counted and the rate reads 100 % or 0 % whatever the policy. The
    title says from where."""
    possible = cols.get("timeouts_possible")
    if possible is None or not np.any(possible == 0):
        return y, title
    y = np.where(possible > 0, y, np.nan)
    first = xs[possible > 0]
    return y, (f"{title}, from {xlabel} {first[0]:.0f}" if len(first) else title)


def _running_mean(y: np.ndarray) -> np.ndarray:
    """Mean of each point and the points before it over ~5 % of the curve (at least the point itself)."""
    k = max(1, len(y) // 20)
    c = np.concatenate(([0.0], np.cumsum(y)))
    j = np.arange(len(y))
    start = np.maximum(0, j - k + 1)
    return (c[j + 1] - c[start]) / (j + 1 - start)


def plot_training_curves(metrics, ax=None, keys=None, x=None, smooth: bool = False):
    """Mean reward, success rate, FPS (and episode length) against iteration.

    metrics: see :func:`read_metrics`. keys: columns to plot (default: those
    of :data:`CURVES` that exist and have values). ax: None (a new figure,
    one panel per curve, that shows as a picture when a notebook cell returns
    ``axes[0].figure``), one Axes (all curves on it) or a sequence of Axes
    (one per curve). x: the column on the x-axis (default ``iteration``, else
    ``env_steps``). smooth: draw each curve's points faintly and a running
    mean over ~5 % of the run through them. Returns the list of Axes. Raises
    ValueError naming the columns found when none of the expected columns
    exists.
    """
    cols = read_metrics(metrics)
    if keys is None:
        keys = [k for k in CURVES if k in cols and np.isfinite(cols[k]).any()]
        if not keys:
            raise ValueError(f"none of the expected columns {list(CURVES)} has values; "
                             f"the metrics have columns {list(cols)}")
    missing = [k for k in keys if k not in cols]
    if missing:
        raise ValueError(f"column(s) {missing} not in the metrics; columns: {list(cols)}")
    xname, xs = _x_axis(cols, x)
    if ax is None:
        fig = notebook_figure(figsize=(3.6 * len(keys), 2.8), dpi=90)
        axes = [fig.add_subplot(1, len(keys), i + 1) for i in range(len(keys))]
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax] * len(keys)
    shared = len(keys) > 1 and len(set(map(id, axes))) == 1  # all curves on one Axes: a legend, no titles
    for a, k in zip(axes, keys):
        title, scale = CURVES.get(k, (k, 1.0))
        y = cols[k] * scale
        if k == "success_rate":
            y, title = _counted_success(cols, y, xs, title, X_LABELS.get(xname, xname))
        ok = np.isfinite(y)
        if smooth:
            line, = a.plot(xs[ok], _running_mean(y[ok]), "-", label=title)
            a.plot(xs[ok], y[ok], ".", ms=2, alpha=0.35, color=line.get_color())
        else:
            a.plot(xs[ok], y[ok], label=title)
        a.set_xlabel(X_LABELS.get(xname, xname))
        a.grid(alpha=0.3)
        if not shared:
            a.set_title(title, fontsize=10)
    if shared:
        axes[0].legend(fontsize=8)
    axes[0].figure.tight_layout()
    return axes


#: the panels of ``training_curves.png``
SAVED_CURVES = ("success_rate", "mean_reward", "episode_length")


def save_training_curves(run_dir: str, path: str | None = None) -> str:
    """Draw the run's success rate, mean episode reward and episode length against environment steps (points
    and their running mean) into ``path`` (default ``run_dir/training_curves.png``); returns the path.

    A column the run has not written yet (no finished episode) gives an empty panel, not an error: the trainer
    draws this after every run.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = read_metrics(run_dir)
    n = len(cols.get("env_steps", ()))
    cols = {**{k: np.full(n, math.nan) for k in ("env_steps",) + SAVED_CURVES}, **cols}
    path = path or os.path.join(run_dir, "training_curves.png")
    fig = Figure(figsize=(12, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, len(SAVED_CURVES), i + 1) for i in range(len(SAVED_CURVES))]
    plot_training_curves(cols, ax=axes, keys=SAVED_CURVES, x="env_steps", smooth=True)
    fig.suptitle(os.path.basename(os.path.normpath(run_dir)), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path
