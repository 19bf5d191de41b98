"""Curriculum learning for the reach task: targets near the arm first, the whole box as the policy improves.

The chapter's advice ("Use Curriculum Learning: start with easier tasks
(target close to robot); gradually increase difficulty as success rate
improves") as a small object. The target box of stage ``k`` (of ``stages``)
is the task's full box shrunk around a start point near the TCP's home
position::

    scale_k = start_scale + (1 - start_scale) * k / (stages - 1)
    low_k   = start + scale_k * (low  - start)        # m, robot base frame
    high_k  = start + scale_k * (high - start)

The curriculum moves to the next stage when the success rate over the
episodes that ended in the last ``window`` iterations reaches ``threshold``
(and at least ``min_episodes`` ended); then its history starts afresh. Its
state (stage, the last ``window`` iterations' successes and episodes) is
tensors on the task's device.

It hooks into training through :func:`course_lib.train`'s ``callback``,
which runs after every iteration, with the statistics the observer already
gathered; it then writes the stage's box into the task's ``target_low`` /
``target_high`` tensors in place, so the task's own ``reset_idx`` draws the
next targets from it (no change to the task, nothing per environment)::

    curriculum = TargetCurriculum.for_task(env)       # or TargetCurriculum(low, high, start)
    course_lib.train(env, callback=curriculum)        # curriculum(observer, iteration) after each iteration
    curriculum.stage, curriculum.box()
"""
from __future__ import annotations

import torch

__all__ = ["TargetCurriculum", "PANDA_HOME_TCP"]

#: the Panda's TCP at the home pose, m, robot base frame (forward kinematics of PANDA_HOME)
PANDA_HOME_TCP = (0.5545, 0.0, 0.5211)


