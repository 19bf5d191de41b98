"""Evaluate a student's trained policy on the reference task, in a fresh interpreter.

    python -I -m course_lib.grading.evaluate_policy cartpole_policy.pth --task cartpole --episodes 500 --seed 0

prints one line of JSON::

    {"ok": true, "success_rate": 0.998, "ci95": [0.989, 1.0], "episodes": 500, "mean_length": 499.6, ...}

With ``--randomization exercise5`` the reference task is randomized with a
named test set (:data:`TEST_SETS`: ``exercise5`` is Exercise 5's
``EXERCISE5_TEST_SET``, masses x0.7-1.3, joint friction and damping +-50 %),
seeded from ``--seed``, the same set of physics whatever the policy does.

With ``--deploy`` the file is an exported policy (ONNX or TorchScript,
chapter 6), run by :func:`course_lib.deploy.deploy` on the Panda in MuJoCo
with the reference observation, on ``--episodes`` fixed episodes, under a
named condition ``--gap`` (:data:`DEPLOY_GAPS`: ``nominal`` or ``delay3``)::

    python -I -m course_lib.grading.evaluate_policy runs/ch06_export/policy.onnx --deploy --gap nominal --episodes 1000

or ``{"ok": false, "error": "..."}`` (a missing or unreadable checkpoint, a
policy for another observation size). The exit status is 0 either way: the
result is the JSON, not the status.

Why a separate process: whatever the student's notebook did to its own
kernel (redefining ``course_lib.evaluate``, patching torch, changing the
reference task's class) cannot reach a new interpreter started with ``-I``
(no user site, no PYTHON* variables, no current directory on ``sys.path``)
and a minimal environment. The checkpoint is loaded with
``weights_only=True``, so the file itself cannot run code either.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

__all__ = ["evaluate_checkpoint", "deploy_exported", "run_in_subprocess", "policy_result", "clean_env",
           "fresh_python", "main", "TEST_SETS", "DEPLOY_GAPS"]

#: named randomized test sets: name -> preset in course_lib.envs.randomization (only names: a grade never
#: depends on a dictionary that a student's notebook wrote)
TEST_SETS = {"exercise5": "EXERCISE5_TEST_SET"}

#: named MuJoCo conditions of the deploy mode: name -> key of course_lib.deploy.TRANSFER_GAPS (names only, as above)
DEPLOY_GAPS = {"nominal": "MuJoCo", "delay3": "delay 3 steps (50 ms)"}

#: environment variables a fresh grading process keeps (everything else is dropped)
KEEP_ENV = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "SYSTEMROOT", "CUDA_VISIBLE_DEVICES")


def clean_env(extra: dict | None = None) -> dict:
    env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    env["PYTHONHASHSEED"] = "0"
    if extra:
        env.update(extra)
    return env


def fresh_python(module: str, *args, python: str | None = None) -> list:
    """The command that runs ``python -m module args`` in an isolated interpreter (``-I``: no user site,
    no PYTHON* variables, no current directory on sys.path), importing the course_lib that this process
    uses (also when it is a source checkout, not an installed package)."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # -I keeps the current directory off sys.path from Python 3.11 on; for 3.10, and for any '' entry, drop it
    boot = (f"import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; sys.path.insert(0, {here!r}); "
            f"import runpy; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [python or sys.executable, "-I", "-c", boot, *map(str, args)]


#: evaluations already run in this process, by (checkpoint's content, task, episodes, seed, ...): two checks of
#: one policy (chapter 3's success rate and mean reward) share one 1000-episode evaluation
_DONE: dict = {}


def _key(checkpoint, *rest):
    """The checkpoint's bytes (not its name: a file rewritten between two checks is evaluated again), and the rest."""
    import hashlib

    try:
        with open(checkpoint, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None
    return (digest, *rest)


def _remembered(key, compute, **shown) -> dict:
    """``compute()``'s result, or the one already computed in this process for ``key`` (a result that is not
    ``ok`` is not kept: the student may fix the file and run the check again). ``shown`` overrides keys of a
    remembered result (the path it was asked under)."""
    if key is not None and key in _DONE:
        return dict(_DONE[key], **shown)
    result = compute()
    if key is not None and result.get("ok"):
        _DONE[key] = result
    return result


def evaluate_checkpoint(checkpoint: str, task: str = "cartpole", episodes: int = 500, seed: int = 0,
                        device: str = "cpu", randomization: str | None = None) -> dict:
    """Load ``checkpoint`` and evaluate it on the registered reference ``task``. Returns a JSON-able dict.

    randomization: None (the nominal task) or a name in :data:`TEST_SETS`. The same file evaluated the same
    way again in this process returns the first result (the evaluation is deterministic).
    """
    return _remembered(_key(checkpoint, "evaluate", task, int(episodes), int(seed), device, randomization),
                       lambda: _evaluate_checkpoint(checkpoint, task, episodes, seed, device, randomization),
                       checkpoint=checkpoint)


def _evaluate_checkpoint(checkpoint, task, episodes, seed, device, randomization) -> dict:
    import torch

    torch.set_num_threads(1)
    from ..envs import task_class
    from ..rl import CheckpointError, evaluate, load_policy

    if not os.path.exists(checkpoint):
        return {"ok": False, "error": f"no checkpoint at {checkpoint}: run the training cell (it saves the policy "
                f"there) before the tests", "checkpoint": checkpoint}
    try:
        policy = load_policy(checkpoint, device=device)
    except (CheckpointError, FileNotFoundError, OSError) as e:
        return {"ok": False, "error": str(e).splitlines()[0], "checkpoint": checkpoint}
    overrides = {}
    if randomization is not None:
        if randomization not in TEST_SETS:
            return {"ok": False, "error": f"unknown randomized test set {randomization!r}; known: {sorted(TEST_SETS)}"}
        from ..envs import randomization as _dr

        overrides = {"randomize": True, "randomization_params": getattr(_dr, TEST_SETS[randomization])}
    try:
        ref = task_class(task)({"num_envs": 1, "seed": 0})
    except ValueError as e:  # the reference is the instructor's, and not on this machine
        return {"ok": False, "checkpoint": checkpoint, "error": str(e)}
    if (policy.num_obs, policy.num_actions) != (ref.num_obs, ref.num_actions):
        return {"ok": False, "checkpoint": checkpoint,
                "error": f"the policy takes {policy.num_obs} observations and gives {policy.num_actions} action(s); "
                         f"the reference {task} has {ref.num_obs} and {ref.num_actions}"}
    trained_on, trained_class = policy.task, policy.metadata.get("task_class")
    policy.task = task  # evaluated on the reference task whatever task it was trained on
    r = evaluate(task, policy, episodes=int(episodes), seed=int(seed), device=device, **overrides)
    return _evaluation(r, task, ref, checkpoint, trained_on=trained_on, trained_class=trained_class,
                       randomization=randomization)


def _evaluation(r, task: str, env, checkpoint: str, **extra) -> dict:
    """The JSON-able result of a policy check: the EvalResult ``r`` of ``checkpoint`` on ``task`` (built as
    ``env``), and ``extra``."""
    return {"ok": True, "success_rate": r.success_rate, "ci95": list(r.ci95), "episodes": r.episodes,
            "mean_length": r.mean_length, "mean_reward": r.mean_reward, "mean_step_reward": r.mean_step_reward,
            "seed": r.seed, "task": task, "max_steps": int(getattr(env, "max_episode_length", 500)),
            "checkpoint": checkpoint, **extra}


def deploy_exported(path: str, episodes: int = 1000, seed: int = 0, gap: str = "nominal") -> dict:
    """Run the exported policy ``path`` on the Panda in MuJoCo (:func:`course_lib.deploy.deploy`, the reference
    observation) on ``episodes`` fixed episodes under the named condition ``gap``. Returns a JSON-able dict;
    the same file deployed the same way again in this process returns the first result (deploy is deterministic).
    """
    return _remembered(_key(path, "deploy", int(episodes), int(seed), gap),
                       lambda: _deploy_exported(path, episodes, seed, gap), checkpoint=path)


def _deploy_exported(path, episodes, seed, gap) -> dict:
    import torch

    torch.set_num_threads(1)
    return _deploy_file(path, episodes, seed, gap)


def _deploy_file(path, episodes, seed, gap, observe=None) -> dict:
    """Deploy the exported policy ``path`` in MuJoCo under ``gap``, with the reference observation (``observe``
    None) or ``observe``; the JSON-able result, or ``{"ok": False, "error": ...}``."""
    from ..rl import CheckpointError

    if not os.path.exists(path):
        return {"ok": False, "checkpoint": path, "error": f"no exported policy at {path}: run the export cell (it "
                f"writes the file there) before the tests"}
    if gap not in DEPLOY_GAPS:
        return {"ok": False, "error": f"unknown MuJoCo condition {gap!r}; known: {sorted(DEPLOY_GAPS)}"}
    from ..deploy import TRANSFER_GAPS, deploy
    from ..rl.export import load_exported

    try:
        policy = load_exported(path, task="franka_reach", num_obs=17)
    except (CheckpointError, FileNotFoundError, OSError, ValueError) as e:
        return {"ok": False, "checkpoint": path, "error": str(e).splitlines()[0]}
    if policy.num_actions != 7:
        return {"ok": False, "checkpoint": path,
                "error": f"the exported policy gives {policy.num_actions} actions; the Panda takes 7"}
    try:
        r = deploy(policy, int(episodes), int(seed), observe=observe, **TRANSFER_GAPS[DEPLOY_GAPS[gap]])
    except (ValueError, RuntimeError) as e:  # what deploy says of a wrong observation function
        if observe is None:
            raise
        return {"ok": False, "checkpoint": path, "error": str(e).splitlines()[0]}
    return {"ok": True, "mode": "deploy", "success_rate": r.success_rate, "ci95": list(r.ci95),
            "episodes": r.episodes, "seed": r.seed, "mean_length": r.mean_length,
            "median_time_to_reach": r.median_time_to_reach, "gap": gap, "gap_options": r.gap,
            "checkpoint": path}


def own_task_result(params: dict, namespace: dict) -> dict | None:
    """Where this machine has no reference for the check's task (the instructor's package is not here), the
    policy evaluated on the student's own task class from ``namespace`` (same episodes and seed), in this process;
    None where the reference is here (then :func:`policy_result` evaluates on it)."""
    from ..answers import INSTRUCTOR_TASKS
    from ..envs import tasks

    if params.get("mode", "evaluate") == "deploy":
        return _own_observation_result(params, namespace)
    task = params.get("task")
    if task not in INSTRUCTOR_TASKS or task in tasks():
        return None
    cls_name = INSTRUCTOR_TASKS[task][0]
    cls = namespace.get(cls_name)
    if not isinstance(cls, type):
        return {"ok": False, "task": cls_name, "checkpoint": params.get("checkpoint"),
                "error": f"{cls_name} is not defined: run the cell that defines your task first"}
    from ..rl import CheckpointError, evaluate, load_policy

    checkpoint, episodes, seed = params["checkpoint"], int(params.get("episodes", 500)), int(params.get("seed", 0))
    if not os.path.exists(checkpoint):
        return {"ok": False, "task": cls_name, "checkpoint": checkpoint, "error": f"no checkpoint at {checkpoint}: "
                f"run the training cell (it saves the policy there) before the tests"}
    try:
        policy = load_policy(checkpoint)
        env = cls({"num_envs": min(episodes, 1024), "seed": seed}, "cpu", 0, True)
        r = evaluate(env, policy, episodes=episodes, seed=seed)
    except (CheckpointError, OSError, ValueError, RuntimeError) as e:
        return {"ok": False, "task": cls_name, "checkpoint": checkpoint, "error": str(e).splitlines()[0]}
    return _evaluation(r, cls_name, env, checkpoint, where=f"your own {cls_name}")


def _own_observation_result(params: dict, namespace: dict) -> dict | None:
    """A deploy check where this machine has no reference observation (a student's): the exported policy deployed
    with the student's own ``mujoco_observation`` from ``namespace``, in this process; None where the reference is
    here."""
    from .. import answers

    if answers.available():
        return None
    observe = namespace.get("mujoco_observation")
    if not callable(observe):
        return {"ok": False, "task": "mujoco_observation", "checkpoint": params["checkpoint"],
                "error": "mujoco_observation is not defined: run the cell that defines it first"}
    result = _deploy_file(params["checkpoint"], params.get("episodes", 1000), params.get("seed", 0),
                          params.get("gap", "nominal"), observe=observe)
    return {**result, "task": "mujoco_observation"}


def policy_result(params: dict, fresh: bool = True, cwd: str | None = None) -> dict:
    """The result a policy check judges, from a test cell's parameters: ``mode`` "evaluate" (default: a
    checkpoint on the reference task) or "deploy" (an exported file in MuJoCo). ``fresh``: in a new
    ``python -I`` process (from a notebook's kernel), else in this process (the grader's judge already is one).
    """
    p = dict(params)
    if p.get("mode", "evaluate") == "deploy":
        if fresh:
            return run_in_subprocess(p["checkpoint"], "franka_reach", p.get("episodes", 1000), p.get("seed", 0),
                                     cwd=cwd, mode="deploy", gap=p.get("gap", "nominal"))
        return deploy_exported(p["checkpoint"], p.get("episodes", 1000), p.get("seed", 0), p.get("gap", "nominal"))
    args = (p["checkpoint"], p.get("task", "cartpole"), p.get("episodes", 500), p.get("seed", 0))
    if fresh:
        return run_in_subprocess(*args, cwd=cwd, randomization=p.get("randomization"))
    return evaluate_checkpoint(*args, randomization=p.get("randomization"))


def run_in_subprocess(checkpoint: str, task: str = "cartpole", episodes: int = 500, seed: int = 0,
                      cwd: str | None = None, timeout: float = 600.0, python: str | None = None,
                      randomization: str | None = None, mode: str = "evaluate", gap: str | None = None) -> dict:
    """Run :func:`evaluate_checkpoint` (``mode="deploy"``: :func:`deploy_exported` under ``gap``) in
    ``python -I`` with a clean environment; return its JSON.

    A file already evaluated the same way by this process is not evaluated again (see :func:`evaluate_checkpoint`).
    """
    path = os.path.join(cwd, checkpoint) if cwd else checkpoint
    return _remembered(_key(path, "subprocess", task, int(episodes), int(seed), randomization, mode, gap),
                       lambda: _run_in_subprocess(checkpoint, task, episodes, seed, cwd, timeout, python,
                                                  randomization, mode, gap))


def _run_in_subprocess(checkpoint, task, episodes, seed, cwd, timeout, python, randomization, mode="evaluate",
                       gap=None) -> dict:
    extra = ("--randomization", randomization) if randomization is not None else ()
    if mode == "deploy":
        extra = ("--deploy", "--gap", gap or "nominal")
    cmd = fresh_python("course_lib.grading.evaluate_policy", os.fspath(checkpoint), "--task", task,
                       "--episodes", int(episodes), "--seed", int(seed), *extra, python=python)
    try:
        r = subprocess.run(cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"the evaluation took more than {timeout:.0f} s"}
    for line in reversed(r.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
    return {"ok": False, "error": f"the evaluation process failed (exit status {r.returncode}): {tail[:300]}"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_lib.grading.evaluate_policy",
                                description="Evaluate a checkpoint on the reference task; print JSON.")
    p.add_argument("checkpoint")
    p.add_argument("--task", default="cartpole")
    p.add_argument("--episodes", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--randomization", default=None, help=f"a named randomized test set: {sorted(TEST_SETS)}")
    p.add_argument("--deploy", action="store_true", help="the file is an exported policy: run it in MuJoCo")
    p.add_argument("--gap", default="nominal", help=f"with --deploy, a named MuJoCo condition: {sorted(DEPLOY_GAPS)}")
    a = p.parse_args(argv)
    import warnings

    warnings.simplefilter("ignore")
    try:
        if a.deploy:
            result = deploy_exported(a.checkpoint, a.episodes, a.seed, a.gap)
        else:
            result = evaluate_checkpoint(a.checkpoint, a.task, a.episodes, a.seed, randomization=a.randomization)
    except Exception as e:  # report, never crash without JSON
        result = {"ok": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
