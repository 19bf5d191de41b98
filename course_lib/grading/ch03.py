"""Chapter 3 (Exercise 3): the Franka Panda reach task, graded against ``course_lib.envs.FrankaReachTask``.

The student writes ``compute_observations``, ``compute_reward`` and
``reset_idx`` of ``FrankaReachTask(VecEnvBase)``. Each check builds the
student's task and the reference with the same number of environments, puts
both in the same seeded batch of joint states, targets and actions, calls one
method, and compares:

==========================  ===========================================================
check                       behaviour
==========================  ===========================================================
``ch03.observations``       obs_buf = (joint positions 7, joint velocities 7, target - TCP 3)
``ch03.reward``             -distance - 0.01 |action| outside the 5 cm ball
``ch03.success``            +10 and reset_buf = 1 inside the 5 cm ball, and only there
``ch03.reset_joints``       reset_idx: joint positions of env_ids random and inside the limits
``ch03.reset_targets``      reset_idx: targets of env_ids uniform in the chapter's box
``ch03.reset_counters``     reset_idx zeroes progress_buf and reset_buf of env_ids only
``ch03.policy``             the trained policy reaches in >= 80 % of 1000 reference episodes
``ch03.policy_reward``      its mean reward per control step on them is above -0.2
==========================  ===========================================================

Parameters of every state check: ``seed`` (the batch), ``n`` (its size),
``edges`` (add the hidden boundary cases: targets 0.2 mm either side of the
5 cm ball, joints at their limits, zero and saturated actions) and
``hidden`` (messages say which kind of state fails, never its values).

"Mean reward" in the chapter (``Mean Reward: -0.45`` at 12 % success,
"> -0.2" expected after training) is the reward per control step, averaged
over every step of every evaluation episode: the sum of the episodes'
rewards divided by the sum of their lengths. Measured, and the thresholds
calibrated on 20 seeds, in ``benchmarks/RESULTS.md`` (chapter 3).
"""
from __future__ import annotations

import math

import torch

from ..envs import FrankaReachCfg
from .common import generator as _gen
from .common import host_tensor as _t
from .common import evaluated as _evaluated
from .common import (judge_reset_counters, judge_success_rate, obs_matrix, per_env_vector, policy_cases,
                     reset_selection, student_task)
from .core import PREAMBLES, Check, CheckFailed, register

PREAMBLES["ch03"] = """import math

import torch

import course_lib
from course_lib.envs import VecEnvBase
from course_lib.envs.franka_reach import PANDA_HOME, FrankaReachCfg, configure_panda"""

# The reference task's settings, read from its config (their one owner)
_REFERENCE = FrankaReachCfg()
SUCCESS_RADIUS = _REFERENCE.success_radius  # m
SUCCESS_BONUS = _REFERENCE.success_bonus
ACTION_WEIGHT = _REFERENCE.action_penalty
BOX_LOW = tuple(_REFERENCE.target_low)  # m, the chapter's target box
BOX_HIGH = tuple(_REFERENCE.target_high)
BLOCKS = (("joint positions", 0, 7), ("joint velocities", 7, 14), ("target - TCP", 14, 17))

# the kinds of state in a reward batch
KINDS = ("far from the target", "near, outside 5 cm", "inside 5 cm", "just outside 5 cm (+0.2 mm)",
         "just inside 5 cm (-0.2 mm)")
INSIDE = {2, 4}
ACTION_KINDS = ("random", "zero", "saturated", "beyond [-1, 1]")


def _limits():
    from ..envs import FrankaReachTask

    env = FrankaReachTask({"num_envs": 1, "seed": 0})
    return env.robot.lower.clone(), env.robot.upper.clone(), env.robot.velocity_limit[0].clone()


def _random_q(g, n, lower, upper, edges: bool):
    """(n, 7) joint positions inside the limits; with ``edges`` some joints sit exactly at a limit."""
    u = torch.rand(n, 7, generator=g)
    q = lower + u * (upper - lower)
    if edges:
        at = torch.rand(n, 7, generator=g) < 0.2
        side = torch.rand(n, 7, generator=g) < 0.5
        q = torch.where(at, torch.where(side, lower.expand(n, 7), upper.expand(n, 7)), q)
    return q


