"""Chapter 4 (Exercise 4): reward shaping for the Franka reach task, graded against the instructor's reference.

The references (``course_answers.reach_rewards``) are not in ``course_lib``: every expected value a judge reads
goes through :func:`course_lib.grading.reference.expected` (stored for the visible cases, for a student's
machine). The notebook trains with the student's own functions (``reward=sparse_reward``), and the comparison
requires that its runs were.

The student writes four functions:

- ``sparse_reward(distance)``: +10 within 5 cm of the target, else 0;
- ``dense_reward(distance)``: -distance plus the +10 success bonus;
- ``improved_reward(distance, actions, collided, q, q_lower, q_upper)``: the
  chapter's improved reward, with the joint-limit penalty near each joint's
  own limits;
- ``final_success(metrics, last)``: the success rate over the episodes that
  ended in the last ``last`` iterations of a training run (episode-weighted),
  used to compare the sparse and the dense run.

================================  ===================================================
check                             behaviour
================================  ===================================================
``ch04.sparse_reward``            equals the reference on seeded distances (edges: 5 cm +- 0.1 mm)
``ch04.dense_reward``             equals the reference on seeded distances
``ch04.improved_reward``          equals the reference on seeded batches of every kind of state:
                                  free, success, collision, both, near lower / upper limits,
                                  the home pose (far from every limit), joint 4 near -0.07
``ch04.final_success``            episode-weighted success of the last iterations, seeded metrics
``ch04.comparison``               final_success on the student's own sparse and dense runs
                                  (the same seed, environments and iterations) equals the
                                  reference computation on the same files
================================  ===================================================

Parameters: ``seed``, ``n`` (batch size), ``edges`` (add states at the
thresholds), ``hidden`` (messages say which kind of state fails, never its
values).
"""
from __future__ import annotations

import math
import os

import torch

from ..envs import FrankaReachCfg
from ..sim import asset_path, load_urdf
from .common import generator as _gen
from .core import PREAMBLES, Check, CheckFailed, register
from .reference import StoredValueMissing, expected

PREAMBLES["ch04"] = """import math

import torch

import course_lib"""

# Read from their owners: the Panda's joint limits, rad, from its URDF (as written there: float64); the home
# pose (course_lib.sim.panda), the success radius and the joint-limit margin from the reference task's config.
_PANDA = load_urdf(asset_path("franka_panda.urdf"), 1, dtype=torch.float64)
Q_LOWER = tuple(_PANDA.lower.tolist())
Q_UPPER = tuple(_PANDA.upper.tolist())
_REFERENCE = FrankaReachCfg()
HOME = tuple(_REFERENCE.home_pose)
RADIUS = _REFERENCE.success_radius  # m
MARGIN = _REFERENCE.joint_limit_margin  # rad, the reference's joint-limit margin
BONUS = _REFERENCE.success_bonus  # the sparse and dense rewards' bonus

#: the kinds of state in an improved-reward batch
KINDS = ("free", "success", "collision", "success and collision", "near a lower limit", "near an upper limit",
         "home pose (|q| > 0.9, far from the limits)", "joint 4 near its upper limit (-0.07 rad)")

#: where the comparison looks for the student's runs (written by the notebook's training cell)
RUN_FILES = {"sparse": ("runs/ch04_sparse_metrics.csv", "runs/ch04_sparse.pth"),
             "dense": ("runs/ch04_dense_metrics.csv", "runs/ch04_dense.pth")}


def _limits():
    return torch.tensor(Q_LOWER), torch.tensor(Q_UPPER)


def _as_total(out, name):
    if isinstance(out, tuple):  # (total, terms), like the library's reward functions
        out = out[0]
    if not torch.is_tensor(out):
        raise CheckFailed(f"{name} returned {type(out).__name__}; expected a tensor of shape (N,)")
    return out.detach().to("cpu").clone()


