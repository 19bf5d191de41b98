"""Chapter 1 (Exercise 1): tensors for thousands of environments, and measuring them.

The student writes three functions:

- ``reach_reward(ee_pos, targets, actions)``: the chapter's Franka reach
  reward for a whole batch, compared with :func:`course_lib.envs.rewards.reach_reward`;
- ``reset_done(q, progress, done, low, high, generator)``: a batched reset of
  the environments marked ``done``, in place;
- ``steps_per_second(env, num_steps, clock)``: environment steps per second,
  measured with a warm-up step outside the clock; graded with a fake task and
  a fake clock whose answer is known exactly.

================================  ===================================================
check                             behaviour
================================  ===================================================
``ch01.reach_reward``             equals the reference reward on a seeded batch
``ch01.reset_done_state``         redraws exactly the done rows, uniformly in [low, high)
``ch01.reset_done_progress``      zeroes progress of the done rows only
``ch01.steps_per_second``         (num_envs x timed steps) / elapsed, warm-up excluded
================================  ===================================================
"""
from __future__ import annotations

import math

import torch

from .core import PREAMBLES, Check, CheckFailed, register

PREAMBLES["ch01"] = """import math
import time

import torch

import course_lib"""


def _gen(seed):
    return torch.Generator().manual_seed(int(seed))


# ------------------------------------------------------------------ reach reward
def reward_cases(seed: int = 0, n: int = 1024, hidden: bool = False, **_) -> dict:
    g = _gen(seed)
    ee = torch.stack((0.3 + 0.4 * torch.rand(n, generator=g), -0.3 + 0.6 * torch.rand(n, generator=g),
                      0.1 + 0.5 * torch.rand(n, generator=g)), -1)
    # a third of the targets within the 5 cm success radius
    offset = torch.randn(n, 3, generator=g)
    offset = offset / offset.norm(dim=-1, keepdim=True)
    radius = torch.where(torch.arange(n) % 3 == 0, 0.045 * torch.rand(n, generator=g),
                         0.055 + 0.5 * torch.rand(n, generator=g))
    targets = ee + offset * radius[:, None]
    actions = 2.0 * torch.rand(n, 7, generator=g) - 1.0
    return {"ee_pos": ee, "targets": targets, "actions": actions, "hidden": hidden}


def produce_reward(objs, cases):
    out = objs["reach_reward"](cases["ee_pos"].clone(), cases["targets"].clone(), cases["actions"].clone())
    if isinstance(out, tuple):  # (total, terms), like the library's reward functions
        out = out[0]
    if not torch.is_tensor(out):
        raise CheckFailed(f"reach_reward returned {type(out).__name__}; expected a tensor of shape (N,)")
    return {"reward": out.detach().cpu().clone()}


def judge_reward(cases, out):
    from ..envs.rewards import reach_reward

    d = torch.linalg.vector_norm(cases["targets"] - cases["ee_pos"], dim=-1)
    exp, terms = reach_reward(d, cases["actions"])
    got = out["reward"]
    n = len(exp)
    if tuple(got.shape) != (n,):
        raise CheckFailed(f"reach_reward returned shape {tuple(got.shape)}; expected (N,) = ({n},): one reward "
                          f"per environment (reduce over the last axis with dim=-1)")
    got = got.double()
    ok = torch.isclose(got, exp.double(), atol=1e-4, rtol=1e-5)
    if bool(ok.all()):
        return f"{n} environments"
    hint = ""
    e = exp.double()
    without_bonus = e - terms["success"].double()
    if bool(torch.isclose(got, without_bonus, atol=1e-4).all()):
        hint = " (the +10 bonus within 5 cm of the target is missing)"
    elif bool(torch.isclose(got, e - 2 * terms["distance"].double(), atol=1e-4).all()):
        hint = " (a sign error on the distance term: the reward is -distance)"
    elif bool(torch.isclose(got, e - 2 * terms["action"].double(), atol=1e-4).all()):
        hint = " (a sign error on the action penalty: it is -0.01 |action|)"
    msg = f"{int((~ok).sum())} of {n} rewards differ from the reference{hint}"
    if not cases["hidden"]:
        i = int((~ok).nonzero()[0])
        msg += f"; e.g. environment {i} (distance {float(d[i]):.4f} m): expected {float(e[i]):.4f}, got {float(got[i]):.4f}"
    raise CheckFailed(msg)


