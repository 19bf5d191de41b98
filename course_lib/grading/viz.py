"""Chapter 2's comparisons: a student's task against the reference (animations are in :mod:`course_lib.viz`).

    >>> compare_cartpole_rewards(CartpoleTask)                    # your reward against IsaacGymEnvs' shaped one
    >>> evaluate_on_reference("runs/cartpole_policy.pth")         # your policy on the reference task
"""
from __future__ import annotations

import math

import torch

__all__ = ["compare_cartpole_rewards", "evaluate_on_reference"]


def _policy(policy):
    from ..rl import load_policy

    if isinstance(policy, (str, bytes)) or hasattr(policy, "__fspath__"):
        return load_policy(policy)
    return policy


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