def _tcp(q: torch.Tensor) -> torch.Tensor:
    """(n, 3) TCP positions of the reference Panda at joint positions ``q`` (n, 7)."""
    from ..envs import FrankaReachTask

    env = FrankaReachTask({"num_envs": len(q), "seed": 0})
    env.set_joint_positions(torch.arange(len(q)), q)
    return env.get_end_effector_position().clone()


def state_cases(seed: int = 0, n: int = 300, edges: bool = False, hidden: bool = False) -> dict:
    """A seeded batch: q, qd (n, 7), targets (n, 3), actions (n, 7), and the kind of each state.

    ``kind`` (n,): index in :data:`KINDS` (distance from the target);
    ``action_kind`` (n,): index in :data:`ACTION_KINDS`.
    """
    g = _gen(seed)
    lower, upper, vlim = _limits()
    n_kinds = len(KINDS) if edges else 3
    kind = (torch.arange(n) % n_kinds)[torch.randperm(n, generator=g)]
    q = _random_q(g, n, lower, upper, edges)
    qd = (2 * torch.rand(n, 7, generator=g) - 1) * vlim
    tcp = _tcp(q)
    direction = torch.randn(n, 3, generator=g)
    direction = direction / torch.linalg.vector_norm(direction, dim=-1, keepdim=True)
    dist = torch.empty(n)
    far = 0.15 + 0.85 * torch.rand(n, generator=g)
    near = SUCCESS_RADIUS + 0.002 + 0.08 * torch.rand(n, generator=g)
    inside = (SUCCESS_RADIUS - 0.002) * torch.rand(n, generator=g)
    for k, d in enumerate((far, near, inside, torch.full((n,), SUCCESS_RADIUS + 2e-4),
                           torch.full((n,), SUCCESS_RADIUS - 2e-4))):
        dist = torch.where(kind == k, d, dist)
    targets = tcp + direction * dist[:, None]
    n_akinds = len(ACTION_KINDS) if edges else 1
    action_kind = (torch.arange(n) % n_akinds)[torch.randperm(n, generator=g)]
    actions = 2 * torch.rand(n, 7, generator=g) - 1
    saturated = torch.where(torch.rand(n, 7, generator=g) < 0.5, -1.0, 1.0)
    actions = torch.where((action_kind == 1)[:, None], torch.zeros_like(actions), actions)
    actions = torch.where((action_kind == 2)[:, None], saturated, actions)
    actions = torch.where((action_kind == 3)[:, None], 1.5 * saturated, actions)
    progress = torch.randint(0, 499, (n,), generator=g)
    return {"q": q, "qd": qd, "targets": targets, "actions": actions, "kind": kind, "action_kind": action_kind,
            "progress": progress, "hidden": hidden, "seed": seed}


def reset_cases(seed: int = 0, n: int = 256, k: int | None = None, edges: bool = False,
                hidden: bool = False) -> dict:
    """A batch in mid-episode; ``env_ids``: ``k`` environments (default n // 3) to reset."""
    g = _gen(seed)
    lower, upper, vlim = _limits()
    q = _random_q(g, n, lower, upper, False)
    qd = (2 * torch.rand(n, 7, generator=g) - 1) * 0.5 * vlim
    targets = torch.tensor(BOX_LOW) + torch.rand(n, 3, generator=g) * (torch.tensor(BOX_HIGH) - torch.tensor(BOX_LOW))
    progress, env_ids = reset_selection(g, n, k)
    return {"q": q, "qd": qd, "targets": targets, "progress": progress, "env_ids": env_ids, "hidden": hidden,
            "seed": seed}


# ------------------------------------------------------------------ building tasks
def _reference(n: int, seed: int):
    from ..envs import FrankaReachTask

    return FrankaReachTask({"num_envs": int(n), "seed": int(seed)})


def _student(cls, n: int, seed: int, method: str | None = None):
    from ..envs import FrankaReachTask

    env = student_task(cls, FrankaReachTask, n, seed, method)
    targets = getattr(env, "targets", None)
    if not torch.is_tensor(targets) or tuple(targets.shape) != (n, 3):
        raise CheckFailed(f"self.targets must be a ({n}, 3) tensor (the given __init__ makes it); got "
                          f"{type(targets).__name__ if not torch.is_tensor(targets) else tuple(targets.shape)}")
    return env


