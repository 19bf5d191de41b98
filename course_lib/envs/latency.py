"""Actuation latency: every environment executes the action it was sent ``k`` control steps ago.

A real robot never applies a command at the instant the policy computes it:
the observation is read, sent over a network or a bus, the policy runs, the
command travels back and the motor controller picks it up at its next tick.
On a Panda driven through ROS at 60 Hz this is one or two control steps. A
policy trained with no delay can oscillate when it meets one, so domain
randomization draws a delay ``k`` per environment (``actuation_latency`` in
:mod:`course_lib.envs.randomization`).

:class:`ActionLatency` keeps the last ``max_delay + 1`` actions of every
environment in a ring buffer ``(max_delay + 1, num_envs, num_actions)``; each
step writes the new action into one slot and reads, for every environment at
once, the slot ``k`` steps back with one ``gather``: no loop over
environments, no host synchronisation.

    >>> lat = ActionLatency(num_envs=4, num_actions=7, max_delay=3)
    >>> lat.set_delay(None, torch.tensor([0, 1, 2, 3]))
    >>> applied = lat(actions)          # env i gets the action of i steps ago
"""
from __future__ import annotations

import torch

__all__ = ["ActionLatency"]


def _ids(env_ids, num_envs: int, device) -> torch.Tensor:
    if env_ids is None:
        return torch.arange(num_envs, device=device)
    env_ids = torch.as_tensor(env_ids)
    if env_ids.dtype == torch.bool:
        env_ids = env_ids.nonzero(as_tuple=False).squeeze(-1)
    return env_ids.to(device=device, dtype=torch.long).reshape(-1)


class ActionLatency:
    """Per-environment delay of ``k`` control steps, ``0 <= k <= max_delay``.

    ``latency(actions)`` pushes ``actions`` (num_envs, num_actions) and returns
    the actions to execute now: for environment ``i``, the action pushed
    ``delay[i]`` calls ago (``delay[i] = 0``: the action just pushed).

    Before an environment has ``k`` actions in its history (at the start, and
    after :meth:`reset`), the missing past is filled according to ``fill``:

    - ``"zeros"`` (default): the robot executes zero actions for the first
      ``k`` steps of an episode. For the reach task's velocity commands that
      means "hold still", which is what a real arm does before its first
      command arrives.
    - ``"first"``: the first action after a reset fills the whole history, so
      it is executed at once and repeated for ``k`` steps (Isaac Lab's
      ``DelayBuffer`` does this).
    """

    def __init__(self, num_envs: int, num_actions: int, max_delay: int, device="cpu",
                 dtype=torch.float32, fill: str = "zeros"):
        if int(max_delay) < 0:
            raise ValueError(f"max_delay must be >= 0 control steps, got {max_delay}")
        if fill not in ("zeros", "first"):
            raise ValueError(f"fill must be 'zeros' or 'first', got {fill!r}")
        self.num_envs, self.num_actions = int(num_envs), int(num_actions)
        self.max_delay = int(max_delay)
        self.device = torch.device(device)
        self.fill = fill
        self.size = self.max_delay + 1
        self.buffer = torch.zeros(self.size, self.num_envs, self.num_actions, device=self.device, dtype=dtype)
        #: (num_envs,) long: delay of every environment, control steps
        self.delay = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self._fresh = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._head = 0  # slot of the newest action (a Python int: no device read)
        self._env = torch.arange(self.num_envs, device=self.device)

    def set_delay(self, env_ids, delay) -> None:
        """Set the delay (control steps) of ``env_ids`` (None: all); values outside 0..max_delay are an error."""
        ids = _ids(env_ids, self.num_envs, self.device)
        delay = torch.as_tensor(delay, device=self.device).to(torch.long).expand(len(ids))
        if bool(((delay < 0) | (delay > self.max_delay)).any()):
            raise ValueError(f"delays must lie in 0..{self.max_delay} control steps (the buffer's max_delay), "
                             f"got {delay.min().item()}..{delay.max().item()}")
        self.delay[ids] = delay

    def reset(self, env_ids=None) -> None:
        """Forget the action history of ``env_ids`` (their episode starts again)."""
        ids = _ids(env_ids, self.num_envs, self.device)
        self.buffer[:, ids] = 0.0
        self._fresh[ids] = True

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        """Push ``actions`` (num_envs, num_actions); return the delayed actions to execute now."""
        if tuple(actions.shape) != (self.num_envs, self.num_actions):
            raise ValueError(f"actions must have shape ({self.num_envs}, {self.num_actions}), got {tuple(actions.shape)}")
        self._head = (self._head + 1) % self.size
        self.buffer[self._head] = actions
        if self.fill == "first":
            fresh = self._fresh.view(1, -1, 1)
            self.buffer.copy_(torch.where(fresh, actions.unsqueeze(0).to(self.buffer.dtype), self.buffer))
        self._fresh.zero_()
        slot = torch.remainder(self._head - self.delay, self.size)  # (num_envs,)
        return self.buffer[slot, self._env]

    def __repr__(self) -> str:
        return (f"ActionLatency(num_envs={self.num_envs}, num_actions={self.num_actions}, "
                f"max_delay={self.max_delay}, fill={self.fill!r})")
