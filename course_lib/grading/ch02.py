"""Chapter 2 (Exercise 2): a custom cart-pole on ``VecEnvBase``, graded against the reference cart-pole (the
instructor's ``course_answers.cartpole.CartpoleTask``; on a student's machine, values it computed for the visible
cases, :mod:`course_lib.grading.reference`).

The student writes ``CartpoleTask(VecEnvBase)`` with ``compute_observations``,
``compute_reward`` (the +1 / -10 reward and the reset conditions) and
``reset_idx``. Each check builds the student's task and the reference with
the same number of environments, puts both in the same seeded batch of
states, calls one method, and compares:

================================  ===================================================
check                             behaviour
================================  ===================================================
``ch02.observations``             obs_buf = (x, x_dot, theta, theta_dot), in that order
``ch02.reward_alive``             +1 while |theta| < 12 deg, 0 beyond, while the episode goes on
``ch02.reward_fall``              -10 on the step where the episode fails
``ch02.reset_conditions``         reset_buf = 1 exactly when |x| > 3 m or |theta| > 90 deg
``ch02.reset_state``              reset_idx redraws the selected environments only, in the ranges
``ch02.reset_counters``           reset_idx zeroes progress_buf and reset_buf of the selected ones
``ch02.policy``                   the trained policy balances in >= 90 % of 500-step episodes
                                  of the reference task (evaluated in a fresh process)
================================  ===================================================

Parameters of every state check: ``seed`` (the batch), ``n`` (its size),
``edges`` (add states 2 mrad / 2 mm from every threshold) and ``hidden``
(messages say which kind of state fails, never its values).
"""
from __future__ import annotations

import math

import torch

from ..envs import CartpoleCfg
from .common import generator as _gen
from .common import host_tensor as _t
from .common import (judge_reset_counters, judge_success_rate, obs_matrix, per_env_vector, policy_cases,
                     reset_selection, student_task)
from .core import PREAMBLES, Check, CheckFailed, register
from .reference import expected

PREAMBLES["ch02"] = """import math

import torch

import course_lib
from course_lib.envs import VecEnvBase"""

# The reference task's settings, read from its config (their one owner)
_REFERENCE = CartpoleCfg()
UPRIGHT = _REFERENCE.upright_angle  # rad
FALL = _REFERENCE.fall_angle  # rad
TRACK = _REFERENCE.reset_dist  # m
FALL_PENALTY = -_REFERENCE.fall_penalty
POS_RANGE = 0.1  # reset: |x|, |theta| <= 0.1
VEL_RANGE = 0.25  # reset: |x_dot|, |theta_dot| <= 0.25
OBS_NAMES = ("cart position", "cart velocity", "pole angle", "pole angular velocity")

# the kinds of state in a reward / reset batch
KINDS = ("upright", "tilted", "pole fallen", "cart off the track", "cart off and pole fallen")
FAILING = {2, 3, 4}


def _u(g, n, lo, hi):
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def _sign(g, n):
    return torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()


