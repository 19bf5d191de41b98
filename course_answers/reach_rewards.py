"""Chapter 4's reference rewards and run statistic: the answers to Exercise 4 (the instructor's; never shipped).

Pure, batched functions with named terms, as :mod:`course_lib.envs.rewards` describes them: each returns
``(total (N,), terms {name: (N,)})``. :data:`REACH_REWARDS` registers them with the reach task under the names
``course_lib.make("franka_reach", reward=...)`` knows where this package is ("sparse", "dense", "improved"); a
student trains with their own functions instead (``reward=sparse_reward``: :func:`course_lib.envs.franka_reach.own_reward`).
"""
from __future__ import annotations

import torch

from course_lib.envs.rewards import (IMPROVED_COLLISION_PENALTY, IMPROVED_JOINT_LIMIT_WEIGHT, IMPROVED_SUCCESS_BONUS,
                                     JOINT_LIMIT_MARGIN, REACH_ACTION_WEIGHT, REACH_SUCCESS_BONUS,
                                     REACH_SUCCESS_RADIUS)

__all__ = ["sparse_reach_reward", "dense_reach_reward", "near_joint_limits", "improved_reach_reward", "final_success",
           "REACH_REWARDS"]


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


def final_success(metrics, last: int = 50) -> float:
    """Episode-weighted success rate over the episodes that ended in the last ``last`` iterations (NaN: none)."""
    rows = list(metrics)[-int(last):]
    episodes = sum(int(r.get("episodes") or 0) for r in rows)
    if episodes == 0:
        return float("nan")
    return sum((r.get("success_rate") or 0.0) * int(r.get("episodes") or 0) for r in rows) / episodes


# The reach task's reward signature (course_lib.envs.franka_reach): f(task, distance (N,) m, success (N,) bool) ->
# (total (N,), terms {name: (N,)}, success (N,) bool, done (N,) bool).
def _sparse_reward(task, distance, success):
    c = task.task_cfg
    total, terms = sparse_reach_reward(distance, c.success_radius, c.success_bonus)
    return total, terms, success, success


def _dense_reward(task, distance, success):
    c = task.task_cfg
    total, terms = dense_reach_reward(distance, c.success_radius, c.success_bonus)
    return total, terms, success, success


def _improved_reward(task, distance, success):
    """The improved reward. With ``reset_on_collision`` a collision ends the episode as a failure: it is not a
    success even if the TCP is within the radius on that step."""
    c = task.task_cfg
    collided = task.collisions_this_step()
    total, terms = improved_reach_reward(
        distance, task.actions, collided, task.get_joint_positions(), task.robot.lower, task.robot.upper,
        c.success_radius, c.improved_success_bonus, c.action_penalty, c.collision_penalty,
        c.joint_limit_penalty, c.joint_limit_margin)
    if c.reset_on_collision:
        return total, terms, success & ~collided, success | collided
    return total, terms, success, success


#: Exercise 4's rewards for the reach task (FrankaReachCfg.reward), by name
REACH_REWARDS = {"sparse": _sparse_reward, "dense": _dense_reward, "improved": _improved_reward}
