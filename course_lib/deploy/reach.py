"""Deploy a reach policy to the Panda in MuJoCo: the control loop, the fixed episodes, the gap options.

    >>> from course_lib.deploy import deploy
    >>> r = deploy("reach.onnx", episodes=1000, seed=0)                 # the exported file
    >>> r.success_rate, r.ci95, r.median_time_to_reach
    >>> deploy("reach.onnx", mass_scale=1.3, action_delay=1, sensor_noise=CHAPTER_SENSOR_NOISE)

The loop is what a robot's control node does, at the task's rate (60 Hz):
read the joint encoders (q, qd), compute the TCP by forward kinematics,
form the task's 17 observations ``[q, qd, target - tcp]``, query the
policy, scale its actions in [-1, 1] by the joint velocity limits (from the
URDF) and write them as velocity commands; MuJoCo then runs ``decimation``
steps of ``sim_dt`` with its own integrator and actuators
(:mod:`course_lib.deploy.mujoco_panda`). No part of the course's simulator
runs in the loop.

Episodes: the same initial poses and targets as
:func:`course_lib.evaluate` draws for the same ``episodes`` and ``seed`` on
the CPU (:func:`reach_episodes` asks the course's task for them, before the
loop starts), so success rates in the two simulators compare episode by
episode. An episode succeeds when MuJoCo's *true* TCP is within
``success_radius`` of the target (the task's definition) and ends there;
otherwise it times out after ``max_episode_length`` control steps.

Episodes run side by side, one ``MjData`` each (MuJoCo has one model per
data), and the policy is asked once per control step for all running
episodes: the same numbers as one episode after the other, faster.

Gap options (what a real robot adds; all off by default):

- ``mass_scale``: every link's mass and inertia times this, gravity
  compensation still the nominal model's (a payload, a wrong datasheet);
- ``action_delay``: the command applied at step t is the action computed at
  step t - delay (control steps of 1/60 s; zeros, i.e. "stand still", before);
- ``sensor_noise``: gaussian std on the readings (q rad, qd rad/s,
  target m) before the observation is formed; ``CHAPTER_SENSOR_NOISE`` is
  the chapter's (0.001, 0.01, 0.01). Success is judged on the true state.

``observe=`` replaces the step that forms the observation from the readings
(required where the instructor's answers are not: :func:`reference_observation`); chapter 6's students
write it.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .mujoco_panda import PANDA_URDF, MujocoPanda, PandaMujocoCfg, build_panda_model, urdf_joint_limits

__all__ = ["ReachDeployCfg", "DeployResult", "deploy", "reach_episodes", "as_policy_fn", "CHAPTER_SENSOR_NOISE",
           "time_to_reach", "reference_observation", "TRANSFER_GAPS"]

#: the chapter's add_observation_noise: joint positions 0.001 rad, velocities 0.01 rad/s, target 0.01 m
CHAPTER_SENSOR_NOISE = (0.001, 0.01, 0.01)

#: The transfer table's MuJoCo conditions (benchmarks/transfer_mujoco.py, chapter 6): name -> gap options of
#: :func:`deploy`. "MuJoCo" is the nominal robot; the others widen the gap on purpose.
TRANSFER_GAPS = {
    "MuJoCo": {},
    "masses x2": {"mass_scale": 2.0},
    "delay 3 steps (50 ms)": {"action_delay": 3},
    "sensor noise x5": {"sensor_noise": tuple(5 * x for x in CHAPTER_SENSOR_NOISE)},
    "masses x1.5 + delay 2 + noise x2": {"mass_scale": 1.5, "action_delay": 2,
                                          "sensor_noise": tuple(2 * x for x in CHAPTER_SENSOR_NOISE)},
}


def reference_observation():
    """The reach task's observation step ``(q, qd, tcp, target) -> (N, 17) float32``, where the instructor's
    ``course_answers`` is here (the grader, a checkout): forming it is chapter 6's exercise, so the student library
    does not hold it. Elsewhere a ValueError that says to pass one's own (``deploy(..., observe=mujoco_observation)``).
    """
    from .. import answers

    pkg = answers.load()
    if pkg is None or not hasattr(pkg, "reach_observation"):
        raise ValueError("deploy needs observe=: the function that forms the policy's observation from the robot's "
                         "readings, (q, qd, tcp, target) -> (N, 17) float32. Writing it is chapter 6's exercise: "
                         "pass yours, e.g. deploy(policy, 1000, observe=mujoco_observation)")
    return pkg.reach_observation


@dataclass
class ReachDeployCfg:
    """The reach task as the deployment loop runs it; the defaults mirror ``FrankaReachCfg``."""

    robot: PandaMujocoCfg = field(default_factory=PandaMujocoCfg)  # how MuJoCo's Panda is built
    max_episode_length: int = 500  # control steps (8.3 s at 60 Hz)
    success_radius: float = 0.05  # m, TCP to target
    # Gap options
    action_delay: int = 0  # control steps between computing an action and applying it
    sensor_noise: tuple = (0.0, 0.0, 0.0)  # gaussian std on (q rad, qd rad/s, target - tcp m)

    @classmethod
    def mirror(cls, task_cfg=None, *, mass_scale: float = 1.0, action_delay: int = 0,
               sensor_noise=(0.0, 0.0, 0.0), **robot_overrides) -> "ReachDeployCfg":
        """Mirror a ``FrankaReachCfg`` (default: the task's defaults), plus the gap options."""
        from ..envs.franka_reach import FrankaReachCfg

        task_cfg = task_cfg if task_cfg is not None else FrankaReachCfg()
        get = (lambda k: task_cfg[k]) if isinstance(task_cfg, dict) else (lambda k: getattr(task_cfg, k))
        robot = PandaMujocoCfg.from_task_cfg(task_cfg, mass_scale=mass_scale, **robot_overrides)
        return cls(robot=robot, max_episode_length=int(get("max_episode_length")),
                   success_radius=float(get("success_radius")), action_delay=int(action_delay),
                   sensor_noise=tuple(float(x) for x in sensor_noise))

    def gap(self) -> dict:
        """The gap options as a dict (for tables and JSON)."""
        return {"mass_scale": self.robot.mass_scale, "action_delay": self.action_delay,
                "sensor_noise": list(self.sensor_noise)}


@dataclass
class DeployResult:
    """What :func:`deploy` measured. Lists hold one entry per episode, in episode order."""

    episodes: int
    seed: int
    success_rate: float
    ci95: tuple
    mean_length: float  # control steps
    control_dt: float  # s
    gap: dict
    successes: list = field(repr=False, default_factory=list)
    lengths: list = field(repr=False, default_factory=list)  # control steps until success or time-out
    final_distance: list = field(repr=False, default_factory=list)  # m, TCP to target at the end
    targets: list = field(repr=False, default_factory=list)  # (3,) m per episode
    wall_s: float = 0.0
    trajectories: list = field(repr=False, default_factory=list)  # recorded episodes: (T+1, 7) q, rad

    @property
    def median_time_to_reach(self) -> float:
        """s, median over the successful episodes (nan if none)."""
        return time_to_reach(self.lengths, self.successes, self.control_dt)[0]

    def __str__(self) -> str:
        lo, hi = self.ci95
        return (f"MuJoCo: success {100 * self.success_rate:.1f}% (95% CI {100 * lo:.1f}-{100 * hi:.1f}%) over "
                f"{self.episodes} episodes (seed {self.seed}); median time to reach "
                f"{self.median_time_to_reach:.2f} s; gap {self.gap}")

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "trajectories"}
        d["ci95"] = list(self.ci95)
        d["median_time_to_reach"] = self.median_time_to_reach
        return d


