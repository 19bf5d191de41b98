"""Chapter 2's reference cart-pole: the answer to Exercise 2 (the instructor's; never shipped to students).

The task as the chapter states it (see :mod:`course_lib.envs.cartpole` for its settings): observation (x, x_dot,
theta, theta_dot); +1 per step while |theta| < 12 degrees, -10 when the pole falls past 90 degrees or the cart
leaves |x| > 3 m; reset draws positions in +-0.1 and velocities in +-0.25. ``reward="isaacgym"`` gives
IsaacGymEnvs' shaped reward instead, for comparison.
"""
from __future__ import annotations

import dataclasses

import torch

from course_lib.envs.cartpole import CartpoleCfg
from course_lib.envs.config import resolve_cfg
from course_lib.envs.rewards import CARTPOLE_FALL_PENALTY, CARTPOLE_UPRIGHT_ANGLE, cartpole_isaacgym_reward
from course_lib.envs.vec_env import VecEnvBase

__all__ = ["CartpoleTask", "CARTPOLE_REWARDS", "cartpole_reward_function", "cartpole_exercise_reward"]


def cartpole_exercise_reward(pole_angle: torch.Tensor, fallen: torch.Tensor,
                             upright_angle: float = CARTPOLE_UPRIGHT_ANGLE,
                             fall_penalty: float = CARTPOLE_FALL_PENALTY):
    """Exercise 2: +1 per step while |theta| < 12 degrees, -10 when the pole falls.

    pole_angle: (N,) rad. fallen: (N,) bool, the failure condition of this step.
    """
    dt = pole_angle.dtype
    terms = {
        "upright": (pole_angle.abs() < upright_angle).to(dt) * (~fallen).to(dt),
        "fall": -fall_penalty * fallen.to(dt),
    }
    return sum(terms.values()), terms


# The cart-pole's rewards, one signature: f(task, fallen (N,) bool) -> (total (N,), terms {name: (N,)}).
def _exercise2_reward(task, fallen):
    c = task.task_cfg
    return cartpole_exercise_reward(task.robot.q[:, 1], fallen, c.upright_angle, c.fall_penalty)


def _isaacgym_reward(task, fallen):
    q, qd = task.robot.q, task.robot.qd
    return cartpole_isaacgym_reward(q[:, 1], qd[:, 0], qd[:, 1], fallen)


#: the cart-pole's rewards (CartpoleCfg.reward): name -> function, with the signature above
CARTPOLE_REWARDS = {"exercise2": _exercise2_reward, "isaacgym": _isaacgym_reward}


def cartpole_reward_function(name: str):
    """``CARTPOLE_REWARDS[name]``, or a ValueError that lists the known names."""
    fn = CARTPOLE_REWARDS.get(name)
    if fn is None:
        raise ValueError(f"reward must be {' or '.join(map(repr, CARTPOLE_REWARDS))}, got {name!r}")
    return fn


class CartpoleTask(VecEnvBase):
    def __init__(self, cfg=None, sim_device: str = "cpu", graphics_device_id: int = 0, headless: bool = True,
                 **overrides):
        self.task_cfg = c = resolve_cfg(CartpoleCfg, cfg, "the cartpole config", **overrides)
        cartpole_reward_function(c.reward)
        self.num_envs = c.num_envs
        self.num_obs = 4
        self.num_actions = 1
        self.stepper_mode = c.stepper_mode
        super().__init__(dataclasses.asdict(c), sim_device, graphics_device_id, headless)
        self.randomizer = None
        self.apply_randomization_cfg(c.randomize, c.randomization_params, c.seed)
        self.reset()

    def create_sim(self) -> None:
        robot = self.add_robot("cartpole.urdf")
        robot.stiffness.zero_()
        robot.damping.zero_()  # cart: effort drive; pole: free

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.robot.effort[:, 0] = actions[:, 0].clamp(-1.0, 1.0) * self.task_cfg.max_push_effort

    def compute_observations(self) -> torch.Tensor:
        q, qd = self.robot.q, self.robot.qd
        self.obs_buf.copy_(torch.stack((q[:, 0], qd[:, 0], q[:, 1], qd[:, 1]), dim=-1))
        return self.obs_buf

    def fallen(self) -> torch.Tensor:
        """(N,) bool: the pole fell or the cart left the track."""
        c = self.task_cfg
        return (self.robot.q[:, 0].abs() > c.reset_dist) | (self.robot.q[:, 1].abs() > c.fall_angle)

    def compute_reward(self) -> torch.Tensor:
        c = self.task_cfg
        fallen = self.fallen()
        total, terms = cartpole_reward_function(c.reward)(self, fallen)
        self.reward_terms = terms
        self.rew_buf.copy_(total)
        self.reset_buf.copy_(fallen.long())
        # Success: the episode reaches its time limit with the pole still up.
        self.success_buf.copy_((self.progress_buf >= self.max_episode_length) & ~fallen)
        return self.rew_buf

    def reset_idx(self, env_ids: torch.Tensor) -> None:
        n = len(env_ids)
        pos = 0.2 * (torch.rand(n, 2, generator=self.rng, device=self.device) - 0.5)
        vel = 0.5 * (torch.rand(n, 2, generator=self.rng, device=self.device) - 0.5)
        self.set_joint_positions(env_ids, pos)
        self.set_joint_velocities(env_ids, vel)
        self.robot.effort[env_ids] = 0.0
        self.progress_buf[env_ids] = 0
        self.reset_buf[env_ids] = 0
