"""The course's tasks as a gymnasium vector environment, for libraries other than rl-games.

    >>> from course_lib.rl import CourseVectorEnv
    >>> envs = CourseVectorEnv("franka_reach", num_envs=256, seed=0)          # NumPy in and out
    >>> obs, info = envs.reset(seed=0)
    >>> obs, rew, terminated, truncated, info = envs.step(envs.action_space.sample())

skrl (PyTorch tensors, no copies): ``CourseVectorEnv(..., tensors=True)`` and
``skrl.envs.wrappers.torch.wrap_env(envs, wrapper="gymnasium")``.
Stable-Baselines3 takes its own ``VecEnv`` class: :func:`to_sb3` wraps this
adapter in one (it imports stable_baselines3 only when called).

Semantics: gymnasium's *same-step* autoreset (``metadata["autoreset_mode"]``):
an environment whose episode ends in a step is reset in that step, and the
observation returned is the first one of its next episode. ``terminated`` =
the task ended the episode (success or failure), ``truncated`` = the time
limit (``extras["time_outs"]``). ``info["success"]`` marks episodes that
ended in success. The terminal observation of an ended episode is not
available (the task resets before it returns; see docs/training.md), so
``info`` has no ``final_obs``: bootstrap truncated episodes from the value
of the last observation you saw, as rl-games does.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["CourseVectorEnv", "to_sb3"]

try:
    import gymnasium as gym
    from gymnasium.vector import VectorEnv
    from gymnasium.vector.utils import batch_space

    try:
        from gymnasium.vector import AutoresetMode

        _SAME_STEP = AutoresetMode.SAME_STEP
    except ImportError:  # gymnasium < 1.1
        _SAME_STEP = "SameStep"
except ImportError as e:  # pragma: no cover
    raise ImportError("CourseVectorEnv needs gymnasium (pip install gymnasium)") from e


class CourseVectorEnv(VectorEnv):
    """gymnasium ``VectorEnv`` over a course task (a name, or a ``VecEnvBase`` instance).

    tensors=False (default): NumPy arrays in and out, as gymnasium expects.
    tensors=True: torch tensors on the task's device in and out (no copies).
    """

    metadata = {"autoreset_mode": _SAME_STEP, "render_modes": []}

    def __init__(self, task="cartpole", num_envs: int | None = None, seed: int | None = None, device: str = "cpu",
                 tensors: bool = False, **task_overrides):
        from ..envs import VecEnvBase, make

        if isinstance(task, VecEnvBase):
            self.env = task
        else:
            kwargs = dict(task_overrides)
            if num_envs is not None:
                kwargs["num_envs"] = num_envs
            self.env = make(task, device=device, seed=seed, **kwargs)
        self.num_envs = self.env.num_envs
        self.tensors = bool(tensors)
        self.single_observation_space = self.env.observation_space
        self.single_action_space = self.env.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self.spec = None
        self.closed = False

    def _out(self, x: torch.Tensor):
        return x if self.tensors else x.detach().cpu().numpy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.env.seed(int(seed) if not isinstance(seed, (list, tuple)) else int(seed[0]))
        obs = self.env.reset()
        return self._out(obs.clone()), {}

    def step(self, actions):
        if not torch.is_tensor(actions):
            actions = torch.as_tensor(np.asarray(actions, dtype=np.float32))
        actions = actions.to(self.env.device, torch.float32).reshape(self.num_envs, -1)
        obs, rew, resets, extras = self.env.step(actions)
        truncated = extras["time_outs"].bool()
        terminated = resets.bool() & ~truncated
        info = {"success": self._out(extras["successes"].bool().clone())}
        if "episode" in extras:
            info["episode"] = {k: float(v) for k, v in extras["episode"].items()}
        return (self._out(obs.clone()), self._out(rew.clone()), self._out(terminated), self._out(truncated), info)

    def close_extras(self, **kwargs):
        pass

    def __repr__(self) -> str:
        return f"CourseVectorEnv({self.env!r}, tensors={self.tensors})"


def to_sb3(envs: CourseVectorEnv):
    """A Stable-Baselines3 ``VecEnv`` over ``envs`` (NumPy mode). Needs ``pip install stable-baselines3``.

    SB3's conventions: ``dones`` = terminated or truncated; ``infos[i]["TimeLimit.truncated"]``
    marks time-outs; ``infos[i]["terminal_observation"]`` is the first observation of the next
    episode here (the task does not keep the terminal one), so SB3's time-out bootstrap is approximate.
    """
    from stable_baselines3.common.vec_env import VecEnv

    class CourseSB3VecEnv(VecEnv):
        def __init__(self, venv):
            self.venv = venv
            self._actions = None
            super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

        def reset(self):
            obs, _ = self.venv.reset(seed=self._seeds[0] if getattr(self, "_seeds", None) else None)
            self._seeds = []
            return obs

        def step_async(self, actions):
            self._actions = actions

        def step_wait(self):
            obs, rew, term, trunc, info = self.venv.step(self._actions)
            dones = term | trunc
            infos = [{} for _ in range(self.num_envs)]
            for i in np.nonzero(dones)[0]:
                infos[i] = {"TimeLimit.truncated": bool(trunc[i]), "terminal_observation": obs[i],
                            "is_success": bool(info["success"][i])}
            return obs, rew.astype(np.float32), dones, infos

        def close(self):
            pass

        def get_attr(self, attr_name, indices=None):
            owner = self.venv if hasattr(self.venv, attr_name) else self.venv.env
            return [getattr(owner, attr_name)] * len(self._get_indices(indices))

        def set_attr(self, attr_name, value, indices=None):
            setattr(self.venv.env, attr_name, value)

        def env_method(self, method_name, *args, indices=None, **kwargs):
            return [getattr(self.venv.env, method_name)(*args, **kwargs)] * len(self._get_indices(indices))

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * len(self._get_indices(indices))

        def seed(self, seed=None):
            self._seeds = [seed]
            return [seed] * self.num_envs

    return CourseSB3VecEnv(envs)
