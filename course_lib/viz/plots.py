"""Training curves (from ``metrics.csv`` or live), and where the reach policy succeeds."""
from __future__ import annotations

import math
import time

import numpy as np
from matplotlib.patches import Circle, Rectangle

# one implementation of the curves for the trainer's PNG and the notebooks (rl may not import viz)
from ..rl.plotting import CURVES, _counted_success, _float, notebook_figure, plot_training_curves, read_metrics
from .draw import _np

__all__ = ["read_metrics", "plot_training_curves", "LivePlot", "plot_success_map", "PANDA_TCP_REACH",
           "PANDA_SHOULDER"]

#: the Panda's shoulder (joint 2 axis), m, robot base frame
PANDA_SHOULDER = (0.0, 0.0, 0.333)
#: farthest TCP distance from the shoulder over the joint ranges, m (0.947 by sampling the
#: forward kinematics; Franka's datasheet gives 0.855 to the flange, plus the hand's 0.10)
PANDA_TCP_REACH = 0.95


def figure_image(fig):
    """``fig`` as an ``IPython.display.Image`` (PNG): shows in any notebook, whatever the backend."""
    import io

    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return Image(data=buf.getvalue(), format="png")


class LivePlot:
    """Training curves that update in place in a notebook; a training callback.

        >>> live = LivePlot()
        >>> course_lib.train("franka_reach", callback=live)   # or live(row_dict) yourself

    Call with a row dict (``{"iteration": 3, "mean_reward": -0.4, ...}``) or
    as the trainer's ``callback(observer, iteration)`` (it reads the
    observer's last metrics and timing rows). The figure is redrawn at most
    every ``every_s`` seconds (:meth:`show` forces it). In IPython it is
    shown once and then replaced in place (``display_id``); elsewhere only
    the figure is updated. ``rows`` keeps everything received. The success
    rate is drawn from the first iteration in which an episode can reach the
    time limit (the rows' ``timeouts_possible``): before, only early endings
    are counted and it would read 100 % or 0 % whatever the policy.
    """

    def __init__(self, keys=("mean_reward", "success_rate", "fps"), x: str = "iteration", every_s: float = 1.0,
                 figsize=None):
        self.keys, self.x, self.every_s = list(keys), x, float(every_s)
        self.rows: list = []
        self.fig = notebook_figure(figsize=figsize or (3.4 * len(self.keys), 2.6), dpi=80)
        self.axes = [self.fig.add_subplot(1, len(self.keys), i + 1) for i in range(len(self.keys))]
        self.lines = {}
        for a, k in zip(self.axes, self.keys):
            a.set_title(CURVES.get(k, (k, 1.0))[0], fontsize=10)
            a.set_xlabel(x)
            a.grid(alpha=0.3)
            self.lines[k] = a.plot([], [], ".-", ms=3)[0]
        self.fig.tight_layout()
        self._handle = None
        self._last = -math.inf

    def __call__(self, row_or_observer, iteration=None):
        if hasattr(row_or_observer, "rows"):  # the trainer's observer
            obs = row_or_observer
            row = dict(obs.rows[-1]) if obs.rows else {}
            if getattr(obs, "timing", None):
                row = {**obs.timing[-1], **row}
        else:
            row = dict(row_or_observer)
        row.setdefault(self.x, iteration if iteration is not None else len(self.rows) + 1)
        self.rows.append(row)
        if time.monotonic() - self._last >= self.every_s:
            self.show()

    def update(self):
        """Put the received rows into the curves (no display)."""
        x = np.array([_float(r.get(self.x)) for r in self.rows])
        for a, k in zip(self.axes, self.keys):
            title, scale = CURVES.get(k, (k, 1.0))
            y = np.array([_float(r.get(k)) for r in self.rows]) * scale
            if k == "success_rate" and any("timeouts_possible" in r for r in self.rows):
                # counted only once an episode can reach the time limit (course_lib.rl.observer)
                possible = np.array([_float(r.get("timeouts_possible", 1)) for r in self.rows])
                y, title = _counted_success({"timeouts_possible": possible}, y, x, title, self.x)
                if not np.any(possible > 0):
                    title = f"{CURVES[k][0]}: none counted yet"
                a.set_title(title, fontsize=10)
            ok = np.isfinite(x) & np.isfinite(y)
            self.lines[k].set_data(x[ok], y[ok])
            a.relim()
            a.autoscale_view()

    def show(self):
        """Update the curves and redraw the notebook output in place."""
        self.update()
        self._last = time.monotonic()
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is None:
            return
        if self._handle is None:
            self._handle = display(figure_image(self.fig), display_id=True)
        else:
            self._handle.update(figure_image(self.fig))


def plot_success_map(targets, success, reach_radius: float = PANDA_TCP_REACH, shoulder=PANDA_SHOULDER,
                     target_low=(0.3, -0.3, 0.2), target_high=(0.9, 0.3, 0.8), axes=None):
    """Success against target position: top (x-y) and side (x-z) views.

    targets: (M, 3) m; success: (M,) bool. The dashed circle is the sphere of
    the arm's maximal reach, ``reach_radius`` around ``shoulder``, cut
    through the shoulder (the largest section): targets outside it (hollow
    markers, counted in the title) cannot be reached by any policy. The grey
    box is the task's target range. axes: two Axes, or None (a new figure,
    which shows as a picture when a notebook cell returns ``axes[0].figure``).
    Returns the two Axes.
    """
    t = _np(targets).reshape(-1, 3)
    ok = _np(success).astype(bool).reshape(-1)
    if len(ok) != len(t):
        raise ValueError(f"targets (M, 3) and success (M,) disagree: {len(t)} vs {len(ok)}")
    sh = np.asarray(shoulder, dtype=float)
    out = np.linalg.norm(t - sh, axis=-1) > reach_radius
    if axes is None:
        fig = notebook_figure(figsize=(8.4, 3.8), dpi=90)
        axes = [fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)]
    for a, (i, j), name in zip(axes, ((0, 1), (0, 2)), ("top view (x-y)", "side view (x-z)")):
        a.add_patch(Circle((sh[i], sh[j]), reach_radius, fill=False, ls="--", color="0.3", lw=1))
        a.add_patch(Rectangle((target_low[i], target_low[j]), target_high[i] - target_low[i],
                              target_high[j] - target_low[j], color="0.5", alpha=0.12))
        for mask, color, label in ((ok & ~out, "tab:green", "success"), (~ok & ~out, "tab:red", "failure"),
                                   (ok & out, "tab:green", None), (~ok & out, "tab:red", "beyond reach")):
            filled = label in ("success", "failure")
            a.scatter(t[mask, i], t[mask, j], s=12, label=label, edgecolors=color,
                      facecolors=color if filled else "none", linewidths=0.8)
        a.plot(*sh[[i, j]], "k+", ms=8)
        a.set_xlabel("xyz"[i] + " (m)")
        a.set_ylabel("xyz"[j] + " (m)")
        a.set_title(name, fontsize=10)
        a.set_aspect("equal")
        a.set_xlim(-0.2, 1.1)
        a.set_ylim(*((-0.65, 0.65) if j == 1 else (-0.05, 1.3)))
        a.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower left")
    rate = 100.0 * ok.mean() if len(ok) else float("nan")
    axes[0].figure.suptitle(f"success {rate:.0f}% of {len(ok)} targets; {int(out.sum())} beyond the "
                            f"{reach_radius:.2f} m reach", fontsize=10)
    axes[0].figure.tight_layout()
    return axes