# ------------------------------------------------------------------ batched reset
def reset_cases(seed: int = 0, n: int = 4096, dofs: int = 7, frac: float = 0.3, hidden: bool = False, **_) -> dict:
    g = _gen(seed)
    q = torch.randn(n, dofs, generator=g) * 3.0
    progress = torch.randint(1, 500, (n,), generator=g)
    done = torch.rand(n, generator=g) < frac
    low = -1.0 - torch.rand(dofs, generator=g)
    high = 0.5 + torch.rand(dofs, generator=g)
    return {"q": q, "progress": progress, "done": done, "low": low, "high": high, "gen_seed": int(seed) + 17,
            "hidden": hidden}


def produce_reset(objs, cases):
    fn = objs["reset_done"]
    outs = {}
    for tag in ("a", "b"):  # twice, with equally seeded generators: the same result expected
        q, progress = cases["q"].clone(), cases["progress"].clone()
        g = torch.Generator().manual_seed(cases["gen_seed"])
        ret = fn(q, progress, cases["done"].clone(), cases["low"].clone(), cases["high"].clone(), g)
        if isinstance(ret, tuple) and len(ret) == 2 and all(torch.is_tensor(r) for r in ret):
            q, progress = ret  # returned new tensors instead of updating in place: accepted
        outs[f"q_{tag}"] = q.detach().cpu().clone()
        outs[f"progress_{tag}"] = progress.detach().cpu().clone()
    return outs


def judge_reset_state(cases, out):
    q0, done, low, high = cases["q"], cases["done"], cases["low"], cases["high"]
    q = out["q_a"]
    n, dofs = q0.shape
    if tuple(q.shape) != (n, dofs):
        raise CheckFailed(f"q has shape {tuple(q.shape)} after reset_done; expected {(n, dofs)}")
    q = q.float()
    same = (q == q0).all(-1)
    if bool((~same & ~done).any()):
        raise CheckFailed(f"reset_done changed {int((~same & ~done).sum())} row(s) that were not done: index "
                          f"with the mask (q[done] = ...)")
    k = int(done.sum())
    if k == 0:
        return "no environment done"
    new = q[done]
    if bool(same[done].all()):
        raise CheckFailed(f"reset_done did not change the {k} done rows (did it modify a copy of q?)")
    if bool(((new < low - 1e-6) | (new > high + 1e-6)).any()):
        raise CheckFailed("some reset values are outside [low, high): scale torch.rand(...) by (high - low) and "
                          "add low")
    if k >= 100:
        # uniform: mean (low + high) / 2, standard deviation (high - low) / sqrt(12), per column
        mean_err = (new.mean(0) - (low + high) / 2).abs() / (high - low)
        std_ratio = new.std(0) / ((high - low) / math.sqrt(12))
        if bool((mean_err > 0.1).any()) or bool(((std_ratio < 0.8) | (std_ratio > 1.2)).any()):
            raise CheckFailed("the reset values are not spread uniformly over [low, high) in every column "
                              f"(mean off by {mean_err.max():.2f} of the range, std ratio {std_ratio.min():.2f}"
                              f"..{std_ratio.max():.2f}); draw each value with torch.rand")
        if bool((new[1:] == new[:1]).all()):
            raise CheckFailed("all done environments got the same values: draw one row per environment")
    if not torch.equal(out["q_a"], out["q_b"]):
        raise CheckFailed("two calls with equally seeded generators gave different values: draw with "
                          "torch.rand(..., generator=generator)")
    return f"{k} of {n} environments reset"


def judge_reset_progress(cases, out):
    p0, done = cases["progress"], cases["done"]
    p = out["progress_a"].reshape(-1)
    if p.numel() != len(p0):
        raise CheckFailed(f"progress has {p.numel()} entries after reset_done, expected {len(p0)}")
    if bool((p[done] != 0).any()):
        raise CheckFailed(f"progress of {int((p[done] != 0).sum())} done environment(s) is not zero")
    if bool((p[~done] != p0[~done]).any()):
        raise CheckFailed("reset_done changed the progress of environments that were not done")
    return f"{int(done.sum())} counters zeroed"


# ------------------------------------------------------------------ measuring
class FakeClock:
    """A clock that only moves when the fake task steps (seconds)."""

    def __init__(self):
        self.t = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.t


