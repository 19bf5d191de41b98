"""Throughput of the course's simulator against MuJoCo, on the same robots and cores.

Run from the repository root:

    python benchmarks/sim_throughput.py                 # default sweep, CPU (+ CUDA if present)
    python -m benchmarks.sim_throughput --quick         # smoke run, a few seconds
    python benchmarks/sim_throughput.py --envs 1024 4096 --compile --out /tmp/x.json

What is timed, for each robot and each number of environments N:

- ``ours``: :meth:`Articulation.make_stepper` (one call = one env step =
  ``SUBSTEPS`` physics steps of every env), per device and stepper mode
  (CPU: eager, plus compile with ``--compile``; CUDA: eager, graph, compile,
  compile+graph);
- ``env``: ``course_lib.make(<task>, num_envs=N, device=...).step(actions)``
  with random actions in [-1, 1] (task logic, observations, rewards and
  resets included), when ``course_lib.make`` exists;
- ``mujoco``: ``mujoco.rollout`` over N initial states of the same URDF, with
  as many threads as torch uses (``torch.get_num_threads()``), on the CPU.

Throughput is "physics-steps/s" = N x physics steps / s and "env-steps/s" =
N x env steps / s. Each cell: warm-up, then the number of calls that takes at
least ``--min-time`` seconds is timed ``--repeats`` times, with
``torch.cuda.synchronize()`` before every clock read on CUDA; the median is
reported, and the best repeat beside it. The runners of one (robot, N) cell take turns repeat by repeat, so
that a neighbour's load on a shared machine hits ours and MuJoCo alike. The
state is reset to the same initial state before every repeat.

How the MuJoCo peer mirrors our model (see benchmarks/README.md):

- Panda: the URDF read by MuJoCo (``course_lib.sim.mujoco_bridge``), built
  with ``mujoco.MjSpec`` to add one ``<velocity kv=PANDA_DAMPING>`` actuator
  per joint (force = kv (ctrl - qdot), clamped to the URDF effort limit),
  ``gravcomp=1`` on every body (our controller's nominal gravity
  compensation), armature ``PANDA_ARMATURE``, integrator ``implicitfast``
  (which treats the actuator's damping implicitly, as our implicit drive
  does), joint limits on, contacts off (the URDF has no geoms anyway).
- Cart-pole: a ``<motor>`` on the cart's slider (ctrl = force in N), Euler.

Both start from the same random states with the same per-env targets; a
short float64 rollout checks, before the timing, that the two engines follow
the same trajectory (``peer_check`` in the JSON).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass

if __package__ in (None, ""):  # `python benchmarks/sim_throughput.py`: make the repo root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import torch

import course_lib
from course_lib.sim import asset_path, load_urdf

# ---------------------------------------------------------------------------
# Panda (the arm of the franka_reach task): Isaac Gym's velocity drive.
PANDA_URDF = "franka_panda.urdf"
PANDA_PHYSICS_DT = 1.0 / 120.0  # s, one physics step
PANDA_SUBSTEPS = 2  # physics steps per env step: control at 1 / (2 * 1/120) = 60 Hz
PANDA_STIFFNESS = 0.0  # N m/rad: none, a pure velocity drive
PANDA_DAMPING = 40.0  # N m s/rad: drive gain on (vel_target - qd), implicit
PANDA_ARMATURE = 0.1  # kg m^2 on every joint (MuJoCo Menagerie's value)
PANDA_GRAVITY_COMPENSATION = True  # drive adds g(q) of the nominal model, as the real controller
PANDA_TARGET_FRACTION = 1.0  # velocity targets: uniform in +-(fraction x URDF velocity limit), rad/s
PANDA_ENV = "franka_reach"  # task timed through course_lib.make

# Cart-pole (IsaacGymEnvs Cartpole.yaml: dt 1/60 with 2 substeps): effort drive on the cart.
CARTPOLE_URDF = "cartpole.urdf"
CARTPOLE_PHYSICS_DT = 1.0 / 120.0  # s: Isaac Gym's dt 1/60 split in 2 substeps
CARTPOLE_SUBSTEPS = 2  # physics steps per env step: control at 60 Hz
CARTPOLE_MAX_FORCE = 400.0  # N: cart force = action x 400 (action uniform in [-1, 1]); pole unactuated
CARTPOLE_ENV = "cartpole"  # task timed through course_lib.make, if registered

# Sweep and timing.
DEFAULT_ENVS = (256, 1024, 4096, 16384, 65536)
QUICK_ENVS = (64, 256)
MIN_TIME = 0.5  # s of timed calls per repeat (at least one call): 5 x 0.5 s = 2.5 s per row and cell
QUICK_MIN_TIME = 0.05
REPEATS = 5  # timed repeats per cell, the median reported: on a shared 2-core machine a repeat now
# and then runs 5-40x slow (a neighbour takes a core from torch's OpenMP team); 3 was not enough
WARMUP = 3  # untimed calls before calibration (after compile / graph capture)
SEED = 0
MUJOCO_OUT_BYTES = 32 << 20  # rollout's state output buffer: the rollout is chunked to stay below this
MUJOCO_FUSESTATIC = True  # MuJoCo merges the fixed links (flange, hand, TCP) into link 7, as our
# Articulation lumps them into one body; --mj-no-fusestatic keeps them as MuJoCo bodies.


# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Robot:
    key: str  # "panda" | "cartpole"
    urdf: str
    physics_dt: float
    substeps: int
    env_name: str

    @property
    def env_dt(self) -> float:
        return self.physics_dt * self.substeps


ROBOTS = {
    "panda": Robot("panda", PANDA_URDF, PANDA_PHYSICS_DT, PANDA_SUBSTEPS, PANDA_ENV),
    "cartpole": Robot("cartpole", CARTPOLE_URDF, CARTPOLE_PHYSICS_DT, CARTPOLE_SUBSTEPS, CARTPOLE_ENV),
}


def initial_conditions(robot: Robot, n: int, seed: int):
    """Same start for every engine: q0, qd0 (n, D) and the per-env control (n, D), float64 numpy.

    Panda: q uniform within the limits (5 % margin), at rest; control = velocity
    targets. Cart-pole: cart within +-1 m, pole within +-0.2 rad; control = joint
    efforts (cart force, pole 0).
    """
    rng = np.random.default_rng(seed)
    if robot.key == "panda":
        art = load_urdf(asset_path(robot.urdf), 1, dtype=torch.float64)
        lo, hi = art.lower.numpy(), art.upper.numpy()
        vmax = art.velocity_limit_urdf.numpy()
        margin = 0.05 * (hi - lo)
        q0 = lo + margin + rng.random((n, len(lo))) * (hi - lo - 2 * margin)
        qd0 = np.zeros_like(q0)
        ctrl = rng.uniform(-1.0, 1.0, q0.shape) * vmax * PANDA_TARGET_FRACTION
        return q0, qd0, ctrl
    q0 = np.stack((rng.uniform(-1.0, 1.0, n), rng.uniform(-0.2, 0.2, n)), 1)
    qd0 = np.stack((rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)), 1)
    ctrl = np.stack((rng.uniform(-1.0, 1.0, n) * CARTPOLE_MAX_FORCE, np.zeros(n)), 1)
    return q0, qd0, ctrl


def build_ours(robot: Robot, n: int, device, dtype=torch.float32, seed: int = SEED):
    """An Articulation set up with the benchmark's drive, state and targets."""
    art = load_urdf(asset_path(robot.urdf), n, device=device, dtype=dtype)
    q0, qd0, ctrl = initial_conditions(robot, n, seed)
    t = lambda x: torch.as_tensor(x, dtype=dtype, device=art.device)  # noqa: E731
    art.q.copy_(t(q0))
    art.qd.copy_(t(qd0))
    if robot.key == "panda":
        art.stiffness.fill_(PANDA_STIFFNESS)
        art.damping.fill_(PANDA_DAMPING)
        art.armature.fill_(PANDA_ARMATURE)
        art.gravity_compensation = PANDA_GRAVITY_COMPENSATION
        art.vel_target.copy_(t(ctrl))
    else:
        art.effort.copy_(t(ctrl))
    return art


