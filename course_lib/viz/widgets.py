"""Interactive panels (ipywidgets): move the target, or re-weight a recorded reward.

    >>> target_panel(env, policy)          # sliders x, y, z, env, steps and a Go button
    >>> reward_weights_panel(rollout)      # sliders for the reach reward's weights

Each panel keeps its callbacks as plain methods (``on_go()``, ``update()``)
and its controls in ``panel.sliders``, so tests and scripts can drive it
without a browser: set ``panel.sliders["x"].value`` and call the method. In
a notebook the panel displays itself (``panel`` as the cell's last line, or
``display(panel.widget)``); its figure is redrawn into an ``Output``.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch
from matplotlib.figure import Figure

from ..envs import FrankaReachCfg
from .draw import draw_arm
from .plots import figure_image
from .rollout import record_rollout

__all__ = ["target_panel", "reward_weights_panel", "reach_reward_from_rollout", "TargetPanel",
           "RewardWeightsPanel"]


#: the reach task's settings (its config owns them): the reward's default weights, the target box
_REACH = FrankaReachCfg()


def _show(fig, output):
    """Redraw ``fig`` into the ipywidgets ``output`` (only inside IPython)."""
    from IPython import get_ipython
    from IPython.display import clear_output, display

    if get_ipython() is None:
        return
    with output:
        clear_output(wait=True)
        display(figure_image(fig))


def reach_reward_from_rollout(rollout, distance_weight: float = 1.0, action_penalty: float = _REACH.action_penalty,
                              success_bonus: float = _REACH.success_bonus,
                              success_radius: float = _REACH.success_radius) -> np.ndarray:
    """(T, E) reach reward of a recorded rollout, recomputed with other weights.

    ``distance_weight * -distance - action_penalty * |action| + success_bonus
    [distance < success_radius]``, through :func:`course_lib.envs.rewards.reach_reward`.
    The distance of step t is the recorded ``terms["distance"]`` (taken before
    any reset); without it, the TCP-to-target distance of frame t + 1.
    """
    from ..envs.rewards import reach_reward

    if "distance" in rollout.terms:
        d = -rollout.terms["distance"]
    else:
        d = np.linalg.norm(rollout.targets[1:] - rollout.tcp[1:], axis=-1)
    _, terms = reach_reward(torch.as_tensor(d), torch.as_tensor(rollout.actions, dtype=torch.float64),
                            success_radius, success_bonus, action_penalty)
    return (distance_weight * terms["distance"] + terms["action"] + terms["success"]).numpy()


class RewardWeightsPanel:
    """Sliders for the weights of ``reward_fn``; moving one recomputes and replots the reward.

    reward_fn(rollout, **weights) -> (T, E). Left: reward per step of each
    recorded environment; right: the running return. Attributes: ``sliders``
    (name -> FloatSlider), ``fig``, ``lines`` / ``return_lines`` (one per
    env), ``label`` (returns as text), ``output``, ``widget``.
    """

    def __init__(self, rollout, reward_fn=reach_reward_from_rollout, weights: dict | None = None):
        import ipywidgets as w

        self.rollout, self.reward_fn = rollout, reward_fn
        if weights is None:
            weights = {k: p.default for k, p in inspect.signature(reward_fn).parameters.items()
                       if isinstance(p.default, (int, float)) and not isinstance(p.default, bool)}
        self.sliders = {}
        for k, v in weights.items():
            top = 5.0 * abs(v) if v else 1.0
            self.sliders[k] = w.FloatSlider(value=v, min=0.0, max=top, step=top / 200, description=k,
                                            continuous_update=False, readout_format=".3g",
                                            style={"description_width": "initial"})
            self.sliders[k].observe(self.update, names="value")
        self.fig = Figure(figsize=(8.0, 2.8), dpi=80)
        ax_r, ax_c = self.fig.add_subplot(1, 2, 1), self.fig.add_subplot(1, 2, 2)
        t = np.arange(rollout.num_steps) * rollout.dt
        self.lines = [ax_r.plot(t, np.zeros_like(t), lw=1, label=f"env {i}")[0] for i in rollout.env_ids]
        self.return_lines = [ax_c.plot(t, np.zeros_like(t), lw=1)[0] for _ in rollout.env_ids]
        for a, title in ((ax_r, "reward per step"), (ax_c, "return so far")):
            a.set_title(title, fontsize=10)
            a.set_xlabel("time (s)")
            a.grid(alpha=0.3)
        ax_r.legend(fontsize=7)
        self.fig.tight_layout()
        self.label = w.HTML()
        self.output = w.Output()
        self.widget = w.VBox([w.HBox(list(self.sliders.values()), layout=w.Layout(flex_flow="row wrap")),
                              self.label, self.output])
        self.update()

    @property
    def weights(self) -> dict:
        return {k: s.value for k, s in self.sliders.items()}

    def update(self, *_):
        """Recompute the reward with the sliders' weights and redraw. Returns it, (T, E)."""
        r = np.asarray(self.reward_fn(self.rollout, **self.weights), dtype=float)
        for e, (line, cum) in enumerate(zip(self.lines, self.return_lines)):
            line.set_ydata(r[:, e])
            cum.set_ydata(np.cumsum(r[:, e]))
        for a in self.fig.axes:
            a.relim()
            a.autoscale_view()
        self.label.value = "return: " + ", ".join(f"env {i}: {v:.2f}" for i, v in zip(self.rollout.env_ids, r.sum(0)))
        self.reward = r
        _show(self.fig, self.output)
        return r

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


