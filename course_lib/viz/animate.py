"""Animate a recorded :class:`~course_lib.viz.Rollout` and embed it in a notebook.

    >>> ro = record_rollout(env, policy, steps=300, envs=(0, 1, 2))
    >>> anim = animate_rollout(ro)            # FuncAnimation, <= 150 frames
    >>> HTML(to_html(anim))                   # JavaScript player, no ffmpeg needed

``to_jshtml`` embeds every frame as a PNG; matplotlib drops the frames past
``rcParams["animation.embed_limit"]`` (20 MB by default). :func:`to_html`
estimates the size from the first frame and lowers the resolution before
rendering if needed, so the whole rollout always fits.
"""
from __future__ import annotations

import io
import logging
import math

import matplotlib
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from .draw import draw_arm, draw_cartpole

__all__ = ["animate_rollout", "to_html"]


def _frames(n_frames: int, max_frames: int) -> np.ndarray:
    stride = max(1, math.ceil(n_frames / max(1, int(max_frames))))
    return np.arange(0, n_frames, stride)


def animate_rollout(rollout, *, layout: str = "side", max_frames: int = 150, trail: bool = True, style=None,
                    figsize=None, dpi: int = 72, speed: float = 1.0) -> FuncAnimation:
    """A ``FuncAnimation`` of ``rollout`` (arm or cart-pole), at most ``max_frames`` frames.

    layout: ``"side"`` (one panel per recorded environment) or ``"overlay"``
    (all arms in one 3D panel, one colour each; arm only). trail: draw the
    TCP path since the episode began. style: one style dict, or a list with
    one per environment (visual randomization). speed: 1 = real time.
    Frames are subsampled evenly when the rollout has more than
    ``max_frames``; ``anim.frame_indices`` says which were kept.
    """
    E = rollout.num_envs
    styles = list(style) if isinstance(style, (list, tuple)) else [style] * E
    if len(styles) != E:
        raise ValueError(f"style: got {len(styles)} styles for {E} environments")
    frames = _frames(rollout.q.shape[0], max_frames)
    interval = 1000.0 * rollout.dt * (frames[1] - frames[0] if len(frames) > 1 else 1) / speed
    if rollout.kind == "cartpole":
        fig, update = _cartpole_scene(rollout, styles, figsize, dpi)
    elif layout in ("side", "overlay"):
        fig, update = _arm_scene(rollout, styles, layout, trail, figsize, dpi)
    else:
        raise ValueError(f"layout must be 'side' or 'overlay', got {layout!r}")
    anim = FuncAnimation(fig, update, frames=frames, interval=interval, blit=False)
    anim.frame_indices = frames
    return anim


_OVERLAY_COLORS = ("C0", "C1", "C4", "C9", "C6", "C8", "C5", "C7")


def _caption(rollout, t, e):
    """'env 3  1.25 s  successes 2' for frame t of recorded environment e (its label instead of 'env 3')."""
    wins = int(rollout.successes[:t, e].sum())
    labels = getattr(rollout, "labels", None)
    name = labels[e] if labels else f"env {rollout.env_ids[e]}"
    return f"{name}  {t * rollout.dt:.2f} s  successes {wins}"