def time_to_reach(lengths, successes, control_dt: float) -> tuple[float, float]:
    """(median, mean) time to reach in s over the successful episodes; nan when none succeeded."""
    t = np.asarray(lengths, dtype=float)[np.asarray(successes, dtype=bool)] * control_dt
    return (float(np.median(t)), float(t.mean())) if t.size else (math.nan, math.nan)


def reach_episodes(episodes: int, seed: int = 0, batch: int | None = None):
    """Initial joint positions (E, 7) rad and targets (E, 3) m of :func:`course_lib.evaluate`'s episodes.

    The course's task draws them, batch by batch, exactly as ``evaluate``
    does on the CPU (re-seeded with ``seed + 1_000_003 k`` before batch k of
    ``min(episodes, 1024)``); no step of its simulator runs. Float64 copies.
    """
    import torch

    from ..envs import make
    from ..rl.evaluate import SEED_STRIDE

    episodes = int(episodes)
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    B = int(batch) if batch else min(episodes, 1024)
    env = make("franka_reach", num_envs=B, seed=seed, device="cpu")
    qs, ts = [], []
    with torch.no_grad():
        k = 0
        while sum(len(q) for q in qs) < episodes:
            env.seed(seed + SEED_STRIDE * k)
            env.reset()
            n = min(B, episodes - sum(len(q) for q in qs))
            qs.append(env.get_joint_positions()[:n].double().numpy().copy())
            ts.append(env.targets[:n].double().numpy().copy())
            k += 1
    return np.concatenate(qs), np.concatenate(ts)


