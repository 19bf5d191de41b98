"""Pure, batched reward functions with named terms.

Each function takes tensors with a leading ``num_envs`` axis and returns
``(total, terms)``: ``total`` of shape (N,) and a dict of named (N,) terms
that add up to it. Tasks log every term as ``reward/<name>``. Being pure,
they are easy to test against a reference and to grade.

A task chooses among them by name (its config's ``reward``) from a registry
of functions with one signature, next to the task: ``REACH_REWARDS`` in
:mod:`course_lib.envs.franka_reach`, ``CARTPOLE_REWARDS`` in
``course_answers.cartpole`` (the reference cart-pole is chapter 2's answer: the instructor's).

The rewards' numbers (weights, the success radius, the cart-pole's angles)
are written once, in the constants below: the functions' defaults and the
tasks' configs (``FrankaReachCfg``, ``CartpoleCfg``) read them, and graders
and widgets read the configs.
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "reach_reward", "sparse_reach_reward", "dense_reach_reward", "improved_reach_reward", "near_joint_limits",
    "cartpole_isaacgym_reward", "REACH_SUCCESS_RADIUS", "REACH_SUCCESS_BONUS",
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


def sparse_reach_reward(distance: torch.Tensor, success_radius: float = REACH_SUCCESS_RADIUS,
                        success_bonus: float = REACH_SUCCESS_BONUS):
    """+10 within 5 cm of the target, else 0 (Exercise 4's sparse reward). distance: (N,)."""
    terms = {"success": success_bonus * (distance < success_radius).to(distance.dtype)}
    return terms["success"].clone(), terms


def dense_reach_reward(distance: torch.Tensor, success_radius: float = REACH_SUCCESS_RADIUS,
                       success_bonus: float = REACH_SUCCESS_BONUS):
    """-distance plus the success bonus (Exercise 4's dense reward). distance: (N,)."""
    terms = {
        "distance": -distance,
        "success": success_bonus * (distance < success_radius).to(distance.dtype),
    }
    return sum(terms.values()), terms


def near_joint_limits(q: torch.Tensor, q_lower: torch.Tensor, q_upper: torch.Tensor,
                      margin: float | torch.Tensor = JOINT_LIMIT_MARGIN) -> torch.Tensor:
    """(N, D) bool: joint positions within ``margin`` rad of their *own* lower or upper limit.

    q: (N, D) rad. q_lower, q_upper: (D,) or (N, D) rad, each joint's limits.
    margin: rad, a float or (D,). The chapter's ``abs(q) > 0.9`` is not this:
    on the Panda it flags joint 4 (range -3.07..-0.07) and joint 6
    (-0.02..3.75) at the home pose, -1.57 and 1.57, where both are far from
    their limits, and misses joint 4 at -0.1, 0.03 rad from its upper one.
    """
    if torch.is_tensor(margin) and margin.device != q.device:
        margin = margin.to(q.device)
    # A Python float stays a float: making a CUDA tensor from it would copy from the host, which a
    # CUDA-graph capture of the step (VecEnvBase's fused step) does not allow.
    return (q < q_lower + margin) | (q > q_upper - margin)


def improved_reach_reward(distance: torch.Tensor, actions: torch.Tensor, collided: torch.Tensor, q: torch.Tensor,
                          q_lower: torch.Tensor, q_upper: torch.Tensor, success_radius: float = REACH_SUCCESS_RADIUS,
                          success_bonus: float = IMPROVED_SUCCESS_BONUS, action_weight: float = REACH_ACTION_WEIGHT,
                          collision_penalty: float = IMPROVED_COLLISION_PENALTY,
                          joint_limit_weight: float = IMPROVED_JOINT_LIMIT_WEIGHT,
                          joint_limit_margin: float = JOINT_LIMIT_MARGIN):
    """The chapter's "Improved Franka Reach Reward", with the joint-limit test fixed.

    distance: (N,) TCP-to-target distance, m. actions: (N, 7) in [-1, 1].
    collided: (N,) bool, the arm touches itself or the table this step.
    q: (N, 7) joint positions, rad; q_lower, q_upper: (7,) (or (N, 7)) limits, rad.

    reward = -distance                                   ("distance", in about [-1, 0])
             + 5 [distance < 0.05]                       ("success": the chapter scales the bonus 10 -> 5)
             - 0.01 |action|                             ("action")
             - 2 [collided]                              ("collision"; the task also ends the episode)
             - 0.1 * #(joints within 0.15 rad of their own limits)   ("joint_limit")

    The weights are the chapter's; only the joint-limit test differs (see
    :func:`near_joint_limits`). Every term is computed for every
    environment, as in the chapter's listing: a step that succeeds and
    collides gets both.
    """
    _check_batch(distance, actions, collided, q)
    dt = distance.dtype
    near = near_joint_limits(q, q_lower, q_upper, joint_limit_margin)
    terms = {
        "distance": -distance,
        "success": success_bonus * (distance < success_radius).to(dt),
        "action": -action_weight * torch.linalg.vector_norm(actions, dim=-1),
        "collision": -collision_penalty * collided.to(dt),
        "joint_limit": -joint_limit_weight * near.sum(-1).to(dt),
    }
    return sum(terms.values()), terms


def _check_batch(distance, actions, collided, q) -> None:
    """Clear errors for the mistakes a caller makes: shapes that do not match one batch, a float ``collided``."""
    if distance.dim() != 1:
        raise ValueError(f"distance must have shape (num_envs,), got {tuple(distance.shape)}")
    n = distance.shape[0]
    for name, t, dims in (("actions", actions, 2), ("collided", collided, 1), ("q", q, 2)):
        if t.dim() != dims or t.shape[0] != n:
            want = "(num_envs,)" if dims == 1 else "(num_envs, 7)"
            raise ValueError(f"{name} must have shape {want} with num_envs = {n} (from distance), "
                             f"got {tuple(t.shape)}")
    if collided.dtype != torch.bool:
        raise ValueError(f"collided must be a bool tensor (e.g. env.check_collisions()), got {collided.dtype}")


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