def _arm_scene(rollout, styles, layout, trail, figsize, dpi):
    E = rollout.num_envs
    side = layout == "side"
    fig = Figure(figsize=figsize or ((2.6 * E, 2.7) if side else (3.6, 3.4)), dpi=dpi)
    fig.subplots_adjust(0, 0, 1, 1, 0, 0)
    has_target = rollout.targets is not None
    start = rollout.episode_start()
    arts = []
    for e in range(E):
        if side or e == 0:
            ax = fig.add_subplot(1, E if side else 1, e + 1, projection="3d")
        st = dict(styles[e] or {})
        if not side:  # one colour per arm; green and red stay for the success ball and target
            st.setdefault("link_color", _OVERLAY_COLORS[e % len(_OVERLAY_COLORS)])
        arts.append(draw_arm(ax, rollout.link_pos[0, e], rollout.link_rot[0, e],
                             target=rollout.targets[0, e] if has_target else None,
                             path=rollout.tcp[:1, e] if (trail and rollout.tcp is not None) else None,
                             table=side or e == 0, capsules=True, link_names=rollout.link_names,
                             style=st, set_view=side or e == 0))
        if not side:
            arts[-1].text.set_position((0.02, 0.95 - 0.05 * e))
            arts[-1].text.set_color(st["link_color"])
            for line in arts[-1].links:
                line.set_alpha(0.7)

    def update(t):
        out = []
        for e, art in enumerate(arts):
            last_step = t < rollout.num_steps and bool(rollout.successes[t, e])
            out += art.update(rollout.link_pos[t, e], rollout.link_rot[t, e],
                              target=rollout.targets[t, e] if has_target else None,
                              path=rollout.tcp[start[t, e]:t + 1, e] if art.path is not None else None,
                              success=last_step)
            art.text.set_text(_caption(rollout, t, e))
        return out

    return fig, update


def _cartpole_scene(rollout, styles, figsize, dpi):
    E = rollout.num_envs
    fig = Figure(figsize=figsize or (6.0, 1.5 * E), dpi=dpi)
    fig.subplots_adjust(0.03, 0.12 / E, 0.99, 1 - 0.02 / E, 0, 0.25)
    arts = [draw_cartpole(fig.add_subplot(E, 1, e + 1), rollout.q[0, e], style=styles[e]) for e in range(E)]

    def update(t):
        out = []
        for e, art in enumerate(arts):
            out += art.update(rollout.q[t, e])
            art.text.set_text(_caption(rollout, t, e).replace("successes", "balanced episodes"))
        return out

    return fig, update


def _n_frames(anim) -> int:
    n = getattr(anim, "frame_indices", None)
    return len(n) if n is not None else int(getattr(anim, "_save_count", None) or 100)


def to_html(anim, embed_limit_mb: float | None = None, min_dpi: float = 30.0) -> str:
    """JavaScript-player HTML of ``anim`` (``anim.to_jshtml()``), kept under the embed limit.

    embed_limit_mb: default ``rcParams["animation.embed_limit"]`` (20 MB).
    The size is first estimated from one PNG frame; while the frames would
    not all fit, the figure's dpi is lowered (down to ``min_dpi``) and the
    animation rendered again. Raises ValueError if it still does not fit (use
    fewer frames: ``animate_rollout(..., max_frames=...)``, or a smaller figure).
    """
    limit = float(embed_limit_mb if embed_limit_mb is not None else matplotlib.rcParams["animation.embed_limit"])
    limit_bytes = limit * 1024 * 1024
    budget = 0.85 * limit_bytes
    fig, n = anim._fig, _n_frames(anim)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    estimate = len(buf.getvalue()) * 4 / 3 * n  # base64 PNGs
    for _ in range(4):
        if estimate > budget:  # PNG bytes grow roughly with the pixel count, i.e. dpi^2
            fig.set_dpi(max(min_dpi, fig.dpi * math.sqrt(budget / estimate)))
        anim.__dict__.pop("_html_representation", None)  # to_jshtml caches its first result
        # matplotlib logs (to stderr) and drops the frames past the limit; we count them instead
        log = logging.getLogger("matplotlib.animation")
        level, log.level = log.level, logging.ERROR
        try:
            with matplotlib.rc_context({"animation.embed_limit": limit}):
                html = anim.to_jshtml()
        finally:
            log.setLevel(level)
        kept = html.count("data:image/")
        if kept >= n and len(html) <= limit_bytes:
            return html
        estimate = len(html) * n / max(kept, 1)
        if fig.dpi <= min_dpi:
            break
    raise ValueError(f"the animation does not fit in animation.embed_limit = {limit} MB even at "
                     f"{fig.dpi:.0f} dpi ({kept} of {n} frames); make fewer frames "
                     f"(animate_rollout(..., max_frames=...)) or a smaller figure")
