"""``training_curves.png``: success rate, mean episode reward and episode length against environment steps."""
from __future__ import annotations

import csv
import os

__all__ = ["plot_training_curves", "read_metrics"]


def read_metrics(run_dir: str) -> list:
    """Rows of ``runs/<name>/metrics.csv`` as dicts of floats (None where empty)."""
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    return [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()} for r in rows]


def plot_training_curves(run_dir: str, path: str | None = None) -> str:
    """Draw the run's curves into ``path`` (default ``run_dir/training_curves.png``); returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_metrics(run_dir)
    path = path or os.path.join(run_dir, "training_curves.png")
    fig = Figure(figsize=(12, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    panels = [("success_rate", "success rate (%)", 100.0), ("mean_reward", "mean episode reward", 1.0),
              ("episode_length", "episode length (steps)", 1.0)]
    for i, (key, label, scale) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        pts = [(r["env_steps"], r[key] * scale) for r in rows if r.get(key) is not None]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, ".", ms=2, alpha=0.35, color="C0")
            k = max(1, len(ys) // 20)  # running mean over ~5 % of the run
            sm = [sum(ys[max(0, j - k + 1): j + 1]) / len(ys[max(0, j - k + 1): j + 1]) for j in range(len(ys))]
            ax.plot(xs, sm, "-", color="C0")
        ax.set_xlabel("environment steps")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(os.path.basename(os.path.normpath(run_dir)), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path
