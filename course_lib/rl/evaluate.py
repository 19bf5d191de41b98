"""Deterministic evaluation on a fixed, seeded set of episodes.

    >>> result = course_lib.evaluate("franka_reach", policy, episodes=1000, seed=0)
    >>> result.success_rate, result.ci95, result.mean_reward, result.mean_length

How the set of episodes is fixed: episodes are run in batches of ``B``
environments (``B = min(episodes, 1024)`` unless given); before batch ``k``
the task's generator is re-seeded with ``seed + 1_000_003 k`` and every
environment is reset, so episode ``i`` always starts from the same initial
state and target, whatever the policy does. Each environment counts only its
first episode; the batch ends when all of them have ended. Success is the
task's own definition (``extras["successes"]``: the episode ended because
the task was achieved), never the reward, so a student's reward cannot change
the grade.

The set is fixed for a given device: the task's generator on CUDA draws other
numbers than on the CPU, so compare results from the same device (grading:
the CPU).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .policy import CheckpointError, Policy, load_policy

__all__ = ["evaluate", "EvalResult", "success_ci"]

#: rows re-seeded per batch: batch k uses seed + SEED_STRIDE * k
SEED_STRIDE = 1_000_003


def success_ci(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """(lo, hi): the Wilson score interval of the success rate ``successes / n`` at ``confidence``, from SciPy.

    SciPy computes it, not a formula here: writing the Wilson interval is chapter 6's exercise, and the student
    library holds no exercise's answer (issue 12). n <= 0: (0, 1), nothing is known.
    """
    if n <= 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


@dataclass
class EvalResult:
    """What :func:`evaluate` measured. Lists hold one entry per episode, in episode order."""

    task: str
    episodes: int
    seed: int
    success_rate: float
    ci95: tuple
    mean_reward: float
    mean_length: float
    successes: list = field(repr=False, default_factory=list)
    rewards: list = field(repr=False, default_factory=list)
    lengths: list = field(repr=False, default_factory=list)
    #: each episode's target (x, y, z) in m, for tasks that have ``targets`` (reach); else empty
    targets: list = field(repr=False, default_factory=list)

    @property
    def mean_step_reward(self) -> float:
        """Reward per control step over every step of every episode: sum of rewards / sum of lengths.

        This is the chapter's "Mean Reward" (-0.45 at 12 % success, "> -0.2" after training).
        """
        steps = sum(self.lengths)
        return float(sum(self.rewards) / steps) if steps else float("nan")

    def __str__(self) -> str:
        lo, hi = self.ci95
        return (f"{self.task}: success {100 * self.success_rate:.1f}% (95% CI {100 * lo:.1f}-{100 * hi:.1f}%) "
                f"over {self.episodes} episodes (seed {self.seed}); mean episode reward {self.mean_reward:.3f}; "
                f"mean episode length {self.mean_length:.1f} steps")

    def to_dict(self) -> dict:
        return {"task": self.task, "episodes": self.episodes, "seed": self.seed,
                "success_rate": self.success_rate, "ci95": list(self.ci95), "mean_reward": self.mean_reward,
                "mean_step_reward": self.mean_step_reward, "mean_length": self.mean_length, "successes": [bool(s) for s in self.successes],
                "rewards": list(self.rewards), "lengths": list(self.lengths),
                "targets": list(self.targets)}


def _task_name(env) -> str | None:
    from ..envs import tasks

    for name, cls in tasks().items():
        if type(env) is cls:
            return name
    return None


def _check_compatible(policy, env, task_name):
    if not isinstance(policy, Policy):
        return
    ref = policy.metadata.get("reference_task")
    if policy.task is not None and task_name is not None and task_name not in (policy.task, ref):
        raise CheckpointError(f"the policy was trained for task {policy.task!r}"
                              f"{' (' + policy.metadata['checkpoint'] + ')' if policy.metadata.get('checkpoint') else ''}"
                              f", not {task_name!r}")
    if policy.num_obs != env.num_obs or policy.num_actions != env.num_actions:
        raise CheckpointError(f"the policy takes {policy.num_obs} observations and gives {policy.num_actions} "
                              f"actions, but {type(env).__name__} has {env.num_obs} and {env.num_actions}")


def evaluate(task=None, policy=None, episodes: int = 1000, seed: int = 0, *, num_envs: int | None = None,
             device=None, max_steps: int | None = None, **task_overrides) -> EvalResult:
    """Run ``episodes`` whole episodes of ``task`` with ``policy`` and measure success.

    task: a registered name (the reference task is built with its default
    config plus ``task_overrides``), a task instance (used as is; its
    ``num_envs`` is the batch size), or None for the policy's own task.
    policy: a :class:`Policy`, a checkpoint / run directory, or any callable
    ``obs (N, num_obs) -> actions (N, num_actions)``.

    Returns an :class:`EvalResult`: success rate with its 95 % Wilson
    interval, mean episode reward (the task's reward, summed over an
    episode), mean episode length (control steps), and per-episode outcomes.
    """
    from .. import envs as _envs

    if policy is None:
        raise ValueError("evaluate(task, policy, ...): give a policy (a Policy, a checkpoint path or a callable)")
    if isinstance(policy, (str, bytes)) or hasattr(policy, "__fspath__"):
        policy = load_policy(policy)
    if not callable(policy):
        raise ValueError(f"policy must be callable (obs -> actions), got {type(policy).__name__}")
    episodes = int(episodes)
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if task is None:
        if not isinstance(policy, Policy) or policy.task is None:
            raise ValueError("evaluate(task=None, ...) needs a Policy that knows its task; name the task")
        task = policy.task
    if isinstance(task, str):
        _envs.task_class(task)  # a ValueError that names the known tasks
        if device is None:
            device = policy.device if isinstance(policy, Policy) else "cpu"
        batch = int(num_envs) if num_envs else min(episodes, 1024)
        env = _envs.make(task, num_envs=batch, seed=seed, device=str(device), **task_overrides)
        task_name = task
    else:
        if task_overrides:
            raise ValueError(f"task overrides {sorted(task_overrides)} need a task name, not a task instance")
        env, task_name = task, _task_name(task)
    _check_compatible(policy, env, task_name)
    if isinstance(policy, Policy) and policy.device != env.device:
        policy = policy.to(env.device)

    B, dev = env.num_envs, env.device
    limit = int(max_steps) if max_steps is not None else int(getattr(env, "max_episode_length", 500)) + 1
    successes, rewards, lengths, targets = [], [], [], []
    k = 0
    with torch.no_grad():
        while len(successes) < episodes:
            n = min(B, episodes - len(successes))
            env.seed(seed + SEED_STRIDE * k)
            obs = env.reset()
            if torch.is_tensor(getattr(env, "targets", None)):
                targets += env.targets[:n].tolist()
            ended = torch.zeros(B, dtype=torch.bool, device=dev)
            ended[n:] = True  # rows beyond this batch's share do not count
            ep_ret = torch.zeros(B, dtype=torch.float64, device=dev)
            ep_len = torch.zeros(B, dtype=torch.long, device=dev)
            ep_succ = torch.zeros(B, dtype=torch.bool, device=dev)
            for t in range(limit):
                actions = policy(obs)
                if not torch.is_tensor(actions):
                    actions = torch.as_tensor(actions, dtype=torch.float32)
                actions = actions.to(dev)
                obs, rew, resets, extras = env.step(actions)
                live = ~ended
                ep_ret += torch.where(live, rew.double(), torch.zeros((), dtype=torch.float64, device=dev))
                done = resets.bool() & live
                ep_len[done] = t + 1
                ep_succ |= extras["successes"].bool() & done
                ended |= done
                if bool(ended.all()):
                    break
            else:
                left = int((~ended).sum())
                raise RuntimeError(f"{left} episode(s) of {type(env).__name__} did not end within {limit} steps; "
                                   f"does the task time out (max_episode_length)?")
            successes += ep_succ[:n].tolist()
            rewards += ep_ret[:n].tolist()
            lengths += ep_len[:n].tolist()
            k += 1
    s = int(sum(successes))
    return EvalResult(task=task_name or type(env).__name__, episodes=episodes, seed=int(seed),
                      success_rate=s / episodes, ci95=success_ci(s, episodes),
                      mean_reward=float(sum(rewards) / episodes), mean_length=float(sum(lengths) / episodes),
                      successes=[bool(x) for x in successes], rewards=rewards, lengths=[int(x) for x in lengths],
                      targets=targets)
