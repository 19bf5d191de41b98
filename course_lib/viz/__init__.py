"""Pictures of robots and training: draw, record, animate, plot, and interactive panels.

    >>> from course_lib.viz import record_rollout, animate_rollout, to_html
    >>> ro = record_rollout(env, policy, steps=300, envs=(0, 1, 2))
    >>> HTML(to_html(animate_rollout(ro)))

- :func:`draw_arm`, :func:`draw_cartpole`: one state into matplotlib axes;
  they return artists whose ``update`` moves them. ``style=`` takes colours,
  light and camera offset (visual randomization: :func:`random_style`, or :func:`env_styles` from a
  randomized task's per-environment light, colours and camera offset).
- :func:`record_rollout` -> :class:`Rollout`; :func:`animate_rollout`, :func:`to_html`.
- :func:`plot_training_curves`, :class:`LivePlot` (a training callback),
  :func:`plot_success_map`.
- :func:`target_panel`, :func:`reward_weights_panel`: ipywidgets panels (ipywidgets is
  imported when a panel is made: the ``lab`` extra).

Figures are built with ``matplotlib.figure.Figure`` (not pyplot), so nothing
is shown twice in a notebook and nothing depends on the backend; a figure that
a plotting function makes shows as a PNG picture when a cell returns or
``display``-s it, in a fresh kernel too (:func:`show_figures_as_png`).
"""
from __future__ import annotations

from .animate import animate_rollout, to_html
from .draw import (DEFAULT_STYLE, PANDA_LINKS, ArmArtists, CartpoleArtists, draw_arm, draw_cartpole, env_styles,
                   random_style)
from ..rl.plotting import show_figures_as_png
from .plots import PANDA_TCP_REACH, LivePlot, plot_success_map, plot_training_curves, read_metrics
from .rollout import Rollout, record_rollout, rollout_from_paths
from .widgets import RewardWeightsPanel, TargetPanel, reach_reward_from_rollout, reward_weights_panel, target_panel

__all__ = ["draw_arm", "draw_cartpole", "random_style", "env_styles", "DEFAULT_STYLE", "PANDA_LINKS", "ArmArtists",
           "CartpoleArtists", "Rollout", "record_rollout", "rollout_from_paths", "animate_rollout", "to_html",
           "plot_training_curves", "show_figures_as_png",
           "read_metrics", "LivePlot", "plot_success_map", "PANDA_TCP_REACH", "target_panel",
           "reward_weights_panel", "reach_reward_from_rollout", "TargetPanel", "RewardWeightsPanel"]