def _shape(got, n, name):
    if tuple(got.shape) != (n,):
        raise CheckFailed(f"{name} returned shape {tuple(got.shape)}; expected (N,) = ({n},): one reward per "
                          f"environment")
    if not got.is_floating_point():
        raise CheckFailed(f"{name} returned dtype {got.dtype}; expected a float tensor (use .float() on a bool mask)")
    return got.double()


# ------------------------------------------------------------------ sparse and dense
def distance_cases(seed: int = 0, n: int = 1000, edges: bool = False, hidden: bool = False) -> dict:
    g = _gen(seed)
    d = torch.where(torch.arange(n) % 3 == 0, 0.049 * torch.rand(n, generator=g),
                    0.051 + 1.2 * torch.rand(n, generator=g))
    d = d[torch.randperm(n, generator=g)]
    if edges:
        d = torch.cat((d, torch.tensor([0.0, RADIUS - 1e-4, RADIUS + 1e-4, 1.5])))
    return {"distance": d.float(), "hidden": hidden}


def _produce_dist(fn_name):
    def produce(objs, cases):
        out = objs[fn_name](cases["distance"].clone())
        return {"reward": _as_total(out, fn_name)}

    return produce


def _expected_dist(fn_name, d):
    """((n,) reward, {term: (n,)}) of the reference ``fn_name`` ("sparse_reward", "dense_reward") at distances d."""
    ref = {"sparse_reward": "sparse_reach_reward", "dense_reward": "dense_reach_reward"}[fn_name]
    return expected(f"ch04.{fn_name}", {"distance": d}, lambda answers: getattr(answers.reach_rewards, ref)(d))


def _judge_dist(fn_name, hints):
    def judge(cases, out):
        d = cases["distance"]
        exp, terms = _expected_dist(fn_name, d)
        exp = exp.double()
        got = _shape(out["reward"], len(d), fn_name)
        ok = torch.isclose(got, exp, atol=1e-5, rtol=1e-6)
        if bool(ok.all()):
            return f"{len(d)} distances"
        inside = d < RADIUS
        hint = next((h for f, h in hints if bool(torch.isclose(got, f(d, terms).double(), atol=1e-5).all())), "")
        msg = (f"{int((~ok).sum())} of {len(d)} rewards differ from the reference (within 5 cm: "
               f"{int((~ok & inside).sum())} of {int(inside.sum())}; beyond: {int((~ok & ~inside).sum())} of "
               f"{int((~inside).sum())}){hint}")
        if not cases["hidden"]:
            i = int((~ok).nonzero()[0])
            msg += f"; e.g. distance {float(d[i]):.4f} m: expected {float(exp[i]):.4f}, got {float(got[i]):.4f}"
        raise CheckFailed(msg)

    return judge


# Hints: wrong answers a student gives, as functions of the distances and the reference's terms
SPARSE_HINTS = (
    (lambda d, t: torch.full_like(d, BONUS), " (+10 everywhere: the bonus is only for distances below 0.05 m)"),
    (lambda d, t: t["success"] / BONUS, " (the bonus is +10, not +1)"),
    (lambda d, t: -d + t["success"], " (that is the dense reward: the sparse one has no -distance)"),
)
DENSE_HINTS = (
    (lambda d, t: t["distance"], " (the +10 success bonus within 5 cm is missing)"),
    (lambda d, t: -t["distance"] + t["success"], " (a sign error: the reward is -distance)"),
    (lambda d, t: t["success"], " (that is the sparse reward: the dense one adds -distance)"),
)


