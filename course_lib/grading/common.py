"""What several chapters' checks share: seeded generators, tensors out of the student's task, building it, the reset
cases and counters, and the judges of a trained policy."""
from __future__ import annotations

import torch

from .core import CheckFailed

__all__ = ["generator", "host_tensor", "returned_tensor", "per_env_vector", "obs_matrix", "judge_reset_counters",
           "reset_selection", "student_task", "policy_cases", "evaluated", "judge_success_rate"]


def generator(seed: int) -> torch.Generator:
    """A CPU generator for a check's cases (cases never depend on the student's code)."""
    return torch.Generator().manual_seed(int(seed))


def host_tensor(x, name: str) -> torch.Tensor:
    """A detached CPU copy of a tensor the student's task holds, or CheckFailed naming ``name``."""
    if not torch.is_tensor(x):
        raise CheckFailed(f"{name} is not a tensor (got {type(x).__name__})")
    return x.detach().to("cpu").clone()


def returned_tensor(x, name: str) -> torch.Tensor:
    """:func:`host_tensor` for what a student's function gave (``name``: the call, e.g. ``"sample(...)"``)."""
    if not torch.is_tensor(x):
        raise CheckFailed(f"{name} returned {type(x).__name__}, not a torch tensor")
    return x.detach().to("cpu").clone()


def per_env_vector(t: torch.Tensor, n: int, name: str) -> torch.Tensor:
    """The task's buffer ``self.{name}`` as (n,): shape (n,) or (n, 1), else CheckFailed naming the shape."""
    if t.numel() != n or t.dim() > 2 or (t.dim() == 2 and t.shape[1] != 1):
        raise CheckFailed(f"self.{name} has shape {tuple(t.shape)}; expected (num_envs,) = ({n},)")
    return t.reshape(n)


def obs_matrix(obs: torch.Tensor, n: int, width: int) -> torch.Tensor:
    """``self.obs_buf`` as float32 (n, width), or CheckFailed naming its shape or dtype."""
    if tuple(obs.shape) != (n, width):
        raise CheckFailed(f"self.obs_buf has shape {tuple(obs.shape)}; expected (num_envs, {width}) = ({n}, {width})")
    if not obs.is_floating_point():
        raise CheckFailed(f"self.obs_buf has dtype {obs.dtype}; expected a float tensor")
    return obs.float()


def reset_selection(g: torch.Generator, n: int, k: int | None):
    """The mid-episode counters of a reset case and the environments to reset, drawn from ``g`` after the state.

    Returns ``progress`` (n,) int64 in [1, 450) and ``env_ids`` (k,) sorted, distinct (default k = n // 3).
    """
    progress = torch.randint(1, 450, (n,), generator=g)
    k = n // 3 if k is None else int(k)
    env_ids = torch.randperm(n, generator=g)[:k].sort().values
    return progress, env_ids


def _package(obj) -> str:
    return (getattr(obj, "__module__", None) or "").split(".")[0]


LIBRARIES = ("course_lib", "course_answers")


def _function(v):
    """The plain function behind a class attribute: a staticmethod's or classmethod's, a hook point's
    (:class:`course_lib.envs.hooks.HookPoint` wraps a task's hooked methods), or ``v`` itself."""
    v = getattr(v, "__func__", v)
    return getattr(v, "__wrapped__", v)


def library_task_helpers() -> set:
    """What course_lib's tasks and reward module define beyond :class:`VecEnvBase` (``sample_targets``,
    ``tcp_distance``, ``reach_reward``, ...): an exercise method of a student's task that calls one of them, without
    defining it itself, has the library do (part of) the exercise."""
    from ..envs import franka_reach, rewards
    from ..envs.vec_env import VecEnvBase

    names = {a for a in vars(franka_reach.FrankaReachTask) if not a.startswith("__")} - set(dir(VecEnvBase))
    names |= {a for a, v in vars(rewards).items() if callable(v) and getattr(v, "__module__", "") == rewards.__name__}
    return names | {"REACH_REWARDS", "reach_reward_function", "own_reward"}