class TargetCurriculum:
    """A target box that widens in stages as the rolling success rate passes a threshold.

    low, high: (3,) the full target box, m. start: (3,) the point the first
    box shrinks around (default: the TCP at the home pose), m; it must lie
    in the box. start_scale: the first box's size as a fraction of the full
    box. stages: number of boxes, the last one the full box. threshold:
    success rate (0..1) that moves to the next stage. window: iterations
    over which the success rate is measured. min_episodes: episodes that
    must have ended in the window before a stage can change.
    """

    def __init__(self, low, high, start=PANDA_HOME_TCP, start_scale: float = 0.2, stages: int = 5,
                 threshold: float = 0.8, window: int = 5, min_episodes: int = 20, device="cpu"):
        self.device = torch.device(device)
        as_vec = lambda v, name: self._vec(v, name)  # noqa: E731
        self.low, self.high, self.start = as_vec(low, "low"), as_vec(high, "high"), as_vec(start, "start")
        if bool((self.low >= self.high).any()):
            raise ValueError(f"the target box must have low < high on every axis, got low={self.low.tolist()}, "
                             f"high={self.high.tolist()}")
        if bool(((self.start < self.low) | (self.start > self.high)).any()):
            raise ValueError(f"start {self.start.tolist()} must lie in the target box [{self.low.tolist()}, "
                             f"{self.high.tolist()}]")
        if not 0.0 < start_scale <= 1.0:
            raise ValueError(f"start_scale must be in (0, 1], got {start_scale}")
        if int(stages) < 1 or int(window) < 1:
            raise ValueError(f"stages and window must be at least 1, got stages={stages}, window={window}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a success rate in [0, 1], got {threshold}")
        self.start_scale, self.stages, self.threshold = float(start_scale), int(stages), float(threshold)
        self.window, self.min_episodes = int(window), int(min_episodes)
        self.stage_t = torch.zeros((), dtype=torch.long, device=self.device)
        self.successes = torch.zeros(self.window, dtype=torch.float64, device=self.device)
        self.episodes = torch.zeros(self.window, dtype=torch.float64, device=self.device)
        self.filled = torch.zeros((), dtype=torch.long, device=self.device)  # iterations in the history
        self.history: list = []  # (iteration, stage) whenever the stage changed

    def _vec(self, v, name) -> torch.Tensor:
        # a copy: apply() writes into the task's target_low / target_high, which may be what was passed here
        t = torch.as_tensor(v, dtype=torch.float32).to(self.device).reshape(-1).clone()
        if t.numel() != 3 or not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be 3 finite numbers (x, y, z in m), got {v!r}")
        return t

    @classmethod
    def for_task(cls, env, **kwargs) -> "TargetCurriculum":
        """A curriculum over ``env``'s own target box (a :class:`~course_lib.envs.FrankaReachTask`)."""
        for name in ("target_low", "target_high"):
            if not torch.is_tensor(getattr(env, name, None)):
                raise ValueError(f"{type(env).__name__} has no {name} tensor: the curriculum widens the target box "
                                 f"of a reach task (course_lib.envs.FrankaReachTask)")
        return cls(env.target_low, env.target_high, device=env.device, **kwargs)

    # ------------------------------------------------------------ the box
    @property
    def stage(self) -> int:
        """The current stage, 0 .. stages - 1 (reads the tensor back: not for inside a step)."""
        return int(self.stage_t)

    def scale(self) -> torch.Tensor:
        """() the current box's size as a fraction of the full box."""
        frac = self.stage_t.float() / max(1, self.stages - 1) if self.stages > 1 else torch.ones((), device=self.device)
        return self.start_scale + (1.0 - self.start_scale) * frac

    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current box ``(low (3,), high (3,))``, m."""
        s = self.scale()
        return self.start + s * (self.low - self.start), self.start + s * (self.high - self.start)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 3) targets uniform in the current box, m."""
        low, high = self.box()
        u = torch.rand(n, 3, generator=generator, device=self.device)
        return low + u * (high - low)

    def apply(self, env) -> None:
        """Write the current box into ``env.target_low`` / ``env.target_high`` (in place)."""
        low, high = self.box()
        env.target_low.copy_(low.to(env.target_low.device))
        env.target_high.copy_(high.to(env.target_high.device))

    # ---------------------------------------------------------- progress
    def rolling_success(self) -> torch.Tensor:
        """() success rate over the episodes of the last ``window`` iterations (NaN if none ended)."""
        n = self.episodes.sum()
        return torch.where(n > 0, self.successes.sum() / n.clamp_min(1.0), torch.full_like(n, float("nan")))

    def update(self, successes, episodes) -> None:
        """Record one iteration: ``successes`` of ``episodes`` ended episodes succeeded (numbers or 0-d tensors).

        Moves to the next stage when the window is full, at least
        ``min_episodes`` ended in it and its success rate reaches the
        threshold; the history is then cleared.
        """
        s = torch.as_tensor(successes, dtype=torch.float64, device=self.device)
        e = torch.as_tensor(episodes, dtype=torch.float64, device=self.device)
        if bool(s < 0) or bool(e < s):
            raise ValueError(f"successes must be between 0 and episodes, got {float(s)} of {float(e)}")
        self.successes = torch.roll(self.successes, 1)
        self.episodes = torch.roll(self.episodes, 1)
        self.successes[0], self.episodes[0] = s, e
        self.filled = (self.filled + 1).clamp_max(self.window)
        rate = self.rolling_success()
        advance = ((self.filled >= self.window) & (self.episodes.sum() >= self.min_episodes)
                   & (rate >= self.threshold) & (self.stage_t < self.stages - 1))
        self.stage_t = self.stage_t + advance.long()
        keep = (~advance).double()
        self.successes, self.episodes = self.successes * keep, self.episodes * keep
        self.filled = self.filled * (~advance).long()

    def __call__(self, observer, iteration: int) -> None:
        """The training hook: ``course_lib.train(..., callback=curriculum)``.

        Reads the iteration's ended episodes and successes from the
        observer's last row, updates, and widens the task's target box when
        the stage changes. Logs ``curriculum/stage`` and
        ``curriculum/box_scale`` to TensorBoard.
        """
        row = observer.rows[-1] if observer.rows else {}
        n = int(row.get("episodes") or 0)
        rate = row.get("success_rate")
        before = self.stage
        self.update(0.0 if rate is None else rate * n, n)
        if self.stage != before:
            self.history.append((int(iteration), self.stage))
        self.apply(observer.env)
        writer = getattr(observer, "writer", None)
        if writer is not None:
            writer.add_scalar("curriculum/stage", self.stage, iteration)
            writer.add_scalar("curriculum/box_scale", float(self.scale()), iteration)

    def __repr__(self) -> str:
        low, high = self.box()
        return (f"TargetCurriculum(stage {self.stage}/{self.stages - 1}, box {[round(v, 3) for v in low.tolist()]}"
                f" .. {[round(v, 3) for v in high.tolist()]} m, threshold {self.threshold:.0%} over "
                f"{self.window} iterations)")