# ------------------------------------------------------------------ improved reward
def improved_cases(seed: int = 0, n: int = 800, edges: bool = False, hidden: bool = False) -> dict:
    """States of every kind (:data:`KINDS`), seeded. distance (n,), actions (n, 7), collided (n,) bool, q (n, 7)."""
    g = _gen(seed)
    lo, hi = _limits()
    kind = (torch.arange(n) % len(KINDS))[torch.randperm(n, generator=g)]
    success = (kind == 1) | (kind == 3)
    d = torch.where(success, 0.049 * torch.rand(n, generator=g), 0.051 + 1.0 * torch.rand(n, generator=g))
    collided = (kind == 2) | (kind == 3)
    actions = 2.0 * torch.rand(n, 7, generator=g) - 1.0
    # joints well inside their limits (0.2 rad away, beyond the 0.15 rad margin)
    q = lo + 0.2 + torch.rand(n, 7, generator=g) * (hi - lo - 0.4)
    pick = torch.rand(n, 7, generator=g) < 0.35
    pick[torch.arange(n), torch.randint(0, 7, (n,), generator=g)] = True  # at least one joint per state
    depth = 0.97 * MARGIN * torch.rand(n, 7, generator=g)  # inside the margin
    q = torch.where(((kind == 4)[:, None]) & pick, lo + depth, q)
    q = torch.where(((kind == 5)[:, None]) & pick, hi - depth, q)
    home = torch.tensor(HOME) + 0.05 * (2 * torch.rand(n, 7, generator=g) - 1)
    q = torch.where((kind == 6)[:, None], home, q)
    j4 = home.clone()
    j4[:, 3] = Q_UPPER[3] - depth[:, 3]
    q = torch.where((kind == 7)[:, None], j4, q)
    if edges:  # 2 mrad either side of the margin on every joint, both limits; 0.1 mm either side of 5 cm
        e_q, e_k = [], []
        for j in range(7):
            for side, limit, k in ((1.0, Q_LOWER[j], 4), (-1.0, Q_UPPER[j], 5)):
                for delta, kk in ((MARGIN - 2e-3, k), (MARGIN + 2e-3, 0)):
                    row = list(HOME)
                    row[j] = limit + side * delta
                    e_q.append(row)
                    e_k.append(kk)
        m = len(e_q)
        q = torch.cat((q, torch.tensor(e_q)))
        kind = torch.cat((kind, torch.tensor(e_k)))
        d = torch.cat((d, torch.full((m,), 0.3)))
        collided = torch.cat((collided, torch.zeros(m, dtype=torch.bool)))
        actions = torch.cat((actions, torch.zeros(m, 7)))
        q = torch.cat((q, torch.tensor([HOME, HOME])))
        kind = torch.cat((kind, torch.tensor([1, 0])))
        d = torch.cat((d, torch.tensor([RADIUS - 1e-4, RADIUS + 1e-4])))
        collided = torch.cat((collided, torch.zeros(2, dtype=torch.bool)))
        actions = torch.cat((actions, 0.5 * torch.ones(2, 7)))
    return {"distance": d.float(), "actions": actions.float(), "collided": collided, "q": q.float(), "kind": kind,
            "hidden": hidden}


def produce_improved(objs, cases):
    lo, hi = _limits()
    out = objs["improved_reward"](cases["distance"].clone(), cases["actions"].clone(), cases["collided"].clone(),
                                  cases["q"].clone(), lo.clone(), hi.clone())
    return {"reward": _as_total(out, "improved_reward")}


def _expected_improved(cases):
    """((n,) reward, {term: (n,)}) of the reference improved reward on the cases' states."""
    def compute(answers):
        lo, hi = _limits()
        return answers.reach_rewards.improved_reach_reward(cases["distance"], cases["actions"], cases["collided"],
                                                           cases["q"], lo, hi)

    return expected("ch04.improved_reward", {k: cases[k] for k in ("distance", "actions", "collided", "q")}, compute)