def _put(env, cases):
    ids = torch.arange(env.num_envs)
    env.set_joint_positions(ids, cases["q"].to(env.device))
    env.set_joint_velocities(ids, cases["qd"].to(env.device))
    env.targets[:] = cases["targets"].to(env.device)
    if "actions" in cases:
        env.actions[:] = cases["actions"].to(env.device)
    if "progress" in cases:
        env.progress_buf[:] = cases["progress"].to(env.device)


# ------------------------------------------------------------------ observations
def produce_obs(objs, cases):
    env = _student(objs["FrankaReachTask"], len(cases["q"]), cases["seed"], "compute_observations")
    _put(env, cases)
    out = env.compute_observations()
    obs = env.obs_buf if torch.is_tensor(env.obs_buf) else out
    return {"obs": _t(obs, "self.obs_buf")}


def _expected_obs(cases):
    env = _reference(len(cases["q"]), cases["seed"])
    _put(env, cases)
    return env.compute_observations().clone()


def judge_obs(cases, out):
    exp = _expected_obs(cases)
    obs = out["obs"]
    n = len(exp)
    obs = obs_matrix(obs, n, 17)
    ok = torch.isclose(obs, exp, atol=1e-4, rtol=1e-4)
    if bool(ok.all()):
        return f"{n} states"
    # which block of the reference does each block of the student's observation hold?
    found = []
    for name, a, b in BLOCKS:
        hit = None
        for other, c, d in BLOCKS:
            if b - a == d - c and bool(torch.isclose(obs[:, a:b], exp[:, c:d], atol=1e-4, rtol=1e-4).all()):
                hit = other
        found.append(hit)
    if all(found) and found != [b[0] for b in BLOCKS]:
        raise CheckFailed(f"the observation has the right values in the wrong order: your blocks are "
                          f"({', '.join(found)}); expected ({', '.join(b[0] for b in BLOCKS)})")
    rel = obs[:, 14:17]
    if bool(torch.isclose(rel, -exp[:, 14:17], atol=1e-4, rtol=1e-4).all()):
        raise CheckFailed("observations 14-16 have the wrong sign: the chapter's relative target is "
                          "target - end effector (self.targets - ee_pos), not ee_pos - target")
    if bool(torch.isclose(rel, torch.as_tensor(cases["targets"]).float(), atol=1e-4).all()):
        raise CheckFailed("observations 14-16 are the target's position; the chapter's observation is the target "
                          "relative to the end effector (self.targets - self.get_end_effector_position())")
    bad_blocks = [name for name, a, b in BLOCKS if not bool(ok[:, a:b].all())]
    rows = (~ok.all(-1)).nonzero().flatten()
    msg = f"{len(rows)} of {n} observations differ from the reference, in {', '.join(bad_blocks)}"
    if not cases["hidden"]:
        i = int(rows[0])
        msg += (f"; e.g. state {i}: expected {[round(v, 3) for v in exp[i].tolist()]}, "
                f"got {[round(v, 3) for v in obs[i].tolist()]}")
    raise CheckFailed(msg)


# ------------------------------------------------------------------ reward and success
def produce_reward(objs, cases):
    env = _student(objs["FrankaReachTask"], len(cases["q"]), cases["seed"], "compute_reward")
    _put(env, cases)
    env.reset_buf.zero_()  # as VecEnvBase.step does before compute_reward
    env.success_buf.zero_()
    env.rew_buf.zero_()
    out = env.compute_reward()
    rew = env.rew_buf if torch.is_tensor(env.rew_buf) else out
    return {"rew": _t(rew, "self.rew_buf"), "reset": _t(env.reset_buf, "self.reset_buf")}


def _expected_reward(cases):
    env = _reference(len(cases["q"]), cases["seed"])
    _put(env, cases)
    env.reset_buf.zero_()
    env.compute_reward()
    return env.rew_buf.clone().double(), env.reset_buf.clone(), env.tcp_distance().clone().double()


def _report(cases, bad, got, exp, what):
    kind, akind = cases["kind"], cases["action_kind"]
    parts = []
    for k, label in enumerate(KINDS):
        nb = int((bad & (kind == k)).sum())
        if nb:
            parts.append(f"{label}: {nb} of {int((kind == k).sum())} wrong")
    for k, label in enumerate(ACTION_KINDS[1:], start=1):
        nb = int((bad & (akind == k)).sum())
        if nb:
            parts.append(f"{label} actions: {nb} of {int((akind == k).sum())} wrong")
    msg = f"{what}{int(bad.sum())} of {len(kind)} states wrong ({'; '.join(parts)})"
    if not cases["hidden"]:
        i = int(bad.nonzero().flatten()[0])
        msg += f"; e.g. state {i}: expected {float(exp[i]):.5g}, got {float(got[i]):.5g}"
    return msg