def as_policy_fn(policy):
    """Anything that maps observations to actions -> ``fn(obs float32 (N, 17)) -> actions (N, 7) float64``.

    Accepts an exported file's path (loaded with
    :func:`course_lib.rl.export.load_exported`), an ``ExportedPolicy``, a
    ``torch.nn.Module`` (a :class:`~course_lib.rl.Policy`, a TorchScript
    module) or any callable on numpy arrays.
    """
    if isinstance(policy, (str, bytes)) or hasattr(policy, "__fspath__"):
        from ..rl.export import load_exported

        policy = load_exported(policy)
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(policy, (torch.nn.Module, torch.jit.ScriptModule)):
        module = policy

        def fn(obs):
            with torch.no_grad():
                return module(torch.from_numpy(obs)).cpu().numpy()
        return fn
    if not callable(policy):
        raise ValueError(f"policy must be an exported file, a module or a callable obs -> actions, "
                         f"got {type(policy).__name__}")
    return policy


def _checked_observation(obs, n: int, t: int) -> np.ndarray:
    """``observe``'s result as float32 (n, 17), or a ValueError that says what is wrong with it."""
    try:
        import torch

        if torch.is_tensor(obs):
            obs = obs.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(obs, np.ndarray):
        raise ValueError(f"observe returned {type(obs).__name__}; it must return a numpy array (N, 17) float32")
    if obs.shape != (n, 17):
        raise ValueError(f"observe returned shape {obs.shape} for {n} robot(s) at control step {t}; expected "
                         f"({n}, 17): one row per robot, [q (7), qd (7), target - tcp (3)] (keep the batch "
                         f"dimension, also for one robot)")
    if obs.dtype != np.float32:
        raise ValueError(f"observe returned dtype {obs.dtype}; the exported policy takes float32 "
                         f"(.astype(np.float32))")
    if not np.isfinite(obs).all():
        raise ValueError(f"observe returned NaN or inf at control step {t}")
    return obs