def borrowed_helpers(cls, method: str) -> list:
    """The library helpers (:func:`library_task_helpers`) that ``cls.method`` reaches: through its own code, the
    student's other methods and the student's module-level functions it calls; a helper the student's class or
    module defines itself is the student's, not borrowed."""
    own = {a: v for k in cls.__mro__ if _package(k) not in LIBRARIES for a, v in vars(k).items()}
    return sorted(referenced_names(getattr(cls, method, None), own) & library_task_helpers())


def student_task(cls, reference, n: int, seed: int, method: str | None = None):
    """The student's task class ``cls`` built on the CPU with ``n`` environments, or CheckFailed when it is not a
    VecEnvBase subclass, is a reference task or derives from one (course_lib's, or the instructor's package's), has
    methods of either assigned to it, or ignores ``num_envs``. ``reference``: the reference class, or its name where
    this machine has no reference. ``method``: the exercise method the check calls; CheckFailed also where it calls
    a helper of course_lib's tasks (:func:`borrowed_helpers`)."""
    from ..envs import VecEnvBase

    name = reference if isinstance(reference, str) else reference.__name__
    if not (isinstance(cls, type) and issubclass(cls, VecEnvBase)):
        raise CheckFailed(f"{name} must be a class derived from VecEnvBase, got {cls!r}")
    borrowed = [k for k in cls.__mro__ if _package(k) in LIBRARIES and k.__name__ == name]
    # methods taken from a reference or a library task (``compute_observations = FrankaReachTask.compute_observations``)
    # count as theirs: in the student's own classes, nothing may come from course_lib or course_answers
    lent = [attr for k in cls.__mro__ if _package(k) not in LIBRARIES for attr, v in vars(k).items()
            if callable(_function(v)) and _package(_function(v)) in LIBRARIES]
    if (not isinstance(reference, str) and issubclass(cls, reference)) or borrowed \
            or _package(cls) in LIBRARIES:
        raise CheckFailed(f"{name} is a reference task (or derives from one), not yours: write your own class in "
                          f"the solution cell")
    if lent:
        raise CheckFailed(f"{name}'s {', '.join(sorted(lent))}: taken from a reference task or a course_lib task, not "
                          f"written in your class. Write your own methods in the solution cell")
    used = borrowed_helpers(cls, method) if method else []
    if used:
        raise CheckFailed(f"{name}.{method} calls {', '.join(used)} of course_lib's tasks: the library would be doing "
                          f"the exercise. Write it yourself in the solution cell")
    env = cls({"num_envs": int(n), "seed": int(seed)}, "cpu", 0, True)
    if getattr(env, "num_envs", None) != n:
        raise CheckFailed(f"{name}({{'num_envs': {n}}}) has num_envs={getattr(env, 'num_envs', None)}")
    return env


# ------------------------------------------------------------------ trained policies
def policy_cases(**params):
    """A policy check's cases are its parameters (checkpoint, task, episodes, seed, thresholds)."""
    return dict(params)


def evaluated(result):
    """(success rate, episodes) of what ``evaluate_policy`` printed (a dict), or CheckFailed with its error."""
    if not result.get("ok"):
        raise CheckFailed(f"the trained policy could not be evaluated: {result.get('error')}")
    return float(result["success_rate"]), int(result["episodes"])


def judge_success_rate(params, result, default_min: float, did: str, where: str, unit: str, advice: str,
                       say_where: bool = False) -> str:
    """The policy's success rate on the reference task reaches ``params["min_success"]`` (default
    ``default_min``), or CheckFailed: "your policy {did} in R% of N episodes of {where}; it needs M% (mean
    episode length L {unit}). {advice}". Returns "R% of N episodes[ of {where}], 95% CI lo-hi%"."""
    need = float(params.get("min_success", default_min))
    rate, n = evaluated(result)
    if rate < need:
        raise CheckFailed(f"your policy {did} in {100 * rate:.1f}% of {n} episodes of {where}; it needs "
                          f"{100 * need:.0f}% (mean episode length {result.get('mean_length', float('nan')):.0f} "
                          f"{unit}). {advice}")
    lo, hi = result.get("ci95", (rate, rate))
    of_where = f" of {where}" if say_where else ""
    return f"{100 * rate:.1f}% of {n} episodes{of_where}, 95% CI {100 * lo:.1f}-{100 * hi:.1f}%"