class TargetPanel:
    """Sliders for a target (x, y, z), an env selector and a Go button.

    ``on_go()`` puts the target into that environment (a new episode there),
    rolls the policy out for ``steps`` control steps (the whole batch steps;
    only this env is recorded) and redraws the arm at the end of the attempt
    with its TCP path. The attempt ends at the first success or time-out.
    Attributes: ``sliders`` (x, y, z: FloatSlider; env: BoundedIntText;
    steps: IntSlider), ``go`` (Button), ``status``, ``output``, ``fig``,
    ``artists`` (:class:`~course_lib.viz.ArmArtists`), ``rollout`` (the last one).
    """

    def __init__(self, env, policy, steps: int = 120, env_id: int = 0, style=None):
        import ipywidgets as w

        self.env, self.policy = env, policy
        lo = np.asarray(getattr(env, "target_low", torch.tensor(_REACH.target_low)).cpu(), dtype=float)
        hi = np.asarray(getattr(env, "target_high", torch.tensor(_REACH.target_high)).cpu(), dtype=float)
        self.sliders = {k: w.FloatSlider(value=round((a + b) / 2, 2), min=a, max=b, step=0.01,
                                         description=f"{k} (m)", continuous_update=False)
                        for k, a, b in zip("xyz", lo, hi)}
        self.sliders["env"] = w.BoundedIntText(value=env_id, min=0, max=env.num_envs - 1, description="env")
        self.sliders["steps"] = w.IntSlider(value=steps, min=10, max=int(env.max_episode_length), step=10,
                                            description="steps")
        self.go = w.Button(description="Go", button_style="primary")
        self.go.on_click(self.on_go)
        self.status = w.HTML("Set a target and press Go.")
        self.output = w.Output()
        self.fig = Figure(figsize=(4.6, 4.2), dpi=80)
        self.fig.subplots_adjust(0, 0, 1, 1)
        ax = self.fig.add_subplot(projection="3d")
        pos, rot = env.robot.forward_kinematics(env.robot.q)
        self.artists = draw_arm(ax, pos, rot, env_id, target=self.target(), path=pos[env_id, -1:], style=style)
        self.rollout = None
        self.widget = w.VBox([w.HBox([self.sliders[k] for k in "xyz"]),
                              w.HBox([self.sliders["env"], self.sliders["steps"], self.go]),
                              self.status, self.output])
        _show(self.fig, self.output)

    def target(self) -> np.ndarray:
        """(3,) the sliders' target, m."""
        return np.array([self.sliders[k].value for k in "xyz"])

    def on_go(self, _button=None):
        """Set the target, roll out, redraw. Returns the :class:`~course_lib.viz.Rollout`."""
        env, i = self.env, int(self.sliders["env"].value)
        env.targets[i] = torch.as_tensor(self.target(), dtype=env.targets.dtype, device=env.device)
        env.progress_buf[i] = 0  # a new goal starts a new episode
        ro = record_rollout(env, self.policy, int(self.sliders["steps"].value), envs=(i,))
        ended = np.flatnonzero(ro.dones[:, 0])
        end = int(ended[0]) if len(ended) else ro.num_steps  # frames 0..end belong to this attempt
        success = bool(len(ended) and ro.successes[end, 0])
        if len(ended) and "distance" in ro.terms:
            dist = float(-ro.terms["distance"][end, 0])
        else:
            dist = float(np.linalg.norm(ro.tcp[end, 0] - ro.targets[0, 0]))
        self.artists.update(ro.link_pos[end, 0], ro.link_rot[end, 0], target=ro.targets[0, 0],
                            path=ro.tcp[:end + 1, 0], success=success)
        self.artists.text.set_text(f"env {i}")
        self.status.value = (f"env {i}: <b>reached</b> in {(end + 1) * ro.dt:.2f} s ({100 * dist:.1f} cm)"
                             if success else f"env {i}: not reached; distance {100 * dist:.1f} cm after "
                             f"{end * ro.dt:.2f} s")
        self.rollout = ro
        _show(self.fig, self.output)
        return ro

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def target_panel(env, policy, steps: int = 120, env_id: int = 0, style=None) -> TargetPanel:
    """A :class:`TargetPanel` for a reach task ``env`` and a ``policy`` (obs (N, 17) -> actions (N, 7))."""
    return TargetPanel(env, policy, steps=steps, env_id=env_id, style=style)


def reward_weights_panel(rollout, reward_fn=reach_reward_from_rollout, weights: dict | None = None):
    """A :class:`RewardWeightsPanel` over a recorded ``rollout`` (sliders from ``reward_fn``'s float defaults)."""
    return RewardWeightsPanel(rollout, reward_fn, weights)
