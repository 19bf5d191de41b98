"""Pure, batched reward functions with named terms.

Each function takes tensors with a leading ``num_envs`` axis and returns
``(total, terms)``: ``total`` of shape (N,) and a dict of named (N,) terms
that add up to it. Tasks log every term as ``reward/<name>``. Being pure,
they are easy to test against a reference and to grade.

A task chooses among them by name (its config's ``reward``) from a registry
of functions with one signature, next to the task: ``REACH_REWARDS`` in
:mod:`course_lib.envs.franka_reach`, ``CARTPOLE_REWARDS`` in
``course_answers.cartpole`` (the reference cart-pole is chapter 2's answer: the instructor's).
Exercise 4's rewards (sparse, dense, improved) are answers too: they are in
``course_answers.reach_rewards``, and a student's own functions plug into the
reach task instead (``reward=sparse_reward``).

The rewards' numbers (weights, the success radius, the cart-pole's angles)
are written once, in the constants below: the functions' defaults and the
tasks' configs (``FrankaReachCfg``, ``CartpoleCfg``) read them, and graders
and widgets read the configs.
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "reach_reward", "cartpole_isaacgym_reward", "REACH_SUCCESS_RADIUS", "REACH_SUCCESS_BONUS",
    "REACH_ACTION_WEIGHT", "IMPROVED_SUCCESS_BONUS", "IMPROVED_COLLISION_PENALTY", "IMPROVED_JOINT_LIMIT_WEIGHT",
    "JOINT_LIMIT_MARGIN", "CARTPOLE_UPRIGHT_ANGLE", "CARTPOLE_FALL_PENALTY", "ISAACGYM_FALL_PENALTY",
]

# ------------------------------------------------------------ the numbers (each written here only)
#: m: the reach task's success, the TCP this close to the target (the chapter's 5 cm)
REACH_SUCCESS_RADIUS = 0.05
#: the chapter's bonus on a success step (rewards "chapter", "sparse", "dense")
REACH_SUCCESS_BONUS = 10.0
#: weight of |action| in the chapter's and the improved reward
REACH_ACTION_WEIGHT = 0.01
#: the improved reward's bonus: the chapter scales it down from 10 to 5
IMPROVED_SUCCESS_BONUS = 5.0
#: the improved reward's penalty per step in collision (self or table, capsule model)
IMPROVED_COLLISION_PENALTY = 2.0
#: the improved reward's penalty per joint near its limit
IMPROVED_JOINT_LIMIT_WEIGHT = 0.1
#: rad: a joint closer than this to either of its own limits is "near its limit" (improved reward).
#: The chapter tests ``abs(q) > 0.9``, which would mean "the outer 5 % of the range at either end" for a joint
#: normalised to [-1, 1]; 5 % of the Panda's narrowest range (joint 4, -3.0718..-0.0698: 3.0 rad) is 0.15 rad.
JOINT_LIMIT_MARGIN = 0.15
#: rad: +1 per step while the pole is within this of upright (Exercise 2's 12 degrees)
CARTPOLE_UPRIGHT_ANGLE = math.radians(12.0)
#: Exercise 2's -10 when the pole falls
CARTPOLE_FALL_PENALTY = 10.0
#: IsaacGymEnvs' -2 on failure
ISAACGYM_FALL_PENALTY = 2.0


def reach_reward(distance: torch.Tensor, actions: torch.Tensor, success_radius: float = REACH_SUCCESS_RADIUS,
                 success_bonus: float = REACH_SUCCESS_BONUS, action_weight: float = REACH_ACTION_WEIGHT):
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


def cartpole_isaacgym_reward(pole_angle, cart_vel, pole_vel, fallen, fall_penalty: float = ISAACGYM_FALL_PENALTY):
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