class FakeTask:
    """Looks like a course task to ``steps_per_second``: ``num_envs``, ``num_actions``, ``device``, ``step``.

    Its first step costs ``first_step_s`` (compilation, caches: why a warm-up
    step is run before the clock starts), every later one ``step_s``.
    """

    def __init__(self, clock: FakeClock, num_envs: int, num_actions: int, step_s: float, first_step_s: float):
        self.clock, self.num_envs, self.num_actions = clock, num_envs, num_actions
        self.device = torch.device("cpu")
        self.step_s, self.first_step_s = step_s, first_step_s
        self.steps = 0
        self.obs_buf = torch.zeros(num_envs, 4)

    def step(self, actions):
        if not torch.is_tensor(actions) or tuple(actions.shape) != (self.num_envs, self.num_actions):
            shape = tuple(actions.shape) if torch.is_tensor(actions) else type(actions).__name__
            raise ValueError(f"actions must be a tensor of shape (num_envs, num_actions) = "
                             f"({self.num_envs}, {self.num_actions}), got {shape}")
        self.clock.t += self.first_step_s if self.steps == 0 else self.step_s
        self.steps += 1
        return self.obs_buf, torch.zeros(self.num_envs), torch.zeros(self.num_envs, dtype=torch.long), {}

    def reset(self):
        return self.obs_buf


def sps_cases(num_envs: int = 4096, num_steps: int = 100, step_s: float = 0.004, num_actions: int = 7,
              hidden: bool = False, **_) -> dict:
    return {"num_envs": num_envs, "num_steps": num_steps, "step_s": step_s, "num_actions": num_actions,
            "first_step_s": 2.0, "hidden": hidden}


def produce_sps(objs, cases):
    clock = FakeClock()
    env = FakeTask(clock, cases["num_envs"], cases["num_actions"], cases["step_s"], cases["first_step_s"])
    rate = objs["steps_per_second"](env, cases["num_steps"], clock)
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise CheckFailed(f"steps_per_second returned {type(rate).__name__}; expected a number") from None
    return {"rate": torch.tensor(rate, dtype=torch.float64), "steps": torch.tensor(env.steps)}


def judge_sps(cases, out):
    n, s, dt = cases["num_envs"], cases["num_steps"], cases["step_s"]
    exp = n / dt
    rate, steps = float(out["rate"]), int(out["steps"])
    if steps != s + 1:
        raise CheckFailed(f"steps_per_second(env, {s}, clock) called env.step {steps} times; expected {s + 1} "
                          f"(one warm-up step, then {s} timed steps)")
    if math.isclose(rate, exp, rel_tol=1e-6):
        return f"{rate:.0f} env-steps/s, as expected"
    hint = ""
    first = cases["first_step_s"]
    if math.isclose(rate, 1.0 / dt, rel_tol=1e-6):
        hint = " (count every environment: num_envs environment steps per call to step)"
    elif any(math.isclose(rate, r, rel_tol=1e-6) for r in (n * s / (first + s * dt), n * (s + 1) / (first + s * dt))):
        hint = " (start the clock after the warm-up step)"
    elif math.isclose(rate, dt / n, rel_tol=1e-6):
        hint = " (upside down: steps per second, not seconds per step)"
    msg = f"steps_per_second returned {rate:.6g}; expected {exp:.6g} env-steps/s{hint}"
    if cases["hidden"]:
        msg = f"steps_per_second returned a wrong rate on a hidden task{hint}"
    raise CheckFailed(msg)


register(Check("ch01.reach_reward", "reach_reward equals the chapter's reward on a batch of environments",
               needs=("reach_reward",), cases=reward_cases, produce=produce_reward, judge=judge_reward,
               defaults={"seed": 0}))
register(Check("ch01.reset_done_state", "reset_done redraws exactly the done rows of q, uniformly in [low, high)",
               needs=("reset_done",), cases=reset_cases, produce=produce_reset, judge=judge_reset_state,
               defaults={"seed": 0}))
register(Check("ch01.reset_done_progress", "reset_done zeroes the progress counters of the done environments only",
               needs=("reset_done",), cases=reset_cases, produce=produce_reset, judge=judge_reset_progress,
               defaults={"seed": 0}))
register(Check("ch01.steps_per_second", "steps_per_second measures env-steps/s after one untimed warm-up step",
               needs=("steps_per_second",), cases=sps_cases, produce=produce_sps, judge=judge_sps))
