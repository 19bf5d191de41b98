"""rl-games glue, the IsaacGymEnvs way: an ``IVecEnv`` wrapper and two registrations.

IsaacGymEnvs (``isaacgymenvs/train.py``) does::

    vecenv.register('RLGPU', lambda config_name, num_actors, **kwargs: RLGPUEnv(config_name, num_actors, **kwargs))
    env_configurations.register('rlgpu', {'vecenv_type': 'RLGPU', 'env_creator': lambda **kwargs: create_env()})

and so does :func:`register_task`, with a course task in place of an Isaac
Gym one. rl-games then builds the environment itself, from ``env_name:
rlgpu`` in its config.
"""
from __future__ import annotations

import os
import time
import warnings
from typing import Callable

import torch
from rl_games.common import env_configurations, vecenv
from rl_games.common.ivecenv import IVecEnv

__all__ = ["RLGPUEnv", "register_task"]


class RLGPUEnv(IVecEnv):
    """rl-games' view of a course task (``VecEnvBase``): tensors stay on the task's device.

    ``step`` returns ``(obs, rewards, dones, infos)`` where ``infos`` is the
    task's ``extras``: ``time_outs`` (rl-games' ``value_bootstrap`` reads it),
    ``successes`` and, on steps where episodes ended, ``episode``.
    """

    def __init__(self, config_name: str, num_actors: int, **kwargs):
        self.config_name = config_name
        self.env = env_configurations.configurations[config_name]["env_creator"](**kwargs)
        if self.env.num_envs != num_actors:
            raise ValueError(f"rl-games asked for num_actors={num_actors} but the task has num_envs="
                             f"{self.env.num_envs}; they must match")
        #: seconds spent inside the task's step (physics, rewards, resets), for the env/update split
        self.step_seconds = 0.0
        #: calls of step (a multi-GPU run records each process's count)
        self.num_steps = 0
        self._warned = False
        # On CUDA the step returns before the GPU has run it, so its clock measures launches only. For
        # an honest env/update split, COURSE_RL_SYNC_TIMING=1 waits for the GPU after every step; that
        # wait costs 30 % of the FPS at 4096 environments on an H100 (benchmarks/RESULTS.md), so it is off.
        self._sync = self.env.device.type == "cuda" and os.environ.get("COURSE_RL_SYNC_TIMING", "0") == "1"

    # IVecEnv
    def step(self, actions: torch.Tensor):
        t0 = time.perf_counter()
        obs, rew, resets, extras = self.env.step(actions)
        if not isinstance(extras, dict) or "time_outs" not in extras:
            # The chapter's listing returns `{}`: train anyway, without the time-out bootstrap, and say so.
            if not self._warned:
                self._warned = True
                warnings.warn(f"{type(self.env).__name__}.step returned no extras['time_outs']: episodes cut by "
                              f"the time limit are treated as failures (no value bootstrap). Fix: return "
                              f"{{'time_outs': <(num_envs,) bool tensor>}} as the 4th value of step "
                              f"(VecEnvBase.step does)", UserWarning, stacklevel=2)
            extras = dict(extras or {})
            extras["time_outs"] = torch.zeros(self.env.num_envs, dtype=torch.bool, device=self.env.device)
        # The task reuses its buffers in the next step: hand rl-games copies.
        out = obs.clone(), rew.clone(), resets.clone(), extras
        if self._sync:
            torch.cuda.synchronize(self.env.device)
        self.step_seconds += time.perf_counter() - t0
        self.num_steps += 1
        return out

    def reset(self):
        """rl-games calls this once, before its first rollout (the task resets ended episodes itself after)."""
        obs = self.env.reset().clone()
        if env_configurations.configurations[self.config_name].get("random_episode_start"):
            # every first episode starts at a random step of the time limit (rsl_rl's init_at_random_ep_len).
            # Why: with all environments reset together, the episodes that do not reach their goal all time out in
            # the same iteration, every 500 / 16 = 32 iterations, so each rollout holds one phase of the episode.
            # Measured on chapter 3's reach (benchmarks/RESULTS.md): seed 4 had not learned by iteration 300
            # and seed 6 took 192; with the resets spread all 20 seeds learned within 74.
            e = self.env
            e.progress_buf.copy_(torch.randint(0, int(e.max_episode_length), (e.num_envs,), generator=e.rng,
                                               device=e.device))
        return obs

    def get_number_of_agents(self) -> int:
        return 1

    def get_env_info(self) -> dict:
        return {
            "observation_space": self.env.observation_space,
            "action_space": self.env.action_space,
            "agents": 1,
            "value_size": 1,
        }

    def seed(self, seed):
        self.env.seed(seed)


def register_task(create_env: Callable[[], object], random_episode_start: bool = False) -> None:
    """Make rl-games' ``env_name: rlgpu`` build ``create_env()`` (a course task); ``random_episode_start``: the
    training config's ``ppo.random_episode_start`` (see :meth:`RLGPUEnv.reset`)."""
    vecenv.register("RLGPU", lambda config_name, num_actors, **kwargs: RLGPUEnv(config_name, num_actors, **kwargs))
    env_configurations.register("rlgpu", {"vecenv_type": "RLGPU", "env_creator": lambda **kwargs: create_env(),
                                          "random_episode_start": bool(random_episode_start)})
