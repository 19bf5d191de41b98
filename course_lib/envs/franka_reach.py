"""The chapter's Franka Panda reach task, done right.

Observation (17): joint positions (7, rad), joint velocities (7, rad/s),
target minus TCP position (3, m). Action (7): joint velocity commands in
[-1, 1], scaled to each joint's velocity limit and tracked by the Panda's
velocity drives (with gravity compensation from the nominal model, as on the
real robot). Reward (``reward="chapter"``): -distance - 0.01 |action| + 10
within 5 cm; or a function of your own (``reward=sparse_reward``, see
:func:`own_reward`): Exercise 4's rewards are the student's. An episode ends
on success (TCP within 5 cm) or after 500 control steps (a time-out); with a
reward that takes ``collided`` (the improved reward), also on a collision (a
failure).
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Callable

import torch

from ..sim.panda import PANDA_ARMATURE, PANDA_DRIVE_DAMPING, PANDA_HOME, configure_panda
from .config import packaged_setting, resolve_cfg
from .rewards import (IMPROVED_COLLISION_PENALTY, IMPROVED_JOINT_LIMIT_WEIGHT, IMPROVED_SUCCESS_BONUS,
                      JOINT_LIMIT_MARGIN, REACH_ACTION_WEIGHT, REACH_SUCCESS_BONUS, REACH_SUCCESS_RADIUS,
                      reach_reward)
from .vec_env import VecEnvBase

__all__ = ["FrankaReachCfg", "FrankaReachTask", "configure_panda", "PANDA_HOME", "REACH_REWARDS",
           "reach_reward_function", "own_reward", "REWARD_INPUTS"]


@dataclass
class FrankaReachCfg:
    """The reach task's settings: their one owner, read by graders and widgets. Defaults written elsewhere are
    read from there: the training file (``num_envs``, ``env_spacing``: course_lib/configs/franka_reach.yaml),
    the reward's numbers (course_lib.envs.rewards), the Panda's (course_lib.sim.panda)."""

    num_envs: int = packaged_setting("franka_reach", "num_envs")  # parallel environments
    env_spacing: float = packaged_setting("franka_reach", "env_spacing")  # m, grid spacing (drawing only)
    seed: int | None = None  # seed of the task's generator (initial poses, targets)
    sim_dt: float = 1.0 / 120.0  # s, physics step
    decimation: int = 2  # physics steps per control step: control at 60 Hz
    max_episode_length: int = 500  # control steps before a time-out (8.3 s)
    # Reward: "chapter" (-distance - 0.01 |action| + 10 within 5 cm), or a function of the names in REWARD_INPUTS
    # (Exercise 4's sparse_reward(distance), improved_reward(distance, actions, collided, q, q_lower, q_upper)):
    # see own_reward. Where the instructor's course_answers is, also its "sparse", "dense" and "improved".
    reward: str | Callable = "chapter"
    success_radius: float = REACH_SUCCESS_RADIUS  # m
    success_bonus: float = REACH_SUCCESS_BONUS  # reward on the success step ("chapter", "sparse", "dense")
    action_penalty: float = REACH_ACTION_WEIGHT  # weight of |action| ("chapter", "improved")
    # The improved reward's weights (the chapter's numbers; see improved_reach_reward)
    improved_success_bonus: float = IMPROVED_SUCCESS_BONUS  # the chapter scales the bonus down from 10 to 5
    collision_penalty: float = IMPROVED_COLLISION_PENALTY  # per step in collision (self or table, capsule model)
    reset_on_collision: bool = True  # a collision ends the episode, as a failure (not a success, not a time-out)
    joint_limit_penalty: float = IMPROVED_JOINT_LIMIT_WEIGHT  # per joint within joint_limit_margin of its own limit
    joint_limit_margin: float = JOINT_LIMIT_MARGIN  # rad (5 % of joint 4's 3.0 rad range)
    # Targets: uniform in the chapter's box, robot base frame, m
    target_low: tuple = (0.3, -0.3, 0.2)
    target_high: tuple = (0.9, 0.3, 0.8)
    # Initial pose: the home pose plus uniform noise, clamped to the limits
    home_pose: tuple = PANDA_HOME  # rad
    reset_noise: float = 0.15  # rad, half-width of the uniform noise
    # Drives and joints (course_lib.sim.panda: configure_panda reads these). Velocity drive kd (N m s/rad): the
    # torque is kd (v_target - v), implicit; effort limits 87/12 N m clip it.
    drive_damping: tuple = PANDA_DRIVE_DAMPING
    armature: float = PANDA_ARMATURE  # kg m^2, reflected rotor inertia (MuJoCo Menagerie)
    joint_damping: float = 0.0  # N m s/rad, viscous
    joint_friction: float = 0.0  # N m, Coulomb (smooth)
    gravity_compensation: bool = True  # the controller adds the nominal model's gravity torque
    # Domain randomization (Isaac Gym's randomization_params schema; see course_lib.envs.randomization)
    randomize: bool = False
    randomization_params: dict | None = None
    stepper_mode: str = "auto"  # "auto" (CUDA: "graph", CPU: "eager"), "eager", "compile", "graph", "compile+graph"
    fused_step: bool = True  # CUDA graph modes: the whole step as one graph (VecEnvBase.fused_step)

    def __post_init__(self):
        reach_reward_function(self.reward)


# The reach task's rewards, one signature: f(task, distance (N,) m, success (N,) bool) ->
# (total (N,), terms {name: (N,)}, success (N,) bool, done (N,) bool). The pure reward functions are in
# course_lib.envs.rewards; these read the task's config and state and say which episodes end.
def _chapter_reward(task, distance, success):
    c = task.task_cfg
    total, terms = reach_reward(distance, task.actions, c.success_radius, c.success_bonus, c.action_penalty)
    return total, terms, success, success


#: the reach task's rewards (FrankaReachCfg.reward): name -> function, with the signature above. Exercise 4's
#: ("sparse", "dense", "improved") are answers: course_answers.reach_rewards, joined to these where it is here.
REACH_REWARDS = {"chapter": _chapter_reward}

#: what a reward function of one's own may take, by parameter name: distance (N,) m, TCP to target; actions (N, 7)
#: in [-1, 1]; collided (N,) bool, the arm touches itself or the table this step; q (N, 7) rad; q_lower, q_upper
#: (7,) rad, the joint limits
REWARD_INPUTS = ("distance", "actions", "collided", "q", "q_lower", "q_upper")


def own_reward(fn: Callable):
    """A reward function of one's own (Exercise 4's ``sparse_reward(distance)``, ``improved_reward(distance,
    actions, collided, q, q_lower, q_upper)``) as a reach-task reward: it is called with the inputs its parameters
    name (:data:`REWARD_INPUTS`) and returns a (N,) float tensor (or ``(total, terms)``). A function that takes
    ``collided`` makes a collision end the episode as a failure, as the chapter's improved reward does (unless
    ``reset_on_collision=False``). Its total is logged as the term ``reward/<its name>``."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError) as e:
        raise ValueError(f"reward={fn!r}: cannot read its parameters ({e}); pass a Python function") from None
    required = [n for n, p in params.items()
                if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = [n for n in required if n not in REWARD_INPUTS]
    if unknown:
        raise ValueError(f"reward={getattr(fn, '__name__', fn)!r} takes {unknown}, which the reach task does not "
                         f"provide: name its parameters from {list(REWARD_INPUTS)} (e.g. def sparse_reward(distance))")
    wanted = [n for n in params if n in REWARD_INPUTS]
    name = getattr(fn, "__name__", "reward")

    def reward(task, distance, success):
        c = task.task_cfg
        given = {"distance": distance, "actions": task.actions}
        if "collided" in wanted:
            given["collided"] = task.collisions_this_step()
        if "q" in wanted:
            given["q"] = task.get_joint_positions()
        if "q_lower" in wanted or "q_upper" in wanted:
            given["q_lower"], given["q_upper"] = task.robot.lower, task.robot.upper
        total = fn(**{n: given[n] for n in wanted})
        if isinstance(total, tuple):  # (total, terms), like course_lib's reward functions
            total = total[0]
        if not torch.is_tensor(total) or tuple(total.shape) != tuple(distance.shape) or not total.is_floating_point():
            what = (f"shape {tuple(total.shape)}, dtype {total.dtype}" if torch.is_tensor(total)
                    else type(total).__name__)
            raise ValueError(f"the reward function {name} returned {what}; it must return a float tensor of shape "
                             f"(num_envs,) = {tuple(distance.shape)}: one reward per environment")
        if "collided" in wanted and c.reset_on_collision:
            collided = given["collided"]
            return total, {name: total}, success & ~collided, success | collided
        return total, {name: total}, success, success

    reward.__name__ = name
    return reward


def reach_reward_function(reward):
    """The reach-task reward for ``FrankaReachCfg.reward``: a name (:data:`REACH_REWARDS`, and the instructor's
    where ``course_answers`` is here) or a function of one's own (:func:`own_reward`); else a ValueError that says
    what to pass."""
    if callable(reward):
        return own_reward(reward)
    from .. import answers

    known = {**REACH_REWARDS, **getattr(answers.load(), "REACH_REWARDS", {})}
    fn = known.get(reward)
    if fn is not None:
        return fn
    if reward in ("sparse", "dense", "improved"):
        raise ValueError(f"reward={reward!r} is chapter 4's exercise, and its reference is your instructor's: pass "
                         f"your own function, e.g. course_lib.train('franka_reach', reward={reward}_reward, ...)")
    raise ValueError(f"reward must be one of {list(known)} or a function of {list(REWARD_INPUTS)}, got {reward!r} "
                     f"(e.g. course_lib.make('franka_reach', reward=my_reward))")


class FrankaReachTask(VecEnvBase):
    """Reach a random target with the Panda's TCP. See the module docstring."""

    def __init__(self, cfg=None, sim_device: str = "cpu", graphics_device_id: int = 0, headless: bool = True,
                 **overrides):
        self.task_cfg = c = resolve_cfg(FrankaReachCfg, cfg, "the franka_reach config", **overrides)
        self._reward, self._reward_of = reach_reward_function(c.reward), c.reward
        self.num_envs = c.num_envs
        self.num_obs = 17
        self.num_actions = 7
        self.stepper_mode = c.stepper_mode
        self.fused_step = c.fused_step
        super().__init__(dataclasses.asdict(c), sim_device, graphics_device_id, headless)
        self.randomizer = None
        dev = self.device
        self.targets = torch.zeros(self.num_envs, 3, device=dev)
        self.target_low = torch.tensor(c.target_low, device=dev)
        self.target_high = torch.tensor(c.target_high, device=dev)
        self.home = torch.tensor(c.home_pose, device=dev)
        self.apply_randomization_cfg(c.randomize, c.randomization_params, c.seed)
        self.reset()

    def create_sim(self) -> None:
        self.add_robot("franka_panda.urdf")
        configure_panda(self.robot, self.task_cfg)
        self.ee_link = "panda_hand_tcp"

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.robot.vel_target.copy_(actions.clamp(-1.0, 1.0) * self.robot.velocity_limit)

    def tcp_distance(self) -> torch.Tensor:
        """(N,) distance from the TCP to the target, m."""
        return torch.linalg.vector_norm(self.targets - self.get_end_effector_position(), dim=-1)

    def collisions_this_step(self) -> torch.Tensor:
        """(N,) bool: the arm touches itself or the table now (batched capsule checks); kept in
        ``self.collision_buf`` for this step."""
        collided = self.check_collisions()
        if not hasattr(self, "collision_buf"):
            self.collision_buf = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self.collision_buf.copy_(collided)
        return collided

    def compute_observations(self) -> torch.Tensor:
        obs = torch.cat((self.get_joint_positions(), self.get_joint_velocities(),
                         self.targets - self.get_end_effector_position()), dim=-1)
        self.obs_buf.copy_(obs)
        return self.obs_buf

    def compute_reward(self) -> torch.Tensor:
        c = self.task_cfg
        distance = self.tcp_distance()
        success = distance < c.success_radius
        if c.reward != self._reward_of:  # the config's reward was changed after construction: resolved again
            self._reward, self._reward_of = reach_reward_function(c.reward), c.reward
        total, terms, success, done = self._reward(self, distance, success)
        self.reward_terms = terms
        self.rew_buf.copy_(total)
        self.success_buf.copy_(success)
        self.reset_buf.copy_(done.long())
        return self.rew_buf

    def sample_targets(self, n: int) -> torch.Tensor:
        """(n, 3) targets uniform in the box [target_low, target_high], m."""
        u = torch.rand(n, 3, generator=self.rng, device=self.device)
        return self.target_low + u * (self.target_high - self.target_low)

    def sample_joint_positions(self, n: int) -> torch.Tensor:
        """(n, 7) home pose plus uniform noise, inside the joint limits."""
        u = torch.rand(n, 7, generator=self.rng, device=self.device) * 2.0 - 1.0
        q = self.home + self.task_cfg.reset_noise * u
        return torch.maximum(torch.minimum(q, self.robot.upper), self.robot.lower)

    def draw_reset_randoms(self) -> None:
        """Uniform numbers for the next step's :meth:`reset_where`, from the task's generator."""
        if not hasattr(self, "_u_q"):
            self._u_q = torch.empty(self.num_envs, 7, device=self.device)
            self._u_t = torch.empty(self.num_envs, 3, device=self.device)
        torch.rand(self.num_envs, 7, generator=self.rng, device=self.device, out=self._u_q)
        torch.rand(self.num_envs, 3, generator=self.rng, device=self.device, out=self._u_t)

    def reset_where(self, mask: torch.Tensor) -> None:
        """:meth:`reset_idx` for the environments where ``mask`` (N,) is true, as a CUDA graph can record it."""
        q = self.home + self.task_cfg.reset_noise * (2.0 * self._u_q - 1.0)
        self.robot.set_state_where(mask, q)
        m = mask[:, None]
        self.robot.pos_target.copy_(torch.where(m, self.robot.q, self.robot.pos_target))
        self.robot.vel_target.masked_fill_(m, 0.0)
        targets = self.target_low + self._u_t * (self.target_high - self.target_low)
        self.targets.copy_(torch.where(m, targets, self.targets))
        self._state_version += 1

    def reset_idx(self, env_ids: torch.Tensor) -> None:
        n = len(env_ids)
        self.set_joint_positions(env_ids, self.sample_joint_positions(n))
        self.targets[env_ids] = self.sample_targets(n)
        self.progress_buf[env_ids] = 0
        self.reset_buf[env_ids] = 0