def judge_improved(cases, out):
    exp, terms = _expected_improved(cases)
    exp = exp.double()
    n = len(exp)
    got = _shape(out["reward"], n, "improved_reward")
    ok = torch.isclose(got, exp, atol=1e-4, rtol=1e-5)
    if bool(ok.all()):
        return f"{n} states of {len(KINDS)} kinds"
    # what does the student's reward look like?
    base = exp - terms["joint_limit"].double()
    chapter = base - _REFERENCE.joint_limit_penalty * (cases["q"].abs() > 0.9).sum(-1).double()
    hints = [
        (chapter, " (this is the chapter's `abs(q) > 0.9` test: on the Panda it penalises joints 4 and 6 at the home "
                  "pose, far from their limits, and misses joint 4 near its upper limit -0.07 rad; penalise joints "
                  "within 0.15 rad of their *own* q_lower / q_upper instead)"),
        (base, " (the joint-limit penalty is missing: -0.1 per joint within 0.15 rad of its limits)"),
        (exp - terms["collision"].double(), " (the collision penalty is missing: -2 where collided)"),
        (exp + 2 * terms["collision"].double(), " (a sign error on the collision penalty: it is -2)"),
        (exp + terms["success"].double(), " (the success bonus is the chapter's scaled +5, not +10)"),
        (exp - terms["action"].double(), " (the action penalty -0.01 |action| is missing)"),
    ]
    hint = next((h for alt, h in hints if bool(torch.isclose(got, alt, atol=1e-4).all())), "")
    kind = cases["kind"]
    lines = [f"{label}: {int((~ok & (kind == k)).sum())} of {int((kind == k).sum())} wrong"
             for k, label in enumerate(KINDS) if bool((~ok & (kind == k)).any())]
    msg = f"{int((~ok).sum())} of {n} rewards differ from the reference ({'; '.join(lines)}){hint}"
    if not cases["hidden"]:
        i = int((~ok).nonzero()[0])
        msg += (f"; e.g. distance {float(cases['distance'][i]):.4f} m, collided {bool(cases['collided'][i])}, "
                f"q = {[round(v, 3) for v in cases['q'][i].tolist()]}: expected {float(exp[i]):.4f}, got "
                f"{float(got[i]):.4f}")
    raise CheckFailed(msg)


# ------------------------------------------------------------------ final success of a run
def _expected_final(what, iteration, episodes, success_rate, last):
    """The reference final_success of a run given as (k,) iteration, episodes and success-rate (NaN: none ended)
    tensors: {"value": of its last ``last`` iterations, "whole_run": of all of them}."""
    def compute(answers):
        rows = [{"iteration": int(i), "episodes": int(e), "success_rate": None if math.isnan(r) else float(r)}
                for i, e, r in zip(iteration.tolist(), episodes.tolist(), success_rate.tolist())]
        return {"value": answers.reach_rewards.final_success(rows, last),
                "whole_run": answers.reach_rewards.final_success(rows, len(rows))}

    return expected(what, {"iteration": iteration, "episodes": episodes, "success_rate": success_rate,
                           "last": int(last)}, compute)


def _metrics_expected(cases):
    rate = torch.where(cases["episodes"] > 0, cases["successes"].double() / cases["episodes"].clamp(min=1).double(),
                       torch.tensor(math.nan, dtype=torch.float64))
    return _expected_final("ch04.final_success", cases["iteration"], cases["episodes"], rate, cases["last"])


def metrics_cases(seed: int = 0, k: int = 120, last: int = 50, edges: bool = False, hidden: bool = False) -> dict:
    """A synthetic run: ``k`` iterations, some with no ended episode (success_rate None)."""
    g = _gen(seed)
    episodes = torch.randint(0, 40, (k,), generator=g)
    episodes[torch.rand(k, generator=g) < 0.25] = 0
    succ = torch.stack([torch.randint(0, int(e) + 1, (1,), generator=g)[0] for e in episodes]) if k else episodes
    return {"iteration": torch.arange(1, k + 1), "episodes": episodes, "successes": succ, "last": int(last),
            "hidden": hidden}


def _rows(cases):
    rows = []
    for it, e, s in zip(cases["iteration"].tolist(), cases["episodes"].tolist(), cases["successes"].tolist()):
        rows.append({"iteration": int(it), "env_steps": int(it) * 16 * 512, "episodes": int(e),
                     "success_rate": (s / e) if e else None, "mean_reward": None, "episode_length": None})
    return rows