def reward_cases(seed: int = 0, n: int = 500, edges: bool = False, hidden: bool = False) -> dict:
    """States of every kind (see :data:`KINDS`), in a seeded order. float32 q, qd (n, 2); kind (n,) long."""
    g = _gen(seed)
    kind = torch.arange(n) % len(KINDS)
    kind = kind[torch.randperm(n, generator=g)]
    eps = 2e-3
    x = _u(g, n, -TRACK + 0.1, TRACK - 0.1)
    th = _sign(g, n) * _u(g, n, 0.0, UPRIGHT - eps)
    tilted = _sign(g, n) * _u(g, n, UPRIGHT + eps, FALL - eps)
    fallen = _sign(g, n) * _u(g, n, FALL + eps, math.pi)
    off = _sign(g, n) * _u(g, n, TRACK + eps, 3.9)
    th = torch.where(kind == 1, tilted, th)
    th = torch.where((kind == 2) | (kind == 4), fallen, th)
    th = torch.where(kind == 3, torch.where(torch.rand(n, generator=g) < 0.5, th, tilted), th)
    x = torch.where((kind == 3) | (kind == 4), off, x)
    qd = (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * 6.0
    if edges:  # 2 mrad / 2 mm either side of every threshold, both signs
        ex, et, ek = [], [], []
        for s in (-1.0, 1.0):
            for t, k in ((UPRIGHT - eps, 0), (UPRIGHT + eps, 1), (FALL - eps, 1), (FALL + eps, 2)):
                ex.append(0.5 * s)
                et.append(s * t)
                ek.append(k)
            for xx, k in ((TRACK - eps, 0), (TRACK + eps, 3)):
                ex.append(s * xx)
                et.append(0.05 * s)
                ek.append(k)
        x = torch.cat((x, torch.tensor(ex, dtype=torch.float64)))
        th = torch.cat((th, torch.tensor(et, dtype=torch.float64)))
        kind = torch.cat((kind, torch.tensor(ek)))
        qd = torch.cat((qd, torch.zeros(len(ex), 2, dtype=torch.float64)))
    q = torch.stack((x, th), -1)
    progress = torch.randint(0, 499, (len(kind),), generator=g)
    return {"q": q.float(), "qd": qd.float(), "kind": kind, "progress": progress, "hidden": hidden, "seed": seed}


def obs_cases(seed: int = 0, n: int = 256, edges: bool = False, hidden: bool = False) -> dict:
    g = _gen(seed)
    q = torch.stack((_u(g, n, -3.5, 3.5), _u(g, n, -math.pi, math.pi)), -1)
    qd = torch.stack((_u(g, n, -4.0, 4.0), _u(g, n, -8.0, 8.0)), -1)
    return {"q": q.float(), "qd": qd.float(), "hidden": hidden, "seed": seed}


def reset_cases(seed: int = 0, n: int = 256, k: int | None = None, edges: bool = False,
                hidden: bool = False) -> dict:
    """A batch in mid-episode; ``env_ids``: ``k`` environments (default n // 3) to reset."""
    g = _gen(seed)
    q = torch.stack((_u(g, n, -2.0, 2.0), _u(g, n, -1.0, 1.0)), -1)
    qd = (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * 4.0
    progress, env_ids = reset_selection(g, n, k)
    return {"q": q.float(), "qd": qd.float(), "progress": progress, "env_ids": env_ids, "hidden": hidden,
            "seed": seed}


# ------------------------------------------------------------------ building tasks
def _reference(answers, n: int, seed: int):
    """The reference cart-pole (``answers``: the instructor's package; see :mod:`course_lib.grading.reference`)."""
    return answers.TASKS["cartpole"]({"num_envs": int(n), "seed": int(seed)})


def _student(cls, n: int, seed: int, method: str | None = None):
    from .. import answers

    pkg = answers.load()
    return student_task(cls, pkg.TASKS["cartpole"] if pkg is not None else "CartpoleTask", n, seed, method)


def _put(env, q, qd):
    ids = torch.arange(env.num_envs)
    env.set_joint_positions(ids, q.to(env.device))
    env.set_joint_velocities(ids, qd.to(env.device))


# ------------------------------------------------------------------ observations
def produce_obs(objs, cases):
    env = _student(objs["CartpoleTask"], len(cases["q"]), cases["seed"], "compute_observations")
    _put(env, cases["q"], cases["qd"])
    env.compute_observations()
    return {"obs": _t(env.obs_buf, "self.obs_buf")}


def _expected_obs(cases):
    """(n, 4) the reference's observations of the cases' states."""
    def compute(answers):
        env = _reference(answers, len(cases["q"]), cases["seed"])
        _put(env, cases["q"], cases["qd"])
        return env.compute_observations().clone()

    return expected("ch02.obs", {k: cases[k] for k in ("q", "qd", "seed")}, compute)


def judge_obs(cases, out):
    exp = _expected_obs(cases)
    obs = out["obs"]
    n = len(exp)
    obs = obs_matrix(obs, n, 4)
    ok = torch.isclose(obs, exp, atol=1e-5, rtol=1e-5)
    if bool(ok.all()):
        return f"{n} states"
    # which expected column does each of the student's columns hold?
    found = []
    for j in range(4):
        match = [i for i in range(4) if bool(torch.isclose(obs[:, j], exp[:, i], atol=1e-5, rtol=1e-5).all())]
        found.append(OBS_NAMES[match[0]] if match else None)
    if all(found) and sorted(found) != list(found) and set(found) == set(OBS_NAMES):
        raise CheckFailed("the observation has the right values in the wrong order: your columns are "
                          f"({', '.join(found)}); expected ({', '.join(OBS_NAMES)})")
    bad_cols = [OBS_NAMES[j] for j in range(4) if not bool(ok[:, j].all())]
    rows = (~ok.all(-1)).nonzero().flatten()
    msg = f"{len(rows)} of {n} observations differ from the reference, in column(s) {bad_cols}"
    if not cases["hidden"]:
        i = int(rows[0])
        msg += (f"; e.g. for q = {cases['q'][i].tolist()}, qd = {cases['qd'][i].tolist()}: expected "
                f"{[round(v, 4) for v in exp[i].tolist()]}, got {[round(v, 4) for v in obs[i].tolist()]}")
    raise CheckFailed(msg)


# ------------------------------------------------------------------ reward and reset conditions
def produce_reward(objs, cases):
    env = _student(objs["CartpoleTask"], len(cases["q"]), cases["seed"], "compute_reward")
    _put(env, cases["q"], cases["qd"])
    env.progress_buf[:] = cases["progress"].to(env.device)
    env.reset_buf.zero_()  # as VecEnvBase.step does before compute_reward
    env.rew_buf.zero_()
    env.compute_reward()
    return {"rew": _t(env.rew_buf, "self.rew_buf"), "reset": _t(env.reset_buf, "self.reset_buf")}


def _expected_reward(cases):
    """((n,) reward, (n,) reset_buf): the reference's compute_reward on the cases' states."""
    def compute(answers):
        env = _reference(answers, len(cases["q"]), cases["seed"])
        _put(env, cases["q"], cases["qd"])
        env.progress_buf[:] = cases["progress"]
        env.reset_buf.zero_()
        env.compute_reward()
        return env.rew_buf.clone(), env.reset_buf.clone()

    return expected("ch02.reward", {k: cases[k] for k in ("q", "qd", "progress", "seed")}, compute)


def _kind_report(kind, bad, cases, got, exp, what):
    n_bad = int(bad.sum())
    lines = []
    for k, label in enumerate(KINDS):
        sel = kind == k
        nb = int((bad & sel).sum())
        if nb:
            lines.append(f"{label}: {nb} of {int(sel.sum())} wrong")
    msg = f"{what}{n_bad} of {len(kind)} states wrong ({'; '.join(lines)})"
    if not cases["hidden"]:
        i = int(bad.nonzero().flatten()[0])
        x, th = cases["q"][i].tolist()
        msg += (f"; e.g. x = {x:.3f} m, theta = {th:.4f} rad ({math.degrees(th):.1f} deg): expected "
                f"{float(exp[i]):g}, got {float(got[i]):g}")
    return msg


def judge_reward_alive(cases, out):
    n = len(cases["q"])
    rew = per_env_vector(out["rew"], n, "rew_buf").double()
    exp, _ = _expected_reward(cases)
    kind = cases["kind"]
    sel = (kind == 0) | (kind == 1)
    bad = sel & ~torch.isclose(rew, exp.double(), atol=1e-5)
    if bool(bad.any()):
        hint = ""
        up = kind == 0
        if bool((bad & up).any()) and bool(torch.isclose(rew[up], -exp.double()[up]).all()):
            hint = " (a sign error? +1 per step while the pole is within 12 degrees)"
        raise CheckFailed(_kind_report(kind, bad, cases, rew, exp, "") + hint)
    return f"{int(sel.sum())} states"


def judge_reward_fall(cases, out):
    n = len(cases["q"])
    rew = per_env_vector(out["rew"], n, "rew_buf").double()
    exp, _ = _expected_reward(cases)
    kind = cases["kind"]
    sel = torch.tensor([int(k) in FAILING for k in kind])
    bad = sel & ~torch.isclose(rew, exp.double(), atol=1e-5)
    if bool(bad.any()):
        hint = ""
        if bool(torch.isclose(rew[bad], torch.tensor(-FALL_PENALTY, dtype=torch.float64)).any()):
            hint = " (a sign error? the reward on the failing step is -10)"
        elif bool(torch.isclose(rew[bad], torch.tensor(FALL_PENALTY + 1.0, dtype=torch.float64)).any()):
            hint = " (the failing step's reward is -10 alone, without the +1)"
        raise CheckFailed(_kind_report(kind, bad, cases, rew, exp, "")
                          + hint)
    return f"{int(sel.sum())} failing states"


def judge_reset_conditions(cases, out):
    n = len(cases["q"])
    reset = per_env_vector(out["reset"], n, "reset_buf")
    _, exp = _expected_reward(cases)
    got = reset.bool() if reset.dtype == torch.bool else reset != 0
    exp = exp.bool()
    bad = got != exp
    if bool(bad.any()):
        kind = cases["kind"]
        hint = ""
        if bool((bad & (kind == 3)).any()) and not bool((bad & (kind == 2)).any()):
            hint = " (the cart leaving the track, |x| > 3 m, ends an episode too)"
        elif bool((bad & (kind == 2)).any()) and not bool((bad & (kind == 3)).any()):
            hint = " (the pole falling past 90 degrees, |theta| > pi/2, ends an episode)"
        elif bool((bad & ((kind == 0) | (kind == 1))).any()):
            hint = " (only a failure sets reset_buf in compute_reward; time-outs are handled by VecEnvBase.step)"
        exp_f, got_f = exp.float(), got.float()
        raise CheckFailed(_kind_report(kind, bad, cases, got_f, exp_f, "reset_buf after compute_reward: ") + hint)
    return f"{n} states"


# ------------------------------------------------------------------ reset_idx
def produce_reset(objs, cases):
    cls = objs["CartpoleTask"]
    n = len(cases["q"])
    env = _student(cls, n, cases["seed"], "reset_idx")
    _put(env, cases["q"], cases["qd"])
    env.progress_buf[:] = cases["progress"]
    env.reset_buf.fill_(1)
    ids = cases["env_ids"].to(env.device)
    # the student's own method, not VecEnvBase's safety net around it
    type(env).reset_idx(env, ids)
    return {"q": _t(env.get_joint_positions(), "joint positions"), "qd": _t(env.get_joint_velocities(), "joint velocities"),
            "progress": _t(env.progress_buf, "self.progress_buf"), "reset": _t(env.reset_buf, "self.reset_buf")}


def judge_reset_state(cases, out):
    q0, qd0, ids = cases["q"], cases["qd"], cases["env_ids"]
    n = len(q0)
    sel = torch.zeros(n, dtype=torch.bool)
    sel[ids] = True
    q, qd = out["q"].float(), out["qd"].float()
    if tuple(q.shape) != (n, 2) or tuple(qd.shape) != (n, 2):
        raise CheckFailed(f"joint state has shape {tuple(q.shape)} / {tuple(qd.shape)}; expected ({n}, 2)")
    changed = ~(torch.isclose(q, q0) & torch.isclose(qd, qd0)).all(-1)
    if bool((changed & ~sel).any()):
        m = int((changed & ~sel).sum())
        raise CheckFailed(f"reset_idx changed {m} environment(s) that were not in env_ids: reset only env_ids "
                          f"(index with env_ids, e.g. self.set_joint_positions(env_ids, ...))")
    k = int(sel.sum())
    if k == 0:
        return "no environment to reset"
    qs, qds = q[sel], qd[sel]
    if bool((~changed[sel]).all()):
        raise CheckFailed(f"reset_idx left the {k} selected environment(s) as they were: draw new states for them")
    tol = 1e-6
    if bool((qs.abs() > POS_RANGE + tol).any()):
        col = int((qs.abs() > POS_RANGE + tol).any(0).nonzero()[0])
        raise CheckFailed(f"after reset_idx, {('cart position', 'pole angle')[col]} is outside [-{POS_RANGE}, "
                          f"{POS_RANGE}] (largest |value|: {float(qs[:, col].abs().max()):.3f})")
    if bool((qds.abs() > VEL_RANGE + tol).any()):
        col = int((qds.abs() > VEL_RANGE + tol).any(0).nonzero()[0])
        raise CheckFailed(f"after reset_idx, {('cart velocity', 'pole angular velocity')[col]} is outside "
                          f"[-{VEL_RANGE}, {VEL_RANGE}] (largest |value|: {float(qds[:, col].abs().max()):.3f})")
    if k >= 2 and bool((qs == qs[:1]).all()) and bool((qds == qds[:1]).all()):
        raise CheckFailed(f"reset_idx gave all {k} environments the same state: draw a random one per environment "
                          f"(torch.rand(len(env_ids), 2, generator=self.rng, device=self.device))")
    if k >= 30:
        for name, vals, r in (("positions", qs, POS_RANGE), ("velocities", qds, VEL_RANGE)):
            spread = vals.std(0)
            if bool((spread < 0.25 * (2 * r) / math.sqrt(12)).any()):
                raise CheckFailed(f"the reset {name} hardly vary (std {spread.tolist()}): draw them uniformly "
                                  f"over [-{r}, {r}]")
    return f"{k} of {n} environments reset"


# ------------------------------------------------------------------ trained policy
def judge_policy(params, result):
    """``result``: what ``evaluate_policy`` printed (a dict)."""
    return judge_success_rate(params, result, 0.9, did=f"balanced the pole for {result.get('max_steps', 500)} steps",
                              where=result.get("where", "the reference task"), unit="steps",
                              advice="Train longer, or check your reward and observations")


_state = {"defaults": {"seed": 0}, "needs": ("CartpoleTask",)}
register(Check("ch02.observations", "observations are (cart position, cart velocity, pole angle, pole angular "
               "velocity)", cases=obs_cases, produce=produce_obs, judge=judge_obs, expects=(_expected_obs,),
               **_state))
register(Check("ch02.reward_alive", "the reward is +1 while |theta| < 12 degrees and 0 beyond, while the episode "
               "goes on", cases=reward_cases, produce=produce_reward, judge=judge_reward_alive,
               expects=(_expected_reward,), **_state))
register(Check("ch02.reward_fall", "the reward is -10 on the step where the episode fails", cases=reward_cases,
               produce=produce_reward, judge=judge_reward_fall,
               expects=(_expected_reward,), **_state))
register(Check("ch02.reset_conditions", "an episode fails exactly when |x| > 3 m or |theta| > 90 degrees",
               cases=reward_cases, produce=produce_reward, judge=judge_reset_conditions,
               expects=(_expected_reward,), **_state))
register(Check("ch02.reset_state", "reset_idx redraws only env_ids, uniformly within the initial ranges",
               cases=reset_cases, produce=produce_reset, judge=judge_reset_state, **_state))
register(Check("ch02.reset_counters", "reset_idx zeroes progress_buf and reset_buf of env_ids only",
               cases=reset_cases, produce=produce_reset, judge=judge_reset_counters, **_state))
register(Check("ch02.policy", "the trained policy balances the reference cart-pole in >= 90% of 500-step episodes",
               cases=policy_cases, judge=judge_policy, kind="policy",
               defaults={"checkpoint": "runs/cartpole_policy.pth", "task": "cartpole", "episodes": 500, "seed": 0,
                         "min_success": 0.9}))