def judge_reward(cases, out):
    n = len(cases["q"])
    rew = per_env_vector(out["rew"], n, "rew_buf").double()
    exp, _, dist = _expected_reward(cases)
    sel = torch.tensor([int(k) not in INSIDE for k in cases["kind"]])
    bad = sel & ~torch.isclose(rew, exp, atol=2e-4, rtol=1e-4)
    if bool(bad.any()):
        act = torch.linalg.vector_norm(cases["actions"].double(), dim=-1)
        hint = ""
        if bool(torch.isclose(rew[bad], dist[bad], atol=2e-4).any() | torch.isclose(
                rew[bad], dist[bad] - ACTION_WEIGHT * act[bad], atol=2e-4).any()):
            hint = " (a sign error? the distance term is -distance)"
        elif bool(torch.isclose(rew[bad], -dist[bad], atol=2e-4).all()):
            hint = " (the action penalty -0.01 * |action| is missing)"
        elif bool(torch.isclose(rew[bad], -dist[bad] - ACTION_WEIGHT * act[bad] ** 2, atol=2e-4).all()):
            hint = " (the action penalty is the norm |action|, not its square)"
        raise CheckFailed(_report(cases, bad, rew, exp, "outside the 5 cm ball: ") + hint)
    return f"{int(sel.sum())} states outside the success ball"


def judge_success(cases, out):
    n = len(cases["q"])
    rew = per_env_vector(out["rew"], n, "rew_buf").double()
    reset = per_env_vector(out["reset"], n, "reset_buf")
    exp, exp_reset, dist = _expected_reward(cases)
    inside = torch.tensor([int(k) in INSIDE for k in cases["kind"]])
    bad = inside & ~torch.isclose(rew, exp, atol=2e-4, rtol=1e-4)
    if bool(bad.any()):
        hint = ""
        if bool(torch.isclose(rew[bad], exp[bad] - SUCCESS_BONUS, atol=2e-4).all()):
            hint = " (the +10 success bonus is missing)"
        raise CheckFailed(_report(cases, bad, rew, exp, "inside the 5 cm ball: ") + hint)
    got = reset.bool() if reset.dtype == torch.bool else reset != 0
    bad = got != exp_reset.bool()
    if bool(bad.any()):
        hint = (" (reaching the target, distance < 0.05 m, ends the episode: set self.reset_buf to 1 there)"
                if bool((bad & inside).any()) else
                " (only success ends an episode in compute_reward; time-outs are handled by VecEnvBase.step)")
        raise CheckFailed(_report(cases, bad, got.double(), exp_reset.double(), "reset_buf after compute_reward: ")
                          + hint)
    return f"{int(inside.sum())} states inside the ball, {n} reset flags"


# ------------------------------------------------------------------ reset_idx
def produce_reset(objs, cases):
    cls = objs["FrankaReachTask"]
    n = len(cases["q"])
    env = _student(cls, n, cases["seed"], "reset_idx")
    _put(env, cases)
    env.reset_buf.fill_(1)
    requested = []

    def record(env_ids, positions):  # what the student asked for, before the library clamps it
        requested.append(torch.as_tensor(positions).detach().to("cpu", torch.float32).clone().reshape(-1, 7))

    env.add_hook("set_joint_positions", record, owner="ch03.reset")
    ids = cases["env_ids"].to(env.device)
    type(env).reset_idx(env, ids)  # the student's own method, without the hooks around it (VecEnvBase's check)
    req = torch.cat(requested) if requested else torch.zeros(0, 7)
    return {"q": _t(env.get_joint_positions(), "joint positions"), "qd": _t(env.get_joint_velocities(), "joint "
            "velocities"), "targets": _t(env.targets, "self.targets"), "requested": req,
            "progress": _t(env.progress_buf, "self.progress_buf"), "reset": _t(env.reset_buf, "self.reset_buf")}


def _selection(cases):
    n = len(cases["q"])
    sel = torch.zeros(n, dtype=torch.bool)
    sel[cases["env_ids"]] = True
    return sel


