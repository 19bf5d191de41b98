"""What the chapter notebooks show: cart-pole rollouts as an animation, and rewards side by side.

    >>> q = rollout("runs/cartpole_policy.pth", steps=300)      # (steps + 1, num_envs, 2), reference task
    >>> cartpole_animation(q[:, 0])                              # ipywidgets: Play, slider, frames
    >>> compare_cartpole_rewards(CartpoleTask)                   # your reward against IsaacGymEnvs' shaped one

(These belong with the course's plotting helpers; they live here until a
``course_lib.viz`` module exists.)
"""
from __future__ import annotations

import io
import math

import torch

__all__ = ["rollout", "cartpole_animation", "render_cartpole", "compare_cartpole_rewards", "evaluate_on_reference"]


def _policy(policy):
    from ..rl import load_policy

    if isinstance(policy, (str, bytes)) or hasattr(policy, "__fspath__"):
        return load_policy(policy)
    return policy


@torch.no_grad()
def rollout(policy, task: str = "cartpole", num_envs: int = 4, steps: int = 500, seed: int = 0) -> torch.Tensor:
    """Joint positions of ``num_envs`` reference-task environments driven by ``policy``: (steps + 1, num_envs, dofs).

    ``policy``: a checkpoint path, a :class:`course_lib.rl.Policy` or any ``obs -> actions`` callable.
    An environment that ends its episode is frozen at its last state (the
    task would reset it), so the animation shows each episode once.
    """
    from ..envs import make

    policy = _policy(policy)
    env = make(task, num_envs=num_envs, seed=seed)
    obs = env.reset()
    qs = [env.get_joint_positions().clone()]
    alive = torch.ones(num_envs, dtype=torch.bool)
    for _ in range(steps):
        before = env.get_joint_positions().clone()
        obs, _, done, _ = env.step(policy(obs).to(env.device))
        q = env.get_joint_positions().clone()
        # an episode that ended shows its last state before the reset
        q = torch.where((alive & done.bool().cpu())[:, None], before, q)
        q = torch.where(alive[:, None], q, qs[-1])
        alive &= ~done.bool().cpu()
        qs.append(q)
    return torch.stack(qs)


def render_cartpole(ax, x: float, theta: float, pole_length: float = 1.0, track: float = 3.0):
    """Draw one cart-pole state on a matplotlib axis (x in m, theta in rad, 0 = upright)."""
    ax.clear()
    ax.plot([-track - 0.5, track + 0.5], [0, 0], color="0.6", lw=1)
    for s in (-track, track):
        ax.plot([s, s], [-0.15, 0.15], color="tab:red", lw=1)
    ax.add_patch(__import__("matplotlib.patches", fromlist=["Rectangle"]).Rectangle((x - 0.2, -0.1), 0.4, 0.2,
                                                                                   color="tab:blue"))
    ax.plot([x, x + pole_length * math.sin(theta)], [0, pole_length * math.cos(theta)], color="tab:orange", lw=4)
    ax.set_xlim(-track - 0.5, track + 0.5)
    ax.set_ylim(-1.2, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")


def cartpole_animation(q, every: int = 3, dt: float = 1 / 60, title: str = "cart-pole"):
    """An animation of one cart-pole trajectory ``q`` (T, 2): an ipywidgets Play button, a slider and the frames.

    Falls back to matplotlib's JavaScript animation (an HTML object) without ipywidgets.
    """
    import matplotlib

    matplotlib.use(matplotlib.get_backend())
    import matplotlib.pyplot as plt

    q = torch.as_tensor(q).reshape(-1, 2)
    idx = list(range(0, len(q), max(1, int(every))))
    fig, ax = plt.subplots(figsize=(5, 1.9), dpi=72)
    try:
        import ipywidgets as widgets
    except ImportError:  # pragma: no cover - the course installs ipywidgets
        widgets = None
    if widgets is None:
        from matplotlib.animation import FuncAnimation
        from IPython.display import HTML

        anim = FuncAnimation(fig, lambda i: render_cartpole(ax, float(q[idx[i], 0]), float(q[idx[i], 1])),
                             frames=len(idx), interval=1000 * dt * every)
        html = HTML(anim.to_jshtml())
        plt.close(fig)
        return html
    frames = []
    for t in idx:
        render_cartpole(ax, float(q[t, 0]), float(q[t, 1]))
        ax.set_title(f"{title}   t = {t * dt:5.2f} s", fontsize=9)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        frames.append(buf.getvalue())
    plt.close(fig)
    image = widgets.Image(value=frames[0], format="png")
    play = widgets.Play(value=0, min=0, max=len(frames) - 1, step=1, interval=int(1000 * dt * every),
                        description="play")
    slider = widgets.IntSlider(value=0, min=0, max=len(frames) - 1, description="frame")
    widgets.jslink((play, "value"), (slider, "value"))
    slider.observe(lambda change: setattr(image, "value", frames[change["new"]]), names="value")
    return widgets.VBox([widgets.HBox([play, slider]), image])


@torch.no_grad()
def compare_cartpole_rewards(task_cls, n: int = 721):
    """Plot ``task_cls``'s reward against IsaacGymEnvs' shaped reward over the pole angle (cart at rest at x = 0)."""
    import matplotlib.pyplot as plt

    from ..envs.rewards import cartpole_isaacgym_reward

    env = task_cls({"num_envs": n, "seed": 0}, "cpu", 0, True)
    theta = torch.linspace(-math.pi, math.pi, n)
    ids = torch.arange(n)
    env.set_joint_positions(ids, torch.stack((torch.zeros(n), theta), -1))
    env.set_joint_velocities(ids, torch.zeros(n, 2))
    env.reset_buf.zero_()
    env.compute_reward()
    yours = env.rew_buf.detach().clone()
    fallen = theta.abs() > math.pi / 2
    shaped, _ = cartpole_isaacgym_reward(theta, torch.zeros(n), torch.zeros(n), fallen)
    fig, ax = plt.subplots(figsize=(7, 3))
    deg = torch.rad2deg(theta)
    ax.plot(deg, yours, label="yours (Exercise 2: +1 within 12 deg, -10 on a fall)")
    ax.plot(deg, shaped, label="IsaacGymEnvs: 1 - theta^2 - ..., -2 on a fall")
    ax.axvspan(-12, 12, color="tab:green", alpha=0.1)
    ax.set_xlabel("pole angle (degrees), cart at rest")
    ax.set_ylabel("reward per step")
    ax.legend(fontsize=8, loc="lower center")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def evaluate_on_reference(policy, task: str = "cartpole", episodes: int = 500, seed: int = 0):
    """:func:`course_lib.evaluate` of any policy (a checkpoint of your own task too) on the reference task."""
    from ..rl import evaluate

    policy = _policy(policy)
    if getattr(policy, "task", None) not in (None, task):
        policy.task = task  # trained on your class; evaluated on the reference
    return evaluate(task, policy, episodes=episodes, seed=seed)
