"""Pure, batched reward functions with named terms.

Each function takes tensors with a leading ``num_envs`` axis and returns
``(total, terms)``: ``total`` of shape (N,) and a dict of named (N,) terms
that add up to it. Tasks log every term as ``reward/<name>``. Being pure,
they are easy to test against a reference and to grade.
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "reach_reward", "sparse_reach_reward", "dense_reach_reward",
    "cartpole_exercise_reward", "cartpole_isaacgym_reward",
]


def reach_reward(distance: torch.Tensor, actions: torch.Tensor, success_radius: float = 0.05,
                 success_bonus: float = 10.0, action_weight: float = 0.01):
    """The chapter's Franka reach reward.

    distance: (N,) TCP-to-target distance, m. actions: (N, 7) in [-1, 1].
    reward = -distance - 0.01 |action| + 10 [distance < 0.05]
    """
    terms = {
        "distance": -distance,
        "action": -action_weight * torch.linalg.vector_norm(actions, dim=-1),
        "success": success_bonus * (distance < success_radius).to(distance.dtype),
    }
    return sum(terms.values()), terms


def sparse_reach_reward(distance: torch.Tensor, success_radius: float = 0.05, success_bonus: float = 10.0):
    """+10 within 5 cm of the target, else 0 (Exercise 4's sparse reward). distance: (N,)."""
    terms = {"success": success_bonus * (distance < success_radius).to(distance.dtype)}
    return terms["success"].clone(), terms


def dense_reach_reward(distance: torch.Tensor, success_radius: float = 0.05, success_bonus: float = 10.0):
    """-distance plus the success bonus (Exercise 4's dense reward). distance: (N,)."""
    terms = {
        "distance": -distance,
        "success": success_bonus * (distance < success_radius).to(distance.dtype),
    }
    return sum(terms.values()), terms


def cartpole_exercise_reward(pole_angle: torch.Tensor, fallen: torch.Tensor,
                             upright_angle: float = math.radians(12.0), fall_penalty: float = 10.0):
    """Exercise 2: +1 per step while |theta| < 12 degrees, -10 when the pole falls.

    pole_angle: (N,) rad. fallen: (N,) bool, the failure condition of this step.
    """
    dt = pole_angle.dtype
    terms = {
        "upright": (pole_angle.abs() < upright_angle).to(dt) * (~fallen).to(dt),
        "fall": -fall_penalty * fallen.to(dt),
    }
    return sum(terms.values()), terms


def cartpole_isaacgym_reward(pole_angle, cart_vel, pole_vel, fallen, fall_penalty: float = 2.0):
    """IsaacGymEnvs' shaped cart-pole reward: 1 - theta^2 - 0.01 |xdot| - 0.005 |thetadot|, -2 on failure.

    All arguments (N,); ``fallen`` bool. On failure the total is exactly -2, as in IsaacGymEnvs.
    """
    dt = pole_angle.dtype
    alive = (~fallen).to(dt)
    terms = {
        "alive": alive * 1.0,
        "angle": -alive * pole_angle * pole_angle,
        "cart_velocity": -alive * 0.01 * cart_vel.abs(),
        "pole_velocity": -alive * 0.005 * pole_vel.abs(),
        "fall": -fall_penalty * fallen.to(dt),
    }
    return sum(terms.values()), terms