def judge_reset_joints(cases, out):
    q0, qd0 = cases["q"], cases["qd"]
    n, sel = len(q0), _selection(cases)
    q, qd, req = out["q"].float(), out["qd"].float(), out["requested"].float()
    if tuple(q.shape) != (n, 7):
        raise CheckFailed(f"joint positions have shape {tuple(q.shape)}; expected ({n}, 7)")
    changed = ~(torch.isclose(q, q0, atol=1e-6) & torch.isclose(qd, qd0, atol=1e-6)).all(-1)
    if bool((changed & ~sel).any()):
        raise CheckFailed(f"reset_idx changed the joints of {int((changed & ~sel).sum())} environment(s) that were "
                          f"not in env_ids: reset only env_ids (self.set_joint_positions(env_ids, ...))")
    k = int(sel.sum())
    if k == 0:
        return "no environment to reset"
    if bool((~changed[sel]).all()):
        raise CheckFailed(f"reset_idx left the joints of the {k} selected environment(s) as they were: draw new "
                          f"joint positions for them (self.set_joint_positions(env_ids, ...))")
    lower, upper, _ = _limits()
    names = [f"joint {j + 1} [{float(lower[j]):.2f}, {float(upper[j]):.2f}]" for j in range(7)]
    tol = 1e-5
    for what, vals in (("asked for", req), ("got", q[sel])):
        out_of = (vals < lower - tol) | (vals > upper + tol)
        if bool(out_of.any()):
            joints = [names[j] for j in range(7) if bool(out_of[:, j].any())]
            raise CheckFailed(f"reset_idx {what} joint positions outside the Panda's limits, for {', '.join(joints)} "
                              f"(rad). The chapter's torch.rand(...) * 0.5 puts joint 4 outside -3.07..-0.07: "
                              f"draw around the home pose PANDA_HOME and clamp to self.robot.lower / upper")
    if bool((qd[sel].abs() > 1e-6).any()):
        raise CheckFailed("reset environments still move: a reset starts at rest (set_joint_positions zeroes the "
                          "velocities; do not set them afterwards)")
    qs = q[sel]
    if k >= 2 and bool((qs == qs[:1]).all()):
        raise CheckFailed(f"reset_idx gave all {k} environments the same joint positions: draw random ones per "
                          f"environment (torch.rand(len(env_ids), 7, generator=self.rng, device=self.device))")
    if k >= 30 and bool((qs.std(0) < 0.02).any()):
        j = int((qs.std(0) < 0.02).nonzero()[0])
        raise CheckFailed(f"the reset joint positions hardly vary (joint {j + 1}: std {float(qs[:, j].std()):.4f} "
                          f"rad): add random noise to every joint")
    return f"{k} of {n} environments reset, inside the joint limits"


def judge_reset_targets(cases, out):
    t0 = cases["targets"]
    n, sel = len(t0), _selection(cases)
    t = out["targets"].float()
    if tuple(t.shape) != (n, 3):
        raise CheckFailed(f"self.targets has shape {tuple(t.shape)}; expected ({n}, 3)")
    changed = ~torch.isclose(t, t0, atol=1e-7).all(-1)
    if bool((changed & ~sel).any()):
        raise CheckFailed(f"reset_idx moved the targets of {int((changed & ~sel).sum())} environment(s) that were "
                          f"not in env_ids: assign self.targets[env_ids] only")
    k = int(sel.sum())
    if k == 0:
        return "no environment to reset"
    ts = t[sel]
    if bool((~changed[sel]).all()):
        raise CheckFailed(f"reset_idx left the targets of the {k} selected environment(s) where they were: draw "
                          f"new ones (self.targets[env_ids] = ...)")
    low, high = torch.tensor(BOX_LOW), torch.tensor(BOX_HIGH)
    out_of = (ts < low - 1e-6) | (ts > high + 1e-6)
    if bool(out_of.any()):
        axes = [("x", "y", "z")[j] for j in range(3) if bool(out_of[:, j].any())]
        raise CheckFailed(f"{int(out_of.any(-1).sum())} of {k} new targets are outside the chapter's box "
                          f"x in [0.3, 0.9], y in [-0.3, 0.3], z in [0.2, 0.8] m (wrong axes: {', '.join(axes)})")
    if k >= 2 and bool((ts == ts[:1]).all()):
        raise CheckFailed(f"reset_idx gave all {k} environments the same target: draw one per environment")
    if k >= 200:  # uniform over the box: each axis reaches near both faces and has a uniform's spread
        width = high - low
        std = ts.std(0)
        for j, axis in enumerate("xyz"):
            if float(ts[:, j].min()) > float(low[j] + 0.1 * width[j]) or float(ts[:, j].max()) < float(
                    high[j] - 0.1 * width[j]) or not 0.7 < float(std[j] / (width[j] / math.sqrt(12))) < 1.3:
                raise CheckFailed(f"the new targets do not cover the box along {axis} (from {float(ts[:, j].min()):.3f} "
                                  f"to {float(ts[:, j].max()):.3f} m, std {float(std[j]):.3f}): draw them uniformly, "
                                  f"low + torch.rand(...) * (high - low)")
    return f"{k} of {n} environments got new targets in the box"