def _number(x, name):
    if torch.is_tensor(x):
        if x.numel() != 1:
            raise CheckFailed(f"{name} returned a tensor of shape {tuple(x.shape)}; expected one number")
        x = x.item()
    try:
        return float(x)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} returned {type(x).__name__}; expected a number (a success rate in 0..1)") from None


def produce_final_success(objs, cases):
    return {"value": _number(objs["final_success"](_rows(cases), cases["last"]), "final_success")}


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 + 1e-7 * abs(b)


def judge_final_success(cases, out):
    rows = _rows(cases)
    ref = _metrics_expected(cases)
    exp = ref["value"]
    got = out["value"]
    if _same(got, exp):
        return f"{len(rows)} iterations, last {cases['last']}"
    tail = rows[-cases["last"]:]
    rates = [r["success_rate"] for r in tail if r["success_rate"] is not None]
    hint = ""
    if rates and _same(got, sum(rates) / len(rates)):
        hint = (" (the mean of the per-iteration rates: weight each iteration by its number of ended episodes, "
                "sum(success_rate * episodes) / sum(episodes))")
    elif _same(got, sum(r["success_rate"] or 0.0 for r in tail) / max(1, len(tail))):
        hint = " (iterations where no episode ended have no success rate: leave them out, do not count them as 0)"
    elif _same(got, ref["whole_run"]):
        hint = f" (that is the whole run: use only its last {cases['last']} iterations)"
    if got > 1.0 + 1e-9:
        hint += " (a rate is in 0..1, not a percentage)"
    msg = f"final_success returned {got:.6g}, the reference {exp:.6g}{hint}"
    if cases["hidden"]:
        msg = f"final_success differs from the reference on a hidden run{hint}"
    raise CheckFailed(msg)


# ------------------------------------------------------------------ the comparison, from the student's own runs
def comparison_cases(last: int = 50, min_iterations: int = 200, hidden: bool = False, **_) -> dict:
    return {"last": int(last), "min_iterations": int(min_iterations), "hidden": hidden}


def _read_run(name):
    """(rows, meta) of one of the notebook's runs; raises CheckFailed saying what is missing."""
    import csv

    from ..rl.policy import load_policy

    metrics_path, policy_path = RUN_FILES[name]
    for p in (metrics_path, policy_path):
        if not os.path.exists(p):
            raise CheckFailed(f"{p} is missing: run the training cell of the {name} reward (it saves it)")
    with open(metrics_path) as f:
        raw = list(csv.DictReader(f))
    rows = [{"iteration": int(float(r["iteration"])), "env_steps": int(float(r["env_steps"])),
             "episodes": int(float(r["episodes"] or 0)),
             "success_rate": float(r["success_rate"]) if r.get("success_rate") not in ("", None) else None}
            for r in raw]
    meta = load_policy(policy_path).metadata
    cfg = meta.get("task_cfg") or {}
    info = {"reward": str(cfg.get("reward")), "seed": int(meta.get("seed", -1)),
            "num_envs": int(cfg.get("num_envs", -1)), "iterations": int(meta.get("iteration", -1))}
    return rows, info


def produce_comparison(objs, cases):
    out = {}
    for name in ("sparse", "dense"):
        rows, info = _read_run(name)
        out[f"{name}_student"] = _number(objs["final_success"](rows, cases["last"]), "final_success")
        out[f"{name}_iteration"] = torch.tensor([r["iteration"] for r in rows])
        out[f"{name}_episodes"] = torch.tensor([r["episodes"] for r in rows])
        out[f"{name}_success"] = torch.tensor([math.nan if r["success_rate"] is None else r["success_rate"]
                                               for r in rows], dtype=torch.float64)
        for k, v in info.items():
            out[f"{name}_{k}"] = v
    return out