def deploy(policy, episodes: int = 1000, seed: int = 0, *, cfg: ReachDeployCfg | None = None,
           mass_scale: float | None = None, action_delay: int | None = None, sensor_noise=None,
           record: int = 0, episode_set=None, observe=None) -> DeployResult:
    """Run ``policy`` on the Panda in MuJoCo for ``episodes`` fixed episodes; see the module docstring.

    policy: an exported ``.onnx`` / ``.pt`` path, an ``ExportedPolicy``, a
        torch module or a callable ``obs (N, 17) float32 -> actions (N, 7)``.
    cfg: the deployment config (default :meth:`ReachDeployCfg.mirror`);
        ``mass_scale``, ``action_delay``, ``sensor_noise`` override its gap options.
    record: keep the joint trajectories of the first ``record`` episodes
        (``result.trajectories``: (T+1, 7) arrays, rad), for animations.
    episode_set: ``(q0 (E, 7), targets (E, 3))`` instead of :func:`reach_episodes`.
    observe: ``observe(q (N, 7), qd (N, 7), tcp (N, 3), target (N, 3)) -> (N, 17) float32``, the control
        node's observation from the (noisy) readings, numpy float64 in; default :func:`reference_observation`
        (the instructor's, where it is here).
        Whatever it returns is checked (shape, dtype, finite) before the policy sees it.
    """
    from ..rl.evaluate import success_ci

    cfg = cfg if cfg is not None else ReachDeployCfg.mirror()
    if mass_scale is not None or action_delay is not None or sensor_noise is not None:
        import copy

        cfg = copy.deepcopy(cfg)
        if mass_scale is not None:
            cfg.robot.mass_scale = float(mass_scale)
        if action_delay is not None:
            cfg.action_delay = int(action_delay)
        if sensor_noise is not None:
            cfg.sensor_noise = tuple(float(x) for x in sensor_noise)
    if cfg.action_delay < 0:
        raise ValueError(f"action_delay must be >= 0 control steps, got {cfg.action_delay}")
    if len(cfg.sensor_noise) != 3 or min(cfg.sensor_noise) < 0:
        raise ValueError(f"sensor_noise is 3 standard deviations >= 0 (q rad, qd rad/s, target m), "
                         f"got {cfg.sensor_noise}")
    fn = as_policy_fn(policy)
    observe = reference_observation() if observe is None else observe
    if not callable(observe):
        raise ValueError(f"observe must be a function (q, qd, tcp, target) -> (N, 17) float32, "
                         f"got {type(observe).__name__}")
    q0, targets = episode_set if episode_set is not None else reach_episodes(episodes, seed)
    q0, targets = np.asarray(q0, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    E = len(q0)
    if q0.shape != (E, 7) or targets.shape != (E, 3):
        raise ValueError(f"episode_set: expected q0 (E, 7) and targets (E, 3), got {q0.shape} and {targets.shape}")
    _, _, _, vmax, _ = urdf_joint_limits(PANDA_URDF)
    model = build_panda_model(cfg.robot)
    robots = [MujocoPanda(model, cfg.robot) for _ in range(E)]
    for r, q in zip(robots, q0):
        r.reset(q)
    rng = np.random.default_rng([int(seed), 20_260_601])  # sensor noise: its own stream, fixed by the seed
    noise_std = np.repeat(np.asarray(cfg.sensor_noise, dtype=np.float64), (7, 7, 3))
    pending = np.zeros((cfg.action_delay + 1, E, 7))  # actions in flight: [0] is applied now
    alive = np.ones(E, dtype=bool)
    success = np.zeros(E, dtype=bool)
    lengths = np.full(E, cfg.max_episode_length, dtype=np.int64)
    final = np.zeros(E)
    record = int(record)
    traj = [[r.data.qpos.copy()] for r in robots[:record]]
    t0 = time.perf_counter()
    for t in range(cfg.max_episode_length):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        q, qd, tcp = np.empty((idx.size, 7)), np.empty((idx.size, 7)), np.empty((idx.size, 3))
        for row, i in enumerate(idx):  # MuJoCo has one MjData per robot: read each
            q[row], qd[row], tcp[row] = robots[i].read()
        seen_target = targets[idx]
        if noise_std.any():  # the sensors are noisy, not the observation: noise on the readings
            noise = rng.standard_normal((idx.size, 17)) * noise_std
            q, qd, seen_target = q + noise[:, :7], qd + noise[:, 7:14], seen_target + noise[:, 14:]
        obs = _checked_observation(observe(q, qd, tcp, seen_target), idx.size, t)
        actions = np.asarray(fn(obs), dtype=np.float64).reshape(idx.size, 7)
        if not np.isfinite(actions).all():
            raise FloatingPointError(f"the policy returned NaN or inf at control step {t}")
        pending[-1, idx] = actions
        applied = pending[0, idx]
        if cfg.action_delay:
            pending[:-1] = pending[1:].copy()  # every action moves one step closer to the robot
        for row, i in enumerate(idx):
            r = robots[i]
            r.command(np.clip(applied[row], -1.0, 1.0) * vmax)
            r.step()
            if i < record:
                traj[i].append(r.data.qpos.copy())
            d = float(np.linalg.norm(targets[i] - r.data.xpos[r.tcp]))
            final[i] = d
            if d < cfg.success_radius:
                success[i], lengths[i], alive[i] = True, t + 1, False
    wall = time.perf_counter() - t0
    s = int(success.sum())
    return DeployResult(episodes=E, seed=int(seed), success_rate=s / E, ci95=success_ci(s, E),
                        mean_length=float(lengths.mean()), control_dt=cfg.robot.control_dt, gap=cfg.gap(),
                        successes=success.tolist(), lengths=lengths.tolist(), final_distance=final.tolist(),
                        targets=targets.tolist(), wall_s=wall, trajectories=[np.array(x) for x in traj])
