"""The cart-pole's settings, as the chapter's Exercise 2 states them, on IsaacGymEnvs' model.

Observation (4): cart position (m), cart velocity (m/s), pole angle (rad),
pole angular velocity (rad/s). Action (1): force on the cart, in [-1, 1]
times 400 N. Reward: +1 per step while the pole is within 12 degrees of
upright, -10 when it falls. The pole falls (and the episode ends) when
|theta| > pi/2 or the cart leaves |x| > 3 m, as in IsaacGymEnvs; 500 steps is
a time-out, and an episode that reaches it with the pole up is a success.

Writing that task is chapter 2's graded exercise, so the reference task is not
here: it is ``course_answers.cartpole.CartpoleTask``, the instructor's (see
:mod:`course_lib.answers`). These settings are the chapter's numbers, which
the student's task, the grader's cases and the reference all read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .config import packaged_setting
from .rewards import CARTPOLE_FALL_PENALTY, CARTPOLE_UPRIGHT_ANGLE

__all__ = ["CartpoleCfg"]


@dataclass
class CartpoleCfg:
    num_envs: int = packaged_setting("cartpole", "num_envs")  # parallel environments
    env_spacing: float = packaged_setting("cartpole", "env_spacing")  # m (drawing only)
    seed: int | None = None
    sim_dt: float = 1.0 / 120.0  # s: IsaacGymEnvs' dt 1/60 with 2 substeps
    decimation: int = 2  # control at 60 Hz
    max_episode_length: int = 500  # control steps
    max_push_effort: float = 400.0  # N per unit action
    reset_dist: float = 3.0  # m: the cart leaving |x| > 3 is a failure
    fall_angle: float = math.pi / 2  # rad: the pole beyond this has fallen
    upright_angle: float = CARTPOLE_UPRIGHT_ANGLE  # rad: +1 per step inside this
    fall_penalty: float = CARTPOLE_FALL_PENALTY  # Exercise 2's -10
    reward: str = "exercise2"  # "exercise2" or "isaacgym"
    # Domain randomization (Isaac Gym's randomization_params schema; see course_lib.envs.randomization)
    randomize: bool = False
    randomization_params: dict | None = None
    stepper_mode: str = "auto"  # "auto" (CUDA: "graph", CPU: "eager"), "eager", "compile", "graph", "compile+graph"