def judge_comparison(cases, out):
    info, values = {}, {}
    for name in ("sparse", "dense"):
        if f"{name}_reward" not in out:
            raise CheckFailed(f"no data for the {name} run")
        info[name] = {k: out[f"{name}_{k}"] for k in ("reward", "seed", "num_envs", "iterations")}
        own = f"{name}_reward"  # the student's function: a run of the reference reward earns nothing
        if info[name]["reward"] != own:
            raise CheckFailed(f"{RUN_FILES[name][1]} was trained with reward={info[name]['reward']!r}, not your "
                              f"{own}: train it with course_lib.train('franka_reach', reward={own}, ...)")
        its = out[f"{name}_iteration"]
        if len(its) < cases["min_iterations"]:
            raise CheckFailed(f"the {name} run has {len(its)} iterations; the exercise trains for "
                              f"{cases['min_iterations']}")
        try:
            values[name] = _expected_final("ch04.comparison", its, out[f"{name}_episodes"], out[f"{name}_success"],
                                           cases["last"])["value"]
        except StoredValueMissing:  # a student's machine: their runs are their own, no value is stored for them
            values[name] = None
    for key in ("seed", "num_envs", "iterations"):
        if info["sparse"][key] != info["dense"][key]:
            raise CheckFailed(f"the two runs differ in {key} ({info['sparse'][key]} vs {info['dense'][key]}): a fair "
                              f"comparison trains both with the same seed, environments and iterations")
    if None in values.values():
        got = {name: out[f"{name}_student"] for name in values}
        if not all(math.isnan(v) or 0.0 <= v <= 1.0 for v in got.values()):
            raise CheckFailed(f"final_success on your runs gives sparse {got['sparse']:.6g}, dense {got['dense']:.6g}: "
                              f"a success rate is a number in 0..1 (NaN where no episode ended)")
        return (f"your two runs are a fair comparison (seed {info['sparse']['seed']}, {info['sparse']['num_envs']} "
                f"environments, your own rewards); final_success gives sparse {100 * got['sparse']:.1f}%, dense "
                f"{100 * got['dense']:.1f}% over the last {cases['last']} iterations, which is compared with the "
                f"reference computation on the same files when your notebook is graded")
    for name in ("sparse", "dense"):
        got = out[f"{name}_student"]
        if not _same(got, values[name]):
            raise CheckFailed(f"final_success on your {name} run gives {got:.6g}; the reference computation on the "
                              f"same file gives {values[name]:.6g}")
    return (f"sparse {100 * values['sparse']:.1f}%, dense {100 * values['dense']:.1f}% over the last "
            f"{cases['last']} iterations (seed {info['sparse']['seed']}, {info['sparse']['num_envs']} environments)")


# ------------------------------------------------------------------ registration
register(Check("ch04.sparse_reward", "sparse_reward is +10 within 5 cm of the target and 0 beyond",
               needs=("sparse_reward",), cases=distance_cases, produce=_produce_dist("sparse_reward"),
               judge=_judge_dist("sparse_reward", SPARSE_HINTS), defaults={"seed": 0},
               expects=(lambda cases: _expected_dist("sparse_reward", cases["distance"]),)))
register(Check("ch04.dense_reward", "dense_reward is -distance plus +10 within 5 cm",
               needs=("dense_reward",), cases=distance_cases, produce=_produce_dist("dense_reward"),
               judge=_judge_dist("dense_reward", DENSE_HINTS), defaults={"seed": 0},
               expects=(lambda cases: _expected_dist("dense_reward", cases["distance"]),)))
register(Check("ch04.improved_reward", "improved_reward equals the reference (success, action, collision and "
               "joint-limit terms)", needs=("improved_reward",), cases=improved_cases, produce=produce_improved,
               judge=judge_improved, defaults={"seed": 0}, expects=(_expected_improved,)))
register(Check("ch04.final_success", "final_success is the episode-weighted success rate of the last iterations",
               needs=("final_success",), cases=metrics_cases, produce=produce_final_success,
               judge=judge_final_success, defaults={"seed": 0}, expects=(_metrics_expected,)))
register(Check("ch04.comparison", "the sparse/dense comparison, computed with final_success from your own two runs",
               needs=("final_success",), cases=comparison_cases, produce=produce_comparison, judge=judge_comparison,
               defaults={"last": 50, "min_iterations": 200}))