# ------------------------------------------------------------------ trained policy
def _trained_on_the_students_task(result) -> None:
    """CheckFailed where the checkpoint says its policy was trained on a task of course_lib's (or the reference):
    chapter 3's policy points are for training one's own FrankaReachTask. What the checkpoint says is what
    ``course_lib.train`` recorded (``task_class``); a checkpoint edited by hand to say otherwise is not caught here."""
    trained = str(result.get("trained_class") or "")
    if trained.split(".")[0] in ("course_lib", "course_answers"):
        raise CheckFailed(f"this policy was trained on {trained} ({result.get('trained_on')!r}), a task of the course's "
                          f"library, not on your FrankaReachTask: train your own class, course_lib.train("
                          f"FrankaReachTask, ...), and export that policy")


def judge_policy(params, result):
    """``result``: what ``evaluate_policy`` printed (a dict)."""
    if result.get("ok"):
        _trained_on_the_students_task(result)
    return judge_success_rate(params, result, 0.8, did="reached the target (within 5 cm)", where="the reference task",
                              unit="control steps", advice="Train longer, or check your observations and reward")


def judge_policy_reward(params, result):
    need = float(params.get("min_step_reward", -0.2))
    _, n = _evaluated(result)
    _trained_on_the_students_task(result)
    per_step = result.get("mean_step_reward")
    if per_step is None:
        raise CheckFailed("the evaluation did not report the mean reward per step")
    if per_step <= need:
        raise CheckFailed(f"your policy's mean reward per control step on {n} reference episodes is {per_step:.3f}; "
                          f"the chapter expects more than {need:g}. Train longer, or check your reward")
    return f"mean reward per control step {per_step:.3f} over {n} episodes (more than {need:g})"


_state = {"defaults": {"seed": 0}, "needs": ("FrankaReachTask",)}
register(Check("ch03.observations", "observations are (joint positions, joint velocities, target - TCP)",
               cases=state_cases, produce=produce_obs, judge=judge_obs, **_state))
register(Check("ch03.reward", "outside 5 cm the reward is -distance - 0.01 |action|",
               cases=state_cases, produce=produce_reward, judge=judge_reward, **_state))
register(Check("ch03.success", "within 5 cm the reward adds +10 and the episode ends (reset_buf = 1), and only there",
               cases=state_cases, produce=produce_reward, judge=judge_success, **_state))
register(Check("ch03.reset_joints", "reset_idx draws random joint positions inside the Panda's limits for env_ids "
               "only", cases=reset_cases, produce=produce_reset, judge=judge_reset_joints, **_state))
register(Check("ch03.reset_targets", "reset_idx draws targets uniformly in the chapter's box for env_ids only",
               cases=reset_cases, produce=produce_reset, judge=judge_reset_targets, **_state))
register(Check("ch03.reset_counters", "reset_idx zeroes progress_buf and reset_buf of env_ids only",
               cases=reset_cases, produce=produce_reset, judge=judge_reset_counters, **_state))
_policy_defaults = {"checkpoint": "runs/reach_policy.pth", "task": "franka_reach", "episodes": 1000, "seed": 0}
register(Check("ch03.policy", "the trained policy reaches the target in >= 80% of 1000 reference episodes",
               cases=policy_cases, judge=judge_policy, kind="policy",
               defaults={**_policy_defaults, "min_success": 0.8}))
register(Check("ch03.policy_reward", "the trained policy's mean reward per control step is above -0.2",
               cases=policy_cases, judge=judge_policy_reward, kind="policy",
               defaults={**_policy_defaults, "min_step_reward": -0.2}))