# ---------------------------------------------------------------------------
# MuJoCo peer
def _import_mujoco():
    try:
        import mujoco
        from mujoco import rollout  # noqa: F401
    except ImportError:
        return None
    return mujoco


def _urdf_xml(path: str, fusestatic: bool) -> str:
    try:
        from course_lib.sim.mujoco_bridge import urdf_for_mujoco
    except ImportError:  # older checkout: insert the compiler element by hand
        text = open(path).read()
        m = re.search(r"<robot[^>]*>", text)
        ext = (f'<mujoco><compiler fusestatic="{str(fusestatic).lower()}" discardvisual="true" '
               f'balanceinertia="false"/></mujoco>')
        return text[:m.end()] + ext + text[m.end():]
    return urdf_for_mujoco(path, fusestatic=fusestatic)


def build_mujoco_model(robot: Robot, fusestatic: bool = MUJOCO_FUSESTATIC):
    """MjModel of the robot's URDF with actuators that mirror our drive (see the module docstring)."""
    mujoco = _import_mujoco()
    spec = mujoco.MjSpec.from_string(_urdf_xml(asset_path(robot.urdf), fusestatic))
    spec.option.timestep = robot.physics_dt
    spec.option.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    if robot.key == "panda":
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        for j in spec.joints:
            j.armature = PANDA_ARMATURE
            act = spec.add_actuator(name=f"vel_{j.name}", target=j.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
            act.set_to_velocity(kv=PANDA_DAMPING)
        if PANDA_GRAVITY_COMPENSATION:
            for b in spec.bodies:
                if b.name != "world":
                    b.gravcomp = 1.0
    else:
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_EULER
        for j in spec.joints:
            act = spec.add_actuator(name=f"force_{j.name}", target=j.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
            act.set_to_motor()
    return spec.compile()


def mujoco_initial_state(model, q0, qd0):
    """(n, nstate) mjSTATE_FULLPHYSICS vectors with the given qpos, qvel."""
    mujoco = _import_mujoco()
    sig = mujoco.mjtState
    full = int(sig.mjSTATE_FULLPHYSICS)
    data = mujoco.MjData(model)
    template = np.empty(mujoco.mj_stateSize(model, full))
    mujoco.mj_getState(model, data, template, full)
    state = np.tile(template, (q0.shape[0], 1))
    # Components are stored in the order of the signature's bits: time, qpos, qvel, ...
    o_q = mujoco.mj_stateSize(model, int(sig.mjSTATE_TIME))
    o_v = o_q + model.nq
    state[:, o_q:o_q + model.nq] = q0
    state[:, o_v:o_v + model.nv] = qd0
    return state


def mujoco_controls(robot: Robot, ctrl):
    """Actuator controls (n, 1, nu), held over the rollout, from our per-joint control.

    One actuator per joint in joint order: Panda velocity targets (rad/s);
    cart-pole forces (the cart's, and the pole's motor at 0).
    """
    return np.ascontiguousarray(ctrl[:, None, :])


def peer_check(robot: Robot, steps: int = 20, n: int = 8):
    """Run ours (float64, CPU) and MuJoCo side by side for ``steps`` physics steps; max |dq|, |dqd|.

    Where the two engines differ on purpose, the check stays away: targets
    are scaled down so that no joint limit is reached (we clamp at the stop,
    MuJoCo uses a soft constraint), and our effort limit is lifted (we scale
    the whole commanded torque, gravity compensation included, when it
    exceeds the limit; MuJoCo clamps the actuator force alone). Expect
    agreement to ~1e-12; the timed runs keep both engines' limits on.
    """
    mujoco = _import_mujoco()
    from mujoco import rollout
    art = build_ours(robot, n, "cpu", dtype=torch.float64, seed=SEED + 1)
    art.effort_limit.fill_(1e9)
    q0, qd0, ctrl = initial_conditions(robot, n, SEED + 1)
    if robot.key == "panda":
        ctrl = ctrl * 0.1
        art.vel_target.copy_(torch.as_tensor(ctrl))
    for _ in range(steps):
        art.physics_step(robot.physics_dt)
    model = build_mujoco_model(robot)
    data = mujoco.MjData(model)
    state, _ = rollout.rollout(model, data, mujoco_initial_state(model, q0, qd0), mujoco_controls(robot, ctrl),
                               nstep=steps)
    o_q = mujoco.mj_stateSize(model, int(mujoco.mjtState.mjSTATE_TIME))
    mq = state[:, -1, o_q:o_q + model.nq]
    mv = state[:, -1, o_q + model.nq:o_q + model.nq + model.nv]
    return {"robot": robot.key, "steps": steps, "num_envs": n,
            "max_abs_dq": float(np.abs(mq - art.q.numpy()).max()),
            "max_abs_dqd": float(np.abs(mv - art.qd.numpy()).max()),
            "max_abs_qd": float(np.abs(mv).max())}


# ---------------------------------------------------------------------------
# Runners: one per timed row of a (robot, N) cell.
def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _warm(fn, device, warmup: int, min_time: float) -> None:
    """Up to ``warmup`` untimed calls, stopping early once they took ``min_time`` (slow cells)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
        _sync(device)
        if time.perf_counter() - t0 > min_time:
            break


class Runner:
    """Times ``calls`` units of work; ``env_steps_per_call`` env steps each.

    ``timed()`` returns (wall seconds, process CPU seconds) per env step; CPU
    seconds count every thread of this process (a spinning OpenMP thread
    too): with one thread they measure the work alone, also when other
    programs share the cores.
    """

    engine = "?"
    device = "cpu"
    mode = "-"
    calls = 1
    env_steps_per_call = 1.0
    physics_per_env_step: int | None = None
    setup_s = 0.0
    compile_s: float | None = None

    def call(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        pass

    def calibrate(self, min_time: float) -> None:
        _sync(self.device)
        t0 = time.perf_counter()
        self.call()
        _sync(self.device)
        dt = max(time.perf_counter() - t0, 1e-7)
        self.calls = max(1, math.ceil(min_time / dt))

    def timed(self):
        """One repeat: (wall, CPU) seconds per env step (of all N envs)."""
        self.reset()
        _sync(self.device)
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(self.calls):
            self.call()
        _sync(self.device)
        t1, c1 = time.perf_counter(), time.process_time()
        k = self.calls * self.env_steps_per_call
        return (t1 - t0) / k, (c1 - c0) / k

    def close(self) -> None:
        pass


class OursRunner(Runner):
    engine = "ours"

    def __init__(self, robot: Robot, n: int, device: str, mode: str, warmup: int, min_time: float):
        self.device, self.mode = device, mode
        self.physics_per_env_step = robot.substeps
        self.art = build_ours(robot, n, device)
        self.q0, self.qd0 = self.art.q.clone(), self.art.qd.clone()
        t0 = time.perf_counter()
        self.fn = self.art.make_stepper(robot.env_dt, robot.substeps, mode=mode)
        self.fn()  # compilation happens here ("compile"); graph capture happened in make_stepper
        _sync(device)
        self.setup_s = time.perf_counter() - t0
        if "compile" in mode:
            self.compile_s = self.setup_s
        _warm(self.fn, device, warmup, min_time)

    def call(self) -> None:
        self.fn()

    def reset(self) -> None:
        self.art.q.copy_(self.q0)
        self.art.qd.copy_(self.qd0)


class EnvRunner(Runner):
    engine = "env"

    def __init__(self, env, n: int, device: str, warmup: int, min_time: float):
        self.env, self.device = env, device
        self.physics_per_env_step = _env_substeps(env)
        mode = str(getattr(env, "stepper_mode", "-"))
        if mode == "auto":  # VecEnvBase.simulate's choice
            mode = "auto:" + ("graph" if torch.device(device).type == "cuda" else "eager")
        self.mode = mode
        gen = torch.Generator(device="cpu").manual_seed(SEED)
        na = int(env.num_actions)
        self.actions = [(torch.rand(n, na, generator=gen) * 2.0 - 1.0).to(device) for _ in range(8)]
        self.i = 0
        t0 = time.perf_counter()
        _warm(self.call, device, warmup, min_time)
        self.setup_s = time.perf_counter() - t0

    def call(self) -> None:
        self.env.step(self.actions[self.i % len(self.actions)])
        self.i += 1


class MujocoRunner(Runner):
    engine = "mujoco"
    mode = "rollout"

    def __init__(self, robot: Robot, n: int, nthread: int, fusestatic: bool):
        mujoco = _import_mujoco()
        from mujoco import rollout
        self.nthread = nthread
        self.physics_per_env_step = robot.substeps
        t0 = time.perf_counter()
        self.model = build_mujoco_model(robot, fusestatic)
        q0, qd0, ctrl = initial_conditions(robot, n, SEED)
        self.init = mujoco_initial_state(self.model, q0, qd0)
        self.ctrl = mujoco_controls(robot, ctrl)
        nst = self.init.shape[1]
        # nthread == 1: run on the calling thread (a pool of one adds only a hand-off).
        self.pool = rollout.Rollout(nthread=nthread if nthread > 1 else 0)
        self.datas = [mujoco.MjData(self.model) for _ in range(max(1, nthread))]
        self.chunk = max(1, MUJOCO_OUT_BYTES // (n * nst * 8))
        self.out = np.empty((n, self.chunk, nst))
        self.nstep = robot.substeps  # physics steps per repeat, set by calibrate
        self.rollout_steps(2 * robot.substeps)  # warm-up (pool start, first touch of the buffers)
        self.setup_s = time.perf_counter() - t0

    def rollout_steps(self, nstep: int) -> None:
        state = self.init
        done = 0
        while done < nstep:
            k = min(self.chunk, nstep - done)
            out = self.out[:, :k]
            if k != self.chunk:
                out = np.empty((self.init.shape[0], k, self.init.shape[1]))
            self.pool.rollout(self.model, self.datas, state, self.ctrl, nstep=k, state=out)
            state = out[:, -1].copy()  # the next chunk overwrites this buffer
            done += k

    def calibrate(self, min_time: float) -> None:
        s = self.physics_per_env_step
        t0 = time.perf_counter()
        self.rollout_steps(2 * s)
        per_step = max((time.perf_counter() - t0) / (2 * s), 1e-8)
        env_steps = max(1, math.ceil(min_time / (per_step * s)))
        self.nstep = self.calls = env_steps * s  # calls: physics steps per repeat, for the JSON
        self.chunk = min(self.chunk, self.nstep)
        self.out = self.out[:, :self.chunk]

    def timed(self):
        c0, t0 = time.process_time(), time.perf_counter()
        self.rollout_steps(self.nstep)
        t1, c1 = time.perf_counter(), time.process_time()
        k = self.nstep / self.physics_per_env_step
        return (t1 - t0) / k, (c1 - c0) / k

    def close(self) -> None:
        self.pool.close()


def _env_substeps(env) -> int | None:
    """Physics steps per env.step, if the env says (several spellings are probed)."""
    names = ("substeps", "decimation", "control_freq_inv", "sim_substeps")
    for obj in (env, getattr(env, "cfg", None), getattr(getattr(env, "cfg", None), "sim", None)):
        if obj is None:
            continue
        for name in names:
            v = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
            if isinstance(v, int) and v > 0:
                return v
    return None


def _make_env(name: str, n: int, device: str):
    """(env, note): course_lib.make(name, ...) or None with the reason."""
    make = getattr(course_lib, "make", None)
    if make is None:
        try:
            from course_lib import make  # noqa: F811 - a lazily exported make
        except ImportError:
            return None, "course_lib.make is not importable yet: env-step rows skipped"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return make(name, num_envs=n, device=device), None
    except Exception as e:  # an unknown task, or a task that cannot be built here
        return None, f"course_lib.make({name!r}, num_envs={n}, device={device!r}) failed: {type(e).__name__}: {e}"


# ---------------------------------------------------------------------------
def machine_info(devices) -> dict:
    cpu_model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    mujoco = _import_mujoco()
    info = {
        "hostname": socket.gethostname(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "mujoco": getattr(mujoco, "__version__", None),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if "cuda" in devices else None,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                            text=True, timeout=5).stdout.strip() or None
    except Exception:
        info["git_commit"] = None
    return info


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-") or "machine"


def _fmt_rate(x) -> str:
    if x is None:
        return "-"
    return f"{x / 1e6:.3f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"


def format_table(rows) -> str:
    mj = {(r["robot"], r["num_envs"]): r for r in rows if r["engine"] == "mujoco"}
    head = ("robot", "engine", "device", "mode", "N", "physics-steps/s", "env-steps/s", "ms/env-step",
            "best ms", "CPU ms", "ours/MuJoCo", "(best)", "setup s")
    lines = []
    for r in sorted(rows, key=lambda r: (r["robot"], r["num_envs"], r["engine"] == "mujoco", r["engine"],
                                         r["device"], r["mode"])):
        peer = mj.get((r["robot"], r["num_envs"]))
        ratio = best = "-"
        if r["engine"] == "ours" and peer is not None:
            ratio = f"{r['physics_steps_per_s'] / peer['physics_steps_per_s']:.2f}x"
            best = f"{peer['best_ms_per_env_step'] / r['best_ms_per_env_step']:.2f}x"
        lines.append((r["robot"], r["engine"], r["device"], r["mode"], str(r["num_envs"]),
                      _fmt_rate(r["physics_steps_per_s"]), _fmt_rate(r["env_steps_per_s"]),
                      f"{r['ms_per_env_step']:.3f}", f"{r['best_ms_per_env_step']:.3f}",
                      f"{r['cpu_ms_per_env_step']:.3f}", ratio, best, f"{r['setup_s']:.1f}"))
    widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    prev = None
    for x in lines:
        if prev is not None and x[:1] + x[4:5] != prev:
            out.append("")
        prev = x[:1] + x[4:5]
        out.append("  ".join(v.rjust(w) for v, w in zip(x, widths)))
    return "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", type=int, nargs="+", help=f"numbers of environments (default {list(DEFAULT_ENVS)})")
    p.add_argument("--robots", nargs="+", choices=sorted(ROBOTS), default=["panda", "cartpole"])
    p.add_argument("--devices", nargs="+", help="cpu and/or cuda (default: cpu, and cuda when available)")
    p.add_argument("--compile", action="store_true",
                   help="also time mode='compile' on the CPU (about 30 s of compilation per robot and N)")
    p.add_argument("--no-compile", action="store_true", help="skip mode='compile' on CUDA too")
    p.add_argument("--no-graph", action="store_true", help="skip mode='graph' on CUDA")
    p.add_argument("--no-env", action="store_true", help="skip the env.step rows")
    p.add_argument("--no-mujoco", action="store_true", help="skip the MuJoCo peer")
    p.add_argument("--mj-no-fusestatic", action="store_true",
                   help="keep the Panda's fixed links as MuJoCo bodies (fusestatic=false, as in the tests)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads(N) and MuJoCo rollout threads "
                   "(default: torch's own count)")
    p.add_argument("--cpu-max-envs", type=int, default=None,
                   help="largest N timed on the CPU (default: all; the run says which cells it dropped)")
    p.add_argument("--min-time", type=float, help=f"seconds per timed repeat (default {MIN_TIME})")
    p.add_argument("--repeats", type=int, default=REPEATS, help="timed repeats per cell; median reported")
    p.add_argument("--warmup", type=int, default=WARMUP, help="untimed calls before timing")
    p.add_argument("--quick", action="store_true", help=f"smoke run: N in {list(QUICK_ENVS)}, "
                   f"{QUICK_MIN_TIME} s per repeat, no compile unless --compile")
    p.add_argument("--out", help="JSON output (default benchmarks/out/sim_throughput_<gpu-or-hostname>.json)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    nthread = torch.get_num_threads()
    envs = args.envs or (list(QUICK_ENVS) if args.quick else list(DEFAULT_ENVS))
    min_time = args.min_time if args.min_time is not None else (QUICK_MIN_TIME if args.quick else MIN_TIME)
    if args.devices:
        devices = args.devices
    else:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    notes = []
    if "cuda" in devices and not torch.cuda.is_available():
        notes.append("CUDA asked for but not available: CUDA rows skipped")
        devices = [d for d in devices if d != "cuda"]
    cuda_compile = not args.no_compile and (args.compile or not args.quick)
    modes = {"cpu": ["eager"] + (["compile"] if args.compile else []),
             "cuda": ["eager"] + ([] if args.no_graph else ["graph"]) + (["compile"] if cuda_compile else [])
             + (["compile+graph"] if cuda_compile and not args.no_graph else [])}
    if any("compile" in modes[d] for d in devices):
        # Every stepper compiles the same code object (Articulation.physics_step's lambda); each
        # (robot, N, device) is one more cache entry, and past recompile_limit (default 8) Dynamo
        # silently runs the rest eager. A sweep has up to 2 robots x 5 N x 2 devices x 2 modes.
        import torch._dynamo as dynamo
        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(dynamo.config, name):
                setattr(dynamo.config, name, 1024)
    mujoco = None if args.no_mujoco else _import_mujoco()
    if mujoco is None and not args.no_mujoco:
        notes.append("mujoco is not installed (pip install mujoco): MuJoCo rows skipped")
    fusestatic = MUJOCO_FUSESTATIC and not args.mj_no_fusestatic

    info = machine_info(devices)
    if info["loadavg_start"] and info["loadavg_start"][0] > 0.5:
        notes.append(f"load average {info['loadavg_start'][0]:.2f} at start: other processes share the cores, "
                     "timings may be low and noisy")
    out_path = args.out or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "out",
        f"sim_throughput_{_slug(info['gpu'] if info['gpu'] else info['hostname'])}.json")
    config = {
        "envs": envs, "robots": args.robots, "devices": devices, "modes": {d: modes[d] for d in devices},
        "min_time_s": min_time, "repeats": args.repeats, "warmup": args.warmup, "mujoco_threads": nthread,
        "mujoco_fusestatic": fusestatic, "quick": args.quick,
        "panda": {"physics_dt": PANDA_PHYSICS_DT, "substeps": PANDA_SUBSTEPS, "stiffness": PANDA_STIFFNESS,
                  "damping": PANDA_DAMPING, "armature": PANDA_ARMATURE,
                  "gravity_compensation": PANDA_GRAVITY_COMPENSATION,
                  "target_fraction_of_velocity_limit": PANDA_TARGET_FRACTION, "env": PANDA_ENV},
        "cartpole": {"physics_dt": CARTPOLE_PHYSICS_DT, "substeps": CARTPOLE_SUBSTEPS,
                     "max_force": CARTPOLE_MAX_FORCE, "env": CARTPOLE_ENV},
    }
    print(f"sim_throughput: {info['cpu_model']} ({info['cpu_affinity']} cores), torch {info['torch']} "
          f"({nthread} threads), mujoco {info['mujoco']}, gpu {info['gpu']}", flush=True)
    print(f"  N = {envs}, devices = {devices}, modes = { {d: modes[d] for d in devices} }, "
          f"{args.repeats} x >= {min_time} s per cell", flush=True)

    peer = []
    if mujoco is not None:
        for key in args.robots:
            chk = peer_check(ROBOTS[key])
            peer.append(chk)
            flag = "" if chk["max_abs_dq"] < 1e-9 else "  <-- the peer does not follow our trajectory"
            print(f"  peer check {key}: {chk['steps']} steps, max |q_ours - q_mujoco| = {chk['max_abs_dq']:.2e}, "
                  f"max |qd diff| = {chk['max_abs_dqd']:.2e}{flag}", flush=True)

    rows = []
    result = {"machine": info, "config": config, "peer_check": peer, "rows": rows, "notes": notes}

    def save():
        result["machine"]["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        result["wall_s"] = round(time.perf_counter() - t_start, 1)
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        with open(out_path, "w") as f:
            json.dump(result, f, indent=1)

    env_notes = set()
    for key in args.robots:
        robot = ROBOTS[key]
        for n in envs:
            runners = []
            for dev in devices:
                if dev == "cpu" and args.cpu_max_envs and n > args.cpu_max_envs:
                    notes.append(f"{key} N={n} on the CPU dropped (--cpu-max-envs {args.cpu_max_envs})")
                    continue
                for mode in modes[dev]:
                    try:
                        runners.append(OursRunner(robot, n, dev, mode, args.warmup, min_time))
                    except Exception as e:
                        notes.append(f"ours {key} N={n} {dev} {mode} failed: {type(e).__name__}: {e}")
                if not args.no_env:
                    env, why = _make_env(robot.env_name, n, dev)
                    if env is None:
                        if why not in env_notes:
                            env_notes.add(why)
                            notes.append(why)
                    else:
                        try:
                            runners.append(EnvRunner(env, n, dev, args.warmup, min_time))
                        except Exception as e:
                            notes.append(f"env {robot.env_name} N={n} {dev} failed: {type(e).__name__}: {e}")
            if mujoco is not None:
                runners.append(MujocoRunner(robot, n, nthread, fusestatic))
            for r in runners:
                r.calibrate(min_time)
            times = {id(r): [] for r in runners}
            for _ in range(max(1, args.repeats)):  # runners take turns, repeat by repeat
                for r in runners:
                    times[id(r)].append(r.timed())
            for r in runners:
                wall = [w for w, _ in times[id(r)]]
                cpu = [c for _, c in times[id(r)]]
                t = statistics.median(wall)
                pps = None if r.physics_per_env_step is None else n * r.physics_per_env_step / t
                row = {"robot": key, "engine": r.engine, "device": r.device, "mode": r.mode, "num_envs": n,
                       "physics_steps_per_s": pps, "env_steps_per_s": n / t, "ms_per_env_step": 1e3 * t,
                       "physics_steps_per_env_step": r.physics_per_env_step,
                       "repeats_ms_per_env_step": [1e3 * x for x in wall],
                       "best_ms_per_env_step": 1e3 * min(wall),
                       "cpu_ms_per_env_step": 1e3 * statistics.median(cpu),
                       "calls_per_repeat": r.calls, "setup_s": r.setup_s, "compile_s": r.compile_s}
                if r.engine == "mujoco":
                    row["threads"] = r.nthread
                rows.append(row)
                print(f"  {key:8s} {r.engine:6s} {r.device:4s} {r.mode:8s} N={n:6d}  "
                      f"{_fmt_rate(pps):>9s} physics-steps/s  {_fmt_rate(n / t):>9s} env-steps/s  "
                      f"{1e3 * t:9.3f} ms/env-step (CPU {row['cpu_ms_per_env_step']:.3f} ms)"
                      + (f"  compile {r.compile_s:.1f} s" if r.compile_s else ""), flush=True)
                r.close()
            del runners
            save()

    print()
    print(format_table(rows))
    if peer:
        print()
        print("MuJoCo peer: same URDF, velocity actuators kv=%g (Panda) / motor (cart-pole), %d rollout "
              "threads, fusestatic=%s. ours/MuJoCo: physics-steps/s at the same N, medians; (best): the "
              "same from each row's fastest repeat (the better estimate when the cores are shared)."
              % (PANDA_DAMPING, nthread, fusestatic))
    for note in notes:
        print(f"note: {note}")
    save()
    print(f"wrote {out_path} ({time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