def judge_reset_counters(cases, out):
    """reset_idx(env_ids) zeroed progress_buf and reset_buf of env_ids, and left the others as they were.

    cases: ``env_ids`` (k,), ``progress`` (n,) before the reset (reset_buf was all ones);
    out: ``progress`` and ``reset`` (n,) after it.
    """
    ids, prog0 = cases["env_ids"], cases["progress"]
    n = len(prog0)
    sel = torch.zeros(n, dtype=torch.bool)
    sel[ids] = True
    prog, reset = out["progress"].reshape(-1), out["reset"].reshape(-1)
    if prog.numel() != n or reset.numel() != n:
        raise CheckFailed(f"progress_buf / reset_buf have {prog.numel()} / {reset.numel()} entries, expected {n}")
    if bool((prog[sel] != 0).any()):
        raise CheckFailed(f"reset_idx left progress_buf of {int((prog[sel] != 0).sum())} reset environment(s) "
                          f"non-zero: their new episodes would time out early. The chapter's listing forgets this: "
                          f"add self.progress_buf[env_ids] = 0")
    if bool((prog[~sel] != prog0[~sel]).any()):
        raise CheckFailed("reset_idx changed progress_buf of environments that were not in env_ids")
    if bool((reset[sel] != 0).any()):
        raise CheckFailed("reset_idx left reset_buf set for reset environments (add self.reset_buf[env_ids] = 0)")
    if bool((reset[~sel] == 0).any()):
        raise CheckFailed("reset_idx cleared reset_buf of environments that were not in env_ids")
    return f"{int(sel.sum())} of {n} environments"


# ------------------------------------------------------------------ borrowed answers
def _students(obj) -> bool:
    """A function the student wrote: defined in the notebook (``__main__``), or in the namespace a check-level test
    builds from the solution cells (``builtins``)."""
    f = _function(obj)
    return hasattr(f, "__code__") and (getattr(f, "__module__", None) or "__main__") in ("__main__", "builtins")


def referenced_names(fn, own: dict | None = None) -> set:
    """Every global and attribute name that the student's function ``fn`` refers to: in its code, the functions
    defined in it, and the student's own functions it calls by name (module-level, or in ``own``: the attributes of
    the student's class), looked into in turn; a name that is one of the student's own functions is theirs and not
    listed. A string constant that is a name (``getattr(m, "name")``) counts as one. A static look at the code, run
    where the function was defined; library code is not looked into, and a name built from pieces
    (``getattr(m, "na" + "me")``) is not seen."""
    names, seen = set(), set()

    def walk(f):
        f = _function(f)
        code = getattr(f, "__code__", None)
        if code is None:  # a callable object: its __call__
            f = _function(getattr(f, "__call__", None))
            code = getattr(f, "__code__", None)
        if code is None or id(code) in seen:
            return
        seen.add(id(code))
        globs = getattr(f, "__globals__", None) or {}
        stack = [code]
        while stack:
            c = stack.pop()
            stack.extend(k for k in c.co_consts if hasattr(k, "co_names"))
            names.update(k for k in c.co_consts if isinstance(k, str) and k.isidentifier())
            for name in c.co_names:
                target = (own or {}).get(name, globs.get(name))
                if target is not None and _students(target):
                    walk(target)
                else:
                    names.add(name)

    walk(fn)
    return names


def library_calls(fn, borrowed) -> str:
    """The names in ``borrowed`` (a library's implementation of the exercise) that ``fn`` refers to, as one string
    (only tensors, strings and numbers leave the sandbox); "" when none."""
    return ", ".join(sorted(referenced_names(fn) & set(borrowed)))
