"""Domain randomization in Isaac Gym's ``randomization_params`` schema, vectorised per environment.

The chapter's section "Sim-to-Real Transfer with Domain Randomization" writes
three functions, ``randomize_physics(env_ids)``, ``add_observation_noise(obs)``
and ``randomize_visuals(env_ids)``. Isaac Gym (IsaacGymEnvs' ``VecTask``)
describes the same thing as data, a ``randomization_params`` dictionary in
the task's YAML file; this module reads that dictionary, checks it, and
applies it with no loop over environments, from seeded generators::

    from course_lib.envs import make
    from course_lib.envs.randomization import randomize, CHAPTER_RANDOMIZATION

    env = randomize(make("franka_reach", num_envs=4096, seed=0), CHAPTER_RANDOMIZATION, seed=0)
    obs, rew, resets, extras = env.step(actions)      # noisy observations, randomized physics
    env.randomizer.describe()                          # what is randomized, and how

The schema (Isaac Gym's keys; ``[course]`` marks this course's additions)::

    randomization_params:
      frequency: 600            # control steps between re-draws of an env (see below)
      observations:             # noise on obs_buf, fresh every step
        range: [0, .002]        # gaussian: [mean, std]; uniform / loguniform: [low, high]
        operation: additive     # additive: x + sample | scaling: x * sample
        distribution: gaussian  # gaussian | uniform (| loguniform for physics)
        schedule: linear        # optional: linear | constant
        schedule_steps: 3000    #   (linear: ramp the range in over 3000 steps; constant: off, then on)
        range_correlated: [0, .001]  # optional: a per-environment offset, held between re-draws
      actions: {...}            # the same, on the actions before the task sees them
      sim_params:
        gravity: {range: [0, 0.4], operation: additive, distribution: gaussian}   # global, per axis
      actor_params:
        franka:                 # the robot (aliases: its URDF name, "robot")
          color: true           # a random colour per link (drawing only)
          rigid_body_properties:
            mass: {range: [0.8, 1.2], operation: scaling, distribution: uniform,
                   shared: true}            # [course] one scale per env for all links
          dof_properties:       # per joint, (num_envs, num_dofs) tensors
            damping:   {...}    # drive damping kd (N m s/rad): Isaac Gym's meaning
            stiffness: {...}    # drive stiffness kp (N m/rad)
            friction:  {...}    # joint (Coulomb) friction, N m
            armature:  {...}    # kg m^2
            effort:    {...}    # effort limit, N m
            velocity:  {...}    # velocity limit, rad/s
            joint_damping: {...}  # [course] passive viscous joint damping, N m s/rad
          rigid_shape_properties:
            friction:    {...}  # contact (surface) friction coefficient, per env
            restitution: {...}
        object:                 # [course] the task's object/target marker: colour only
          color: true
      actuation_latency: {range: [0, 2]}      # [course] delay in control steps, integers, per env
      visuals:                                # [course] what a camera-based policy would see
        light_intensity: {range: [0.5, 1.5], operation: scaling, distribution: uniform}
        camera_offset:   {range: [-0.05, 0.05], operation: additive, distribution: uniform}  # m, per axis

Semantics, as in Isaac Gym (``VecTask.apply_randomizations``) unless said:

- **Nominal values.** A value is ``nominal + sample`` (additive) or
  ``nominal * sample`` (scaling), where *nominal* is the value when the first
  randomizer was built on that env (kept in ``env._dr_nominal``). Re-drawing
  never compounds: a scale of 1.2 twice is still 1.2 times the nominal.
- **Distributions.** ``uniform [lo, hi]``; ``loguniform [lo, hi]``
  (``exp(uniform(log lo, log hi))``, lo > 0); ``gaussian [mean, std]``. Isaac
  Gym names the second gaussian number ``var`` but uses it as a standard
  deviation (``np.random.normal(mu, var)``); so do we.
- **One sample per element.** Isaac Gym draws a sample per link (mass) and
  per joint (dof properties). ``shared: true`` (a course extension) draws one
  per environment and uses it for every link / joint: the chapter's listing
  does that (one ``mass_scale``, one ``friction`` per environment).
- **Schedule.** With ``schedule`` and ``schedule_steps``, a factor ``s``
  grows with the control-step counter: ``linear``: ``min(step, steps) /
  steps``; ``constant``: 0 before ``steps``, then 1. Additive ranges are
  multiplied by ``s``; scaling ranges are moved towards 1: ``lo s + (1 - s)``
  (gaussian: mean moved to 1, std times ``s``). At ``s = 0`` nothing changes.
- **Frequency.** ``frequency`` (control steps, default 1) counts steps per
  environment: an environment's values (physics, latency, visuals,
  correlated noise) are re-drawn when it *resets* and at least ``frequency``
  steps have passed since its last draw; otherwise it keeps its values
  through the reset. Global values (``sim_params.gravity``) are re-drawn at a
  reset when ``frequency`` steps have passed since their last draw. The first
  application draws everything. Isaac Gym counts physics frames; we count
  control steps (``env.step`` calls).
- **Noise** (``observations``, ``actions``) is fresh at every step; its
  schedule factor is re-read at every step (Isaac Gym only updates it every
  ``frequency`` frames). ``range_correlated`` adds a per-environment offset
  that is held until that environment's next re-draw (Isaac Gym re-draws it
  for all environments together every ``frequency`` frames) and is allowed
  with ``additive`` only. As a course extension ``observations`` /
  ``actions`` may also be a mapping of named groups, each with a ``slice:
  [start, stop]`` of the vector: the chapter's noise is 0.001 rad on joint
  positions, 0.01 on velocities and 0.01 m on the target
  (:data:`CHAPTER_OBSERVATION_NOISE`).
- ``setup_only: true`` entries are drawn at the first application only.
  ``num_buckets`` (PhysX's material limit) is accepted and ignored: there is
  no such limit here.
- **Not supported** (a clear error says so): joint limits ``lower`` /
  ``upper`` (one set for all environments in ``course_lib.sim``), actor
  ``scale``, tendons, and other ``sim_params`` than ``gravity``.

Surface friction is stored per environment (``env.surface_friction``) and
acts on contacts only. The reach task has no contact dynamics (its collision
capsules only give penalties), so randomizing it changes nothing there; the
test suite checks that a rollout with and without it is bit-identical.

Each parameter entry has its own generator, seeded from ``seed`` and the
entry's path, so adding or removing one entry never changes the values drawn
for another; with ``seed=None`` the seed comes from the task's own seed
(``env.rng.initial_seed()``), and the task's generator is never consumed.
"""
from __future__ import annotations

import copy
import difflib
import math
import types
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import torch

from .latency import ActionLatency

__all__ = [
    "RandomizationError", "ParamSpec", "RandomizationParams", "DomainRandomizer", "randomize", "unrandomize",
    "merge_params", "sample_values", "restore_nominal", "ChapterRandomizationMixin", "ActionLatency",
    "set_light_intensity", "set_object_color", "set_camera_offset", "ensure_visual_buffers",
    "CHAPTER_PHYSICS", "CHAPTER_OBSERVATION_NOISE", "CHAPTER_VISUALS", "CHAPTER_RANDOMIZATION",
    "EXERCISE5_TEST_SET", "EXERCISE5_TRAIN_RANDOMIZATION", "NOMINAL_LIGHT_INTENSITY", "NOMINAL_OBJECT_COLOR", "NOMINAL_ROBOT_COLOR",
    "sag_demo", "SagDemo", "plot_sag_demo",
]

OPERATIONS = ("additive", "scaling")
DISTRIBUTIONS = ("uniform", "gaussian", "loguniform")
NOISE_DISTRIBUTIONS = ("uniform", "gaussian")
SCHEDULES = ("linear", "constant")

TOP_KEYS = ("frequency", "observations", "actions", "sim_params", "actor_params", "actuation_latency", "visuals")
SIM_PARAM_ATTRS = ("gravity",)
ACTOR_KEYS = ("color", "rigid_body_properties", "dof_properties", "rigid_shape_properties")
BODY_ATTRS = ("mass",)
DOF_ATTRS = ("damping", "stiffness", "friction", "armature", "effort", "velocity", "joint_damping")
SHAPE_ATTRS = ("friction", "restitution")
VISUAL_ATTRS = ("light_intensity", "camera_offset")
OBJECT_ACTORS = ("object", "target")

_PHYS_KEYS = ("range", "operation", "distribution", "schedule", "schedule_steps", "setup_only", "num_buckets", "shared")
_NOISE_KEYS = ("range", "operation", "distribution", "schedule", "schedule_steps", "range_correlated")
_VISUAL_KEYS = ("range", "operation", "distribution", "schedule", "schedule_steps", "setup_only", "shared")
_LATENCY_KEYS = ("range", "distribution", "setup_only")

_UNSUPPORTED = {
    "lower": "joint limits are shared by all environments in course_lib.sim (lower/upper are (num_dofs,) "
             "tensors), so they cannot be randomized per environment",
    "upper": "joint limits are shared by all environments in course_lib.sim (lower/upper are (num_dofs,) "
             "tensors), so they cannot be randomized per environment",
    "scale": "course_lib.sim cannot rescale an actor's geometry; randomize link masses instead",
    "tendon_properties": "course_lib.sim has no tendons",
    "hasLimits": "joint limits are fixed in course_lib.sim",
    "driveMode": "the drive mode is the task's choice, not a random parameter",
}

#: the chapter's light intensity range is 1000..3000; its midpoint is the nominal (drawing units)
NOMINAL_LIGHT_INTENSITY = 2000.0
#: RGB in [0, 1]: the target marker's colour before randomization (red) and the robot's (light grey)
NOMINAL_OBJECT_COLOR = (0.9, 0.15, 0.15)
NOMINAL_ROBOT_COLOR = (0.85, 0.85, 0.85)


class RandomizationError(ValueError):
    """A ``randomization_params`` dictionary (or its use on a task) is invalid; the message names the path."""


# ---------------------------------------------------------------- validation
def _fail(path: str, msg: str):
    raise RandomizationError(f"{path}: {msg}")


def _check_keys(d: Mapping, allowed: Iterable[str], path: str, unsupported: Mapping[str, str] | None = None) -> None:
    allowed = list(allowed)
    for k in d:
        if unsupported and k in unsupported:
            _fail(f"{path}.{k}", f"not supported: {unsupported[k]}; supported keys: {allowed}")
        if k not in allowed:
            close = difflib.get_close_matches(str(k), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            _fail(path, f"unknown key {k!r}{hint}; allowed: {allowed}")


def _mapping(x, path: str) -> Mapping:
    if not isinstance(x, Mapping):
        _fail(path, f"must be a mapping (a YAML section / dict), got {type(x).__name__} {x!r}")
    return x


def _choice(value, allowed, path: str) -> str:
    if value not in allowed:
        _fail(path, f"{value!r} is not one of {list(allowed)}")
    return value


def _number(x, path: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        _fail(path, f"must be a finite number, got {x!r}")
    return float(x)


def _pair(x, path: str) -> tuple[float, float]:
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__") or len(x) != 2:
        _fail(path, f"must be a list of two numbers [a, b], got {x!r}")
    return _number(x[0], f"{path}[0]"), _number(x[1], f"{path}[1]")


def _check_range(rng: tuple[float, float], dist: str, path: str) -> None:
    a, b = rng
    if dist == "gaussian":
        if b < 0:
            _fail(path, f"a gaussian range is [mean, std] and the std must be >= 0, got {list(rng)}")
    elif a > b:
        _fail(path, f"a {dist} range is [low, high] with low <= high, got {list(rng)}")
    elif dist == "loguniform" and a <= 0:
        _fail(path, f"a loguniform range needs 0 < low <= high, got {list(rng)}")


@dataclass(frozen=True)
class ParamSpec:
    """One validated randomization entry (a leaf of the schema), with its dotted ``path``."""

    path: str
    range: tuple
    operation: str = "additive"
    distribution: str = "uniform"
    schedule: str | None = None
    schedule_steps: int | None = None
    setup_only: bool = False
    shared: bool = False
    range_correlated: tuple | None = None
    slice: tuple | None = None

    def schedule_scale(self, step: int) -> float:
        """Isaac Gym's ``sched_scaling`` at control step ``step``: 1 with no schedule."""
        if self.schedule is None:
            return 1.0
        if self.schedule == "linear":
            return min(int(step), self.schedule_steps) / self.schedule_steps
        return 0.0 if int(step) < self.schedule_steps else 1.0

    def scheduled(self, step: int, correlated: bool = False) -> tuple[float, float]:
        """The range actually sampled at ``step``, schedule applied (Isaac Gym's rule)."""
        a, b = self.range_correlated if correlated else self.range
        s = self.schedule_scale(step)
        if s == 1.0:
            return a, b
        if self.operation == "additive":
            return a * s, b * s
        if self.distribution == "gaussian":  # [mean, std]: mean moves to 1, std shrinks
            return a * s + (1.0 - s), b * s
        return a * s + (1.0 - s), b * s + (1.0 - s)

    def to_dict(self) -> dict:
        d = {"range": list(self.range), "operation": self.operation, "distribution": self.distribution}
        if self.schedule is not None:
            d.update(schedule=self.schedule, schedule_steps=self.schedule_steps)
        if self.setup_only:
            d["setup_only"] = True
        if self.shared:
            d["shared"] = True
        if self.range_correlated is not None:
            d["range_correlated"] = list(self.range_correlated)
        if self.slice is not None:
            d["slice"] = list(self.slice)
        return d


def _parse_spec(d, path: str, allowed_keys, distributions=DISTRIBUTIONS) -> ParamSpec:
    d = _mapping(d, path)
    _check_keys(d, allowed_keys, path)
    for req in ("range", "operation", "distribution"):
        if req not in d:
            extra = {"operation": f" (one of {list(OPERATIONS)})",
                     "distribution": f" (one of {list(distributions)})",
                     "range": " ([low, high], or [mean, std] for gaussian)"}[req]
            _fail(path, f"missing {req!r}{extra}")
    op = _choice(d["operation"], OPERATIONS, f"{path}.operation")
    dist = _choice(d["distribution"], distributions, f"{path}.distribution")
    rng = _pair(d["range"], f"{path}.range")
    _check_range(rng, dist, f"{path}.range")
    sched, steps = d.get("schedule"), d.get("schedule_steps")
    if sched is not None:
        _choice(sched, SCHEDULES, f"{path}.schedule")
        if steps is None:
            _fail(path, f"schedule {sched!r} needs 'schedule_steps' (a positive number of control steps)")
    if steps is not None:
        if sched is None:
            _fail(f"{path}.schedule_steps", f"given without 'schedule' (one of {list(SCHEDULES)})")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
            _fail(f"{path}.schedule_steps", f"must be a positive integer (control steps), got {steps!r}")
    for flag in ("setup_only", "shared"):
        if flag in d and not isinstance(d[flag], bool):
            _fail(f"{path}.{flag}", f"must be true or false, got {d[flag]!r}")
    if "num_buckets" in d and (isinstance(d["num_buckets"], bool) or not isinstance(d["num_buckets"], int)
                               or d["num_buckets"] < 0):
        _fail(f"{path}.num_buckets", f"must be a non-negative integer, got {d['num_buckets']!r}")
    corr = None
    if "range_correlated" in d:
        corr = _pair(d["range_correlated"], f"{path}.range_correlated")
        _check_range(corr, dist, f"{path}.range_correlated")
        if op != "additive":
            _fail(f"{path}.range_correlated", "is supported with operation 'additive' only (a per-environment "
                  "offset); use a separate scaling entry for a per-environment gain")
    return ParamSpec(path=path, range=rng, operation=op, distribution=dist, schedule=sched,
                     schedule_steps=steps, setup_only=bool(d.get("setup_only", False)),
                     shared=bool(d.get("shared", False)), range_correlated=corr)


def _parse_noise(d, path: str) -> list[ParamSpec]:
    """``observations`` / ``actions``: one Isaac Gym noise spec, or [course] named groups with slices."""
    d = _mapping(d, path)
    if "range" in d or "operation" in d or "distribution" in d:
        return [_parse_spec(d, path, _NOISE_KEYS, NOISE_DISTRIBUTIONS)]
    if not d:
        _fail(path, "is empty: give a noise spec (range, operation, distribution) or named groups with 'slice'")
    groups = []
    for name, g in d.items():
        gp = f"{path}.{name}"
        g = _mapping(g, gp)
        if "slice" not in g:
            _fail(gp, "a noise group needs 'slice: [start, stop]' (the columns it applies to); or give "
                      f"{path} itself range, operation and distribution (Isaac Gym's form)")
        sl = g["slice"]
        if (isinstance(sl, (str, bytes)) or not hasattr(sl, "__len__") or len(sl) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in sl) or not 0 <= sl[0] < sl[1]):
            _fail(f"{gp}.slice", f"must be [start, stop] with integers 0 <= start < stop, got {sl!r}")
        spec = _parse_spec({k: v for k, v in g.items() if k != "slice"}, gp, _NOISE_KEYS, NOISE_DISTRIBUTIONS)
        groups.append(ParamSpec(**{**spec.__dict__, "slice": (int(sl[0]), int(sl[1]))}))
    return groups


@dataclass
class ActorParams:
    name: str
    color: bool = False
    rigid_body: dict = field(default_factory=dict)  # attr -> ParamSpec
    dof: dict = field(default_factory=dict)
    shape: dict = field(default_factory=dict)

    def entries(self):
        for group, attrs in (("rigid_body_properties", self.rigid_body), ("dof_properties", self.dof),
                             ("rigid_shape_properties", self.shape)):
            for attr, spec in attrs.items():
                yield group, attr, spec


@dataclass
class RandomizationParams:
    """A validated ``randomization_params`` dictionary (:meth:`from_dict`); :meth:`to_dict` gives it back."""

    frequency: int = 1
    observations: list = field(default_factory=list)  # [ParamSpec], slice None = every column
    actions: list = field(default_factory=list)
    sim_params: dict = field(default_factory=dict)  # "gravity" -> ParamSpec
    actors: dict = field(default_factory=dict)  # name -> ActorParams
    latency: ParamSpec | None = None  # range (int low, int high), control steps
    visuals: dict = field(default_factory=dict)  # attr -> ParamSpec
    name: str = "randomization_params"

    @classmethod
    def from_dict(cls, d: Mapping | None, name: str = "randomization_params") -> "RandomizationParams":
        """Validate ``d``; every error names the bad key's path and what is allowed there."""
        if d is None:
            return cls(name=name)
        d = _mapping(d, name)
        _check_keys(d, TOP_KEYS, name)
        out = cls(name=name)
        if "frequency" in d:
            f = d["frequency"]
            if isinstance(f, bool) or not isinstance(f, int) or f < 0:
                _fail(f"{name}.frequency", f"must be a non-negative integer (control steps), got {f!r}")
            out.frequency = int(f)
        if "observations" in d:
            out.observations = _parse_noise(d["observations"], f"{name}.observations")
        if "actions" in d:
            out.actions = _parse_noise(d["actions"], f"{name}.actions")
        if "sim_params" in d:
            sp = _mapping(d["sim_params"], f"{name}.sim_params")
            _check_keys(sp, SIM_PARAM_ATTRS, f"{name}.sim_params")
            out.sim_params = {k: _parse_spec(v, f"{name}.sim_params.{k}", _PHYS_KEYS) for k, v in sp.items()}
        if "actor_params" in d:
            ap = _mapping(d["actor_params"], f"{name}.actor_params")
            for actor, props in ap.items():
                p = f"{name}.actor_params.{actor}"
                props = _mapping(props, p)
                _check_keys(props, ACTOR_KEYS, p, _UNSUPPORTED)
                a = ActorParams(str(actor))
                if "color" in props:
                    if not isinstance(props["color"], bool):
                        _fail(f"{p}.color", f"must be true or false, got {props['color']!r}")
                    a.color = props["color"]
                for group, attrs, target in (("rigid_body_properties", BODY_ATTRS, a.rigid_body),
                                             ("dof_properties", DOF_ATTRS, a.dof),
                                             ("rigid_shape_properties", SHAPE_ATTRS, a.shape)):
                    if group in props:
                        g = _mapping(props[group], f"{p}.{group}")
                        _check_keys(g, attrs, f"{p}.{group}", _UNSUPPORTED)
                        for attr, spec in g.items():
                            target[attr] = _parse_spec(spec, f"{p}.{group}.{attr}", _PHYS_KEYS)
                out.actors[str(actor)] = a
        if "actuation_latency" in d:
            p = f"{name}.actuation_latency"
            lat = _mapping(d["actuation_latency"], p)
            _check_keys(lat, _LATENCY_KEYS, p)
            if "range" not in lat:
                _fail(p, "missing 'range' ([min, max] delay in control steps, integers)")
            r = lat["range"]
            if (isinstance(r, (str, bytes)) or not hasattr(r, "__len__") or len(r) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in r) or not 0 <= r[0] <= r[1]):
                _fail(f"{p}.range", f"must be [min, max] control steps, integers with 0 <= min <= max, got {r!r}")
            _choice(lat.get("distribution", "uniform"), ("uniform",), f"{p}.distribution")
            if "setup_only" in lat and not isinstance(lat["setup_only"], bool):
                _fail(f"{p}.setup_only", f"must be true or false, got {lat['setup_only']!r}")
            out.latency = ParamSpec(path=p, range=(int(r[0]), int(r[1])), operation="additive",
                                    distribution="uniform", setup_only=bool(lat.get("setup_only", False)))
        if "visuals" in d:
            v = _mapping(d["visuals"], f"{name}.visuals")
            _check_keys(v, VISUAL_ATTRS, f"{name}.visuals")
            out.visuals = {k: _parse_spec(s, f"{name}.visuals.{k}", _VISUAL_KEYS) for k, s in v.items()}
        return out

    @classmethod
    def coerce(cls, params) -> "RandomizationParams":
        """Accept a RandomizationParams, a ``randomization_params`` dict, or a task config holding one.

        A task config is a dict with ``randomization_params`` (and optionally
        Isaac Gym's ``randomize: false`` switch, which gives no randomization).
        """
        if isinstance(params, RandomizationParams):
            return params
        if isinstance(params, Mapping) and "randomization_params" in params:
            if params.get("randomize", True) is False:
                return cls()
            return cls.from_dict(params["randomization_params"])
        return cls.from_dict(params)

    def to_dict(self) -> dict:
        d: dict = {"frequency": self.frequency}
        for key, groups in (("observations", self.observations), ("actions", self.actions)):
            if groups:
                if len(groups) == 1 and groups[0].slice is None:
                    d[key] = groups[0].to_dict()
                else:
                    d[key] = {g.path.rsplit(".", 1)[-1]: g.to_dict() for g in groups}
        if self.sim_params:
            d["sim_params"] = {k: s.to_dict() for k, s in self.sim_params.items()}
        if self.actors:
            d["actor_params"] = {}
            for name, a in self.actors.items():
                ad: dict = {}
                if a.color:
                    ad["color"] = True
                for group, attrs in (("rigid_body_properties", a.rigid_body), ("dof_properties", a.dof),
                                     ("rigid_shape_properties", a.shape)):
                    if attrs:
                        ad[group] = {k: s.to_dict() for k, s in attrs.items()}
                d["actor_params"][name] = ad
        if self.latency is not None:
            d["actuation_latency"] = {"range": list(self.latency.range)}
            if self.latency.setup_only:
                d["actuation_latency"]["setup_only"] = True
        if self.visuals:
            d["visuals"] = {k: s.to_dict() for k, s in self.visuals.items()}
        return d

    @property
    def empty(self) -> bool:
        return not (self.observations or self.actions or self.sim_params or self.actors or self.latency
                    or self.visuals)


def merge_params(*dicts: Mapping) -> dict:
    """Deep-merge ``randomization_params`` dicts (later ones win), e.g. ``merge_params(CHAPTER_PHYSICS, CHAPTER_VISUALS)``."""
    out: dict = {}
    for d in dicts:
        for k, v in (d or {}).items():
            if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
                out[k] = merge_params(out[k], v)
            else:
                out[k] = copy.deepcopy(v)
    return out


# ------------------------------------------------------------------- sampling
def sample_values(spec: ParamSpec, shape, generator: torch.Generator, step: int = 0, device=None,
                  dtype=torch.float32, correlated: bool = False) -> torch.Tensor:
    """Draw a tensor of ``shape`` from ``spec`` at control step ``step`` (schedule applied)."""
    a, b = spec.scheduled(step, correlated)
    device = generator.device if device is None else device
    shape = tuple(shape)
    if spec.distribution == "gaussian":
        return torch.randn(shape, generator=generator, device=device, dtype=dtype) * b + a
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    if spec.distribution == "uniform":
        return a + (b - a) * u
    if a == b:  # loguniform collapsed by the schedule (additive at s = 0 gives [0, 0])
        return torch.full(shape, a, device=device, dtype=dtype)
    la, lb = math.log(a), math.log(b)
    return torch.exp(la + (lb - la) * u)


def _seed_for(seed: int, path: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(path.encode())) % (2**63 - 1)


def _as_ids(env_ids, num_envs: int, device) -> torch.Tensor:
    if env_ids is None:
        return torch.arange(num_envs, device=device)
    if isinstance(env_ids, slice):
        return torch.arange(num_envs, device=device)[env_ids]
    env_ids = torch.as_tensor(env_ids)
    if env_ids.dtype == torch.bool:
        env_ids = env_ids.nonzero(as_tuple=False).squeeze(-1)
    return env_ids.to(device=device, dtype=torch.long).reshape(-1)


# ---------------------------------------------------- per-env visual buffers
def ensure_visual_buffers(env) -> None:
    """Create ``env.light_intensity`` (N,), ``env.object_color`` (N, 3), ``env.camera_offset`` (N, 3, m)
    and ``env.robot_color`` (N, num_links, 3) at their nominal values, if missing.

    Drawing only: course_lib.viz may read them to light and colour each
    environment's 3D view and to move its camera; the physics never does.
    """
    N, dev = env.num_envs, env.device
    if getattr(env, "light_intensity", None) is None:
        env.light_intensity = torch.full((N,), NOMINAL_LIGHT_INTENSITY, device=dev)
    if getattr(env, "object_color", None) is None:
        env.object_color = torch.tensor(NOMINAL_OBJECT_COLOR, device=dev).repeat(N, 1)
    if getattr(env, "camera_offset", None) is None:
        env.camera_offset = torch.zeros(N, 3, device=dev)
    if getattr(env, "robot_color", None) is None:
        L = len(env.robot.link_names) if getattr(env, "robot", None) is not None else 1
        env.robot_color = torch.tensor(NOMINAL_ROBOT_COLOR, device=dev).repeat(N, L, 1)


def _set_rows(env, name: str, env_ids, values, width: int | None) -> None:
    ensure_visual_buffers(env)
    buf = getattr(env, name)
    ids = _as_ids(env_ids, env.num_envs, env.device)
    v = torch.as_tensor(values, dtype=buf.dtype).to(env.device)
    shape = (len(ids),) if width is None else (len(ids), width)
    if width is not None and v.dim() == 1 and v.numel() == width:
        v = v.expand(shape)
    if tuple(v.shape) != shape:
        raise ValueError(f"{name}: expected values of shape {shape} for {len(ids)} environments, got {tuple(v.shape)}")
    buf[ids] = v


def set_light_intensity(env, env_ids, intensity) -> None:
    """Light intensity of ``env_ids``' scenes, (n,), drawing units (nominal 2000; the chapter draws 1000..3000)."""
    _set_rows(env, "light_intensity", env_ids, intensity, None)


def set_object_color(env, env_ids, colors) -> None:
    """RGB colour in [0, 1] of the object (the reach target's marker) of ``env_ids``, (n, 3)."""
    _set_rows(env, "object_color", env_ids, colors, 3)


def set_camera_offset(env, env_ids, offsets) -> None:
    """Offset of ``env_ids``' camera from its nominal position, (n, 3), m."""
    _set_rows(env, "camera_offset", env_ids, offsets, 3)


# ------------------------------------------------------------ nominal values
_DOF_TENSORS = {"damping": "damping", "stiffness": "stiffness", "friction": "joint_friction",
                "armature": "armature", "effort": "effort_limit", "velocity": "velocity_limit",
                "joint_damping": "joint_damping"}


def _nominal(env) -> dict:
    """The values every randomizer of ``env`` draws around (taken once, at the first randomizer)."""
    nom = env.__dict__.get("_dr_nominal")
    if nom is None:
        robot = env.robot
        if getattr(env, "surface_friction", None) is None:
            env.surface_friction = torch.ones(env.num_envs, device=env.device)
        if getattr(env, "surface_restitution", None) is None:
            env.surface_restitution = torch.zeros(env.num_envs, device=env.device)
        ensure_visual_buffers(env)
        nom = {"link_mass": robot.link_mass.clone(), "link_inertia": robot.link_inertia.clone(),
               "gravity": (-robot._g_up[:, 0]).clone()}
        for attr in _DOF_TENSORS.values():
            nom[attr] = getattr(robot, attr).clone()
        for attr in ("surface_friction", "surface_restitution", "light_intensity", "object_color",
                     "camera_offset", "robot_color"):
            nom[attr] = getattr(env, attr).clone()
        env._dr_nominal = nom
    return nom


def restore_nominal(env) -> None:
    """Put every randomizable value of ``env`` back to its nominal value (in place)."""
    nom = env.__dict__.get("_dr_nominal")
    if nom is None:
        return
    robot = env.robot
    robot.link_mass.copy_(nom["link_mass"])
    robot.link_inertia.copy_(nom["link_inertia"])
    robot.update_inertia()
    _set_gravity(robot, nom["gravity"])
    for attr in _DOF_TENSORS.values():
        getattr(robot, attr).copy_(nom[attr])
    for attr in ("surface_friction", "surface_restitution", "light_intensity", "object_color", "camera_offset",
                 "robot_color"):
        getattr(env, attr).copy_(nom[attr])


def _set_gravity(robot, g: torch.Tensor) -> None:
    # One gravity vector for the whole simulation, as in Isaac Gym's sim_params. Written in place
    # so that compiled or captured steppers see it. (The controller's gravity compensation uses the
    # same vector: it compensates a gravity change but not a mass change.)
    robot._g_up.copy_((-g).reshape(3, 1).to(robot._g_up.dtype))
    robot.gravity = float(-g[2])


# ---------------------------------------------------------------- randomizer
class DomainRandomizer:
    """Draw and apply ``params`` (a ``randomization_params`` dict) to ``env``'s environments.

    Built alone, it changes nothing: call :meth:`apply` (physics, latency,
    visuals of some environments), :meth:`noise_obs` and
    :meth:`noise_actions`; or let :func:`randomize` hook it into the task's
    ``reset_idx``, ``pre_physics_step`` and ``compute_observations``.

    Attributes: ``params`` (:class:`RandomizationParams`), ``seed``,
    ``step_count`` (control steps seen; drives schedules), ``randomize_buf``
    (N,) steps since each environment's last draw, ``latency``
    (:class:`ActionLatency` or None).
    """

    def __init__(self, env, params, seed: int | None = None):
        self.env = env
        self.params = RandomizationParams.coerce(params)
        self.device = env.device
        self.num_envs = N = env.num_envs
        robot = env.robot
        if robot is None:
            raise RandomizationError(f"{type(env).__name__} has no robot to randomize")
        self.seed = int(seed) if seed is not None else int(env.rng.initial_seed()) ^ 0x5EED_D0_5EED
        self._gens: dict = {}
        self.step_count = 0
        self.randomize_buf = torch.zeros(N, dtype=torch.long, device=self.device)
        self._first = True
        self._last_global_step = 0
        self._hooks: dict | None = None
        self.nominal = _nominal(env)
        self._check_actors()
        self._check_noise_widths()
        self.latency = None
        if self.params.latency is not None:
            self.latency = ActionLatency(N, env.num_actions, self.params.latency.range[1], self.device,
                                         dtype=env.actions.dtype)
        # per-environment offsets of correlated noise, one per group
        self._corr = {}
        for key, groups, width in (("observations", self.params.observations, env.num_obs),
                                   ("actions", self.params.actions, env.num_actions)):
            for g in groups:
                if g.range_correlated is not None:
                    w = (g.slice[1] - g.slice[0]) if g.slice else width
                    self._corr[g.path] = torch.zeros(N, w, device=self.device)

    # ..................................................................... checks
    def robot_actor_names(self) -> list:
        name = self.env.robot.spec.name
        names = [name, "robot"]
        if "panda" in name or "franka" in name:
            names += ["franka", "panda"]
        return names

    def _check_actors(self) -> None:
        robot_names = self.robot_actor_names()
        for actor, a in self.params.actors.items():
            p = f"{self.params.name}.actor_params.{actor}"
            if actor in OBJECT_ACTORS:
                if a.rigid_body or a.dof or a.shape:
                    _fail(p, "the object/target marker is drawn only: it supports 'color' only")
            elif actor not in robot_names:
                _fail(p, f"no actor {actor!r} in {type(self.env).__name__}; actors: {robot_names[0]!r} "
                         f"(aliases {robot_names[1:]}) and 'object' (alias 'target'; color only)")

    def _check_noise_widths(self) -> None:
        for groups, width, what in ((self.params.observations, self.env.num_obs, "num_obs"),
                                    (self.params.actions, self.env.num_actions, "num_actions")):
            for g in groups:
                if g.slice is not None and g.slice[1] > width:
                    _fail(f"{g.path}.slice", f"{list(g.slice)} goes past the end: {type(self.env).__name__} "
                                             f"has {what} = {width}")

    def _gen(self, path: str) -> torch.Generator:
        g = self._gens.get(path)
        if g is None:
            g = torch.Generator(device=self.device)
            g.manual_seed(_seed_for(self.seed, path))
            self._gens[path] = g
        return g

    def _draw(self, spec: ParamSpec, shape, dtype=torch.float32, correlated=False) -> torch.Tensor:
        path = spec.path + (".correlated" if correlated else "")
        return sample_values(spec, shape, self._gen(path), self.step_count, self.device, dtype, correlated)

    # ..................................................................... apply
    def apply(self, env_ids=None, force: bool = False, which: str = "all") -> None:
        """Re-draw the per-environment values of ``env_ids`` (None: all) whose turn it is.

        An environment's turn comes when at least ``frequency`` control steps
        have passed since its last draw (or at the first application, or with
        ``force=True``). ``which``: ``"all"``, ``"physics"`` (masses, joint
        and surface properties, gravity, latency) or ``"visuals"`` (colours,
        light, camera). Nothing here loops over environments; values of
        environments not drawn are left exactly as they were.
        """
        if which not in ("all", "physics", "visuals"):
            raise ValueError(f"which must be 'all', 'physics' or 'visuals', got {which!r}")
        env, robot, nom, P = self.env, self.env.robot, self.nominal, self.params
        ids = _as_ids(env_ids, self.num_envs, self.device)
        n = len(ids)
        first = self._first
        if first or force:
            due = torch.ones(n, dtype=torch.bool, device=self.device)
        else:
            due = self.randomize_buf[ids] >= P.frequency
        physics, visuals = which in ("all", "physics"), which in ("all", "visuals")

        def active(spec):
            return first or not spec.setup_only

        def put(target, nominal, spec, elem_shape, lo=None, hi=None):
            shape = (n, *([1] * len(elem_shape) if spec.shared else elem_shape))
            sample = self._draw(spec, shape, target.dtype)
            base = nominal[ids]
            new = base + sample if spec.operation == "additive" else base * sample
            if lo is not None or hi is not None:
                new = new.clamp(min=lo, max=hi)
            mask = due.view(n, *([1] * len(elem_shape)))
            target[ids] = torch.where(mask, new, target[ids])
            return new

        if physics:
            # global: gravity (one value for the whole simulation)
            if P.sim_params and (first or self.step_count - self._last_global_step >= P.frequency):
                spec = P.sim_params.get("gravity")
                if spec is not None and active(spec):
                    s = self._draw(spec, (3,), robot.dtype)
                    g0 = nom["gravity"]
                    _set_gravity(robot, g0 + s if spec.operation == "additive" else g0 * s)
                self._last_global_step = self.step_count
            for actor in P.actors.values():
                if actor.name in OBJECT_ACTORS:
                    continue
                for group, attr, spec in actor.entries():
                    if not active(spec):
                        continue
                    if group == "rigid_body_properties":  # mass, inertia scaled with it
                        L = robot.link_mass.shape[1]
                        shape = (n, 1 if spec.shared else L)
                        sample = self._draw(spec, shape, robot.dtype)
                        m0 = nom["link_mass"][ids]
                        m = (m0 + sample if spec.operation == "additive" else m0 * sample).clamp_min(0.0)
                        ratio = torch.where(m0 > 0, m / m0.clamp_min(1e-12), torch.ones_like(m0))
                        inertia = nom["link_inertia"][ids] * ratio[..., None, None]
                        robot.link_mass[ids] = torch.where(due[:, None], m, robot.link_mass[ids])
                        robot.link_inertia[ids] = torch.where(due[:, None, None, None], inertia, robot.link_inertia[ids])
                        robot.update_inertia()
                    elif group == "dof_properties":
                        t = _DOF_TENSORS[attr]
                        put(getattr(robot, t), nom[t], spec, (robot.num_dofs,), lo=0.0)
                    else:  # rigid_shape_properties: the env's contact surface, one value per env
                        t = "surface_" + attr
                        put(getattr(env, t), nom[t], spec, (), lo=0.0, hi=1.0 if attr == "restitution" else None)
            if self.latency is not None:
                spec = P.latency
                if active(spec):
                    k = torch.randint(spec.range[0], spec.range[1] + 1, (n,), generator=self._gen(spec.path),
                                      device=self.device)
                    self.latency.delay[ids] = torch.where(due, k, self.latency.delay[ids])
            for path, buf in self._corr.items():
                spec = self._spec_by_path(path)
                new = self._draw(spec, (n, buf.shape[1]), buf.dtype, correlated=True)
                buf[ids] = torch.where(due[:, None], new, buf[ids])
        if visuals:
            for actor in P.actors.values():
                if not actor.color:
                    continue
                if actor.name in OBJECT_ACTORS:
                    c = torch.rand(n, 3, generator=self._gen(f"{P.name}.actor_params.{actor.name}.color"),
                                   device=self.device)
                    env.object_color[ids] = torch.where(due[:, None], c, env.object_color[ids])
                else:
                    L = env.robot_color.shape[1]
                    c = torch.rand(n, L, 3, generator=self._gen(f"{P.name}.actor_params.{actor.name}.color"),
                                   device=self.device)
                    env.robot_color[ids] = torch.where(due[:, None, None], c, env.robot_color[ids])
            for attr, spec in P.visuals.items():
                if not active(spec):
                    continue
                if attr == "light_intensity":
                    put(env.light_intensity, nom["light_intensity"], spec, (), lo=0.0)
                else:
                    put(env.camera_offset, nom["camera_offset"], spec, (3,))
        if which == "all" or which == "physics":
            self.randomize_buf[ids] = torch.where(due, torch.zeros_like(self.randomize_buf[ids]), self.randomize_buf[ids])
        if which == "all":
            self._first = False

    def _spec_by_path(self, path: str) -> ParamSpec:
        for g in self.params.observations + self.params.actions:
            if g.path == path:
                return g
        raise KeyError(path)  # pragma: no cover

    # ..................................................................... noise
    def _noise(self, x: torch.Tensor, groups, what: str) -> torch.Tensor:
        if not groups:
            return x
        out = x.clone()
        for g in groups:
            sl = slice(*g.slice) if g.slice is not None else slice(None)
            part = x[..., sl]
            noise = self._draw(g, part.shape, x.dtype)
            if g.path in self._corr:
                if x.shape[0] != self.num_envs:
                    raise ValueError(f"{what} noise with range_correlated needs one row per environment "
                                     f"({self.num_envs}), got shape {tuple(x.shape)}")
                noise = noise + self._corr[g.path].to(x.dtype)
            out[..., sl] = part + noise if g.operation == "additive" else part * noise
        return out

    def noise_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs`` with the ``observations`` noise added (a new tensor; ``obs`` is not modified)."""
        return self._noise(obs, self.params.observations, "observation")

    def noise_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """``actions`` with the ``actions`` noise added (a new tensor)."""
        return self._noise(actions, self.params.actions, "action")

    # ..................................................................... hooks
    def on_step(self) -> None:
        """Count one control step (schedules, frequency)."""
        self.step_count += 1
        self.randomize_buf += 1

    def on_reset(self, env_ids) -> None:
        """An episode ends for ``env_ids``: re-draw whose turn it is, and clear their action history."""
        ids = _as_ids(env_ids, self.num_envs, self.device)
        if ids.numel() == 0:
            return
        self.apply(ids)
        if self.latency is not None:
            self.latency.reset(ids)

    def process_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """What the robot executes for the policy's ``actions``: delayed (latency), then noisy."""
        if self.latency is not None:
            actions = self.latency(actions)
        return self.noise_actions(actions)

    def reseed(self, seed: int) -> None:
        """Start again from ``seed``: fresh generators, and every environment's values drawn anew, now.

        Afterwards the randomized values (physics, latency, visuals, correlated
        noise, gravity) are exactly those of a task built with this seed, so a
        randomized test set is the same set whatever ran before it
        (:meth:`VecEnvBase.seed` calls this; ``course_lib.evaluate`` re-seeds
        before every batch). The schedule's step counter is kept.
        """
        self.seed = int(seed)
        self._gens.clear()
        self._first = True
        self.apply(None, force=True)
        if self.latency is not None:
            self.latency.reset(None)

    def attach(self) -> None:
        """Hook into the task: ``reset_idx`` re-draws, ``pre_physics_step`` gets delayed and noisy actions,
        ``compute_observations`` returns noisy observations. Draws everything once, now."""
        env = self.env
        old = getattr(env, "randomizer", None)
        if isinstance(old, DomainRandomizer) and old is not self:
            old.detach()
        inst = env.__dict__
        saved = {name: inst.get(name) for name in ("reset_idx", "pre_physics_step", "compute_observations")}
        reset_idx, pre, obs_fn = env.reset_idx, env.pre_physics_step, env.compute_observations
        dr = self

        def randomized_reset_idx(env_ids):
            dr.on_reset(env_ids)
            reset_idx(env_ids)

        def randomized_pre_physics_step(actions):
            dr.on_step()
            pre(dr.process_actions(actions))

        def randomized_compute_observations():
            out = obs_fn()
            if dr.params.observations:
                noisy = dr.noise_obs(env.obs_buf)
                env.obs_buf.copy_(noisy)
                return env.obs_buf
            return out

        env.reset_idx = randomized_reset_idx
        env.pre_physics_step = randomized_pre_physics_step
        env.compute_observations = randomized_compute_observations
        env.randomizer = self
        self._hooks = saved
        self.apply(None, force=True)
        if self.latency is not None:
            self.latency.reset(None)

    def detach(self, restore: bool = True) -> None:
        """Remove the hooks; with ``restore`` put the nominal values back."""
        env = self.env
        if self._hooks is not None:
            for name, fn in self._hooks.items():
                if fn is None:
                    env.__dict__.pop(name, None)
                else:
                    setattr(env, name, fn)
            self._hooks = None
        if getattr(env, "randomizer", None) is self:
            env.randomizer = None
        if restore:
            restore_nominal(env)

    # ..................................................................... reports
    def describe(self) -> str:
        """A table of what is randomized, and how (for notebooks)."""
        P, lines = self.params, []

        def row(spec, what):
            a, b = spec.range
            rng = f"mean {a:g}, std {b:g}" if spec.distribution == "gaussian" else f"[{a:g}, {b:g}]"
            extra = (f", {spec.schedule} schedule over {spec.schedule_steps} steps" if spec.schedule else "")
            extra += ", one sample per env" if spec.shared else ""
            extra += f", slice {list(spec.slice)}" if spec.slice else ""
            lines.append(f"{spec.path.split('.', 1)[1]:<58} {spec.operation:<8} {spec.distribution:<10} {rng}{extra}  ({what})")

        for g in P.observations:
            row(g, "observation noise, every step")
        for g in P.actions:
            row(g, "action noise, every step")
        for k, s in P.sim_params.items():
            row(s, "global")
        for a in P.actors.values():
            if a.color:
                lines.append(f"actor_params.{a.name}.color: uniform RGB  (drawing only)")
            for group, attr, s in a.entries():
                what = {"rigid_body_properties": "per link", "dof_properties": "per joint",
                        "rigid_shape_properties": "contacts only"}[group]
                row(s, what)
        if P.latency is not None:
            lines.append(f"actuation_latency: {P.latency.range[0]}..{P.latency.range[1]} control steps per env")
        for k, s in P.visuals.items():
            row(s, "drawing only")
        lines.append(f"re-drawn at a reset once {P.frequency} control steps have passed (frequency)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"DomainRandomizer({type(self.env).__name__}, seed={self.seed}, step_count={self.step_count})"


def randomize(env, params, seed: int | None = None):
    """Randomize ``env`` with ``params`` from now on; returns ``env`` (its randomizer is ``env.randomizer``).

    Draws every environment's values at once, then re-draws an environment's
    at its resets (``frequency`` permitting); observations and actions get
    their noise at every step; actions go through the actuation latency.
    The chapter's functions (``randomize_physics``, ``add_observation_noise``,
    ``randomize_visuals``, ``set_light_intensity``, ``set_object_color``,
    ``set_camera_offset``) are added to ``env`` if its class lacks them.
    """
    dr = DomainRandomizer(env, params, seed)
    dr.attach()
    _add_chapter_methods(env)
    return env


def unrandomize(env) -> None:
    """Undo :func:`randomize`: remove the hooks and restore the nominal values."""
    dr = getattr(env, "randomizer", None)
    if isinstance(dr, DomainRandomizer):
        dr.detach(restore=True)


# ------------------------------------------------------------------- presets
#: The chapter's ``randomize_physics``: link masses +-20% (one scale per env for
#: every link, as the listing's single ``mass_scale``), joint friction 0.01..0.1
#: N m, surface friction 0.5..1.0, joint damping 0.1..0.6 N m s/rad. The
#: listing *sets* friction and damping; the reach task's nominal values are 0,
#: so "additive" on them gives exactly the listing's values.
CHAPTER_PHYSICS = {
    "frequency": 1,
    "actor_params": {
        "franka": {
            "rigid_body_properties": {
                "mass": {"range": [0.8, 1.2], "operation": "scaling", "distribution": "uniform", "shared": True},
            },
            "dof_properties": {
                "friction": {"range": [0.01, 0.1], "operation": "additive", "distribution": "uniform", "shared": True},
                "joint_damping": {"range": [0.1, 0.6], "operation": "additive", "distribution": "uniform",
                                  "shared": True},
            },
            "rigid_shape_properties": {  # nominal coefficient 1.0
                "friction": {"range": [0.5, 1.0], "operation": "scaling", "distribution": "uniform"},
            },
        },
    },
}

#: The chapter's ``add_observation_noise`` for the 17-dim reach observation:
#: joint positions 0.001 rad, joint velocities 0.01 rad/s, target 0.01 m (gaussian std).
CHAPTER_OBSERVATION_NOISE = {
    "observations": {
        "joint_pos": {"slice": [0, 7], "range": [0.0, 0.001], "operation": "additive", "distribution": "gaussian"},
        "joint_vel": {"slice": [7, 14], "range": [0.0, 0.01], "operation": "additive", "distribution": "gaussian"},
        "target": {"slice": [14, 17], "range": [0.0, 0.01], "operation": "additive", "distribution": "gaussian"},
    },
}

#: The chapter's ``randomize_visuals``: light 1000..3000 (nominal 2000 scaled by
#: 0.5..1.5), a uniform RGB object colour, camera offset +-5 cm per axis.
CHAPTER_VISUALS = {
    "actor_params": {"object": {"color": True}},
    "visuals": {
        "light_intensity": {"range": [0.5, 1.5], "operation": "scaling", "distribution": "uniform"},
        "camera_offset": {"range": [-0.05, 0.05], "operation": "additive", "distribution": "uniform"},
    },
}

#: The whole section: physics, observation noise and visuals.
CHAPTER_RANDOMIZATION = merge_params(CHAPTER_PHYSICS, CHAPTER_OBSERVATION_NOISE, CHAPTER_VISUALS)

#: Exercise 5's test set: "mass +-30%, friction +-50%", plus damping. The reach
#: task's nominal joint friction and damping are 0, and +-50% of 0 is 0; the
#: test set uses the middle of the chapter's training ranges as the nominal
#: instead: friction 0.05 N m +-50% (0.025..0.075), joint damping 0.35 N m s/rad
#: +-50% (0.175..0.525), written as additive on the task's zeros. Masses are
#: scaled 0.7..1.3, one scale per env for all links. (A harsher variant scales
#: the drives' damping ``dof_properties.damping`` by 0.5..1.5.)
EXERCISE5_TEST_SET = {
    "frequency": 1,
    "actor_params": {
        "franka": {
            "rigid_body_properties": {
                "mass": {"range": [0.7, 1.3], "operation": "scaling", "distribution": "uniform", "shared": True},
            },
            "dof_properties": {
                "friction": {"range": [0.025, 0.075], "operation": "additive", "distribution": "uniform",
                             "shared": True},
                "joint_damping": {"range": [0.175, 0.525], "operation": "additive", "distribution": "uniform",
                                  "shared": True},
            },
        },
    },
}


#: Exercise 5's reference answer: the ``TRAIN_RANDOMIZATION`` of the chapter 5
#: solution notebook (its solution cell imports it from here), which chapter 6
#: trains its *randomized* policy with. Masses x0.6-1.4 (one scale per env,
#: wider than the test set's 0.7-1.3), the chapter's joint friction and damping
#: ranges, the chapter's observation noise, action noise std 0.02 and an
#: actuation latency of 0-1 control steps, re-drawn at every reset.
EXERCISE5_TRAIN_RANDOMIZATION = {
    "frequency": 1,  # re-draw an environment's physics at each of its resets
    "actor_params": {
        "franka": {
            "rigid_body_properties": {
                "mass": {"range": [0.6, 1.4], "operation": "scaling", "distribution": "uniform", "shared": True},
            },
            "dof_properties": {
                "friction": {"range": [0.01, 0.1], "operation": "additive", "distribution": "uniform",
                             "shared": True},
                "joint_damping": {"range": [0.1, 0.6], "operation": "additive", "distribution": "uniform",
                                  "shared": True},
            },
        },
    },
    "observations": {
        "joint_pos": {"slice": [0, 7], "range": [0.0, 0.001], "operation": "additive", "distribution": "gaussian"},
        "joint_vel": {"slice": [7, 14], "range": [0.0, 0.01], "operation": "additive", "distribution": "gaussian"},
        "target": {"slice": [14, 17], "range": [0.0, 0.01], "operation": "additive", "distribution": "gaussian"},
    },
    "actions": {"range": [0.0, 0.02], "operation": "additive", "distribution": "gaussian"},
    "actuation_latency": {"range": [0, 1]},
}

# ----------------------------------------------- the chapter's names on a task
def _chapter_randomizer(env) -> DomainRandomizer:
    dr = env.__dict__.get("_chapter_randomizer")
    if dr is None:
        base = getattr(getattr(env, "randomizer", None), "seed", None)
        base = int(env.rng.initial_seed()) if base is None else base
        dr = DomainRandomizer(env, CHAPTER_RANDOMIZATION, seed=_seed_for(base, "chapter"))
        dr._first = False  # the chapter's functions draw only what they are asked for
        env._chapter_randomizer = dr
    return dr


class ChapterRandomizationMixin:
    """The chapter's randomization functions and setters, for a :class:`~course_lib.envs.VecEnvBase` task.

    They draw from :data:`CHAPTER_RANDOMIZATION` (exactly the listing's ranges)
    with their own seeded generators, for the given environments only, now.
    """

    def randomize_physics(self, env_ids) -> None:
        """The chapter's listing: masses x0.8..1.2, joint friction 0.01..0.1, surface friction 0.5..1.0,
        joint damping 0.1..0.6, for ``env_ids``."""
        _chapter_randomizer(self).apply(env_ids, force=True, which="physics")

    def add_observation_noise(self, obs: torch.Tensor) -> torch.Tensor:
        """The chapter's listing: gaussian noise of std 0.001 on obs[:, :7], 0.01 on obs[:, 7:14] and
        0.01 on obs[:, 14:17], added *in place* (as the listing does); returns ``obs``."""
        obs.copy_(_chapter_randomizer(self).noise_obs(obs))
        return obs

    def randomize_visuals(self, env_ids) -> None:
        """The chapter's listing: light 1000..3000, random object colour, camera offset +-5 cm, for ``env_ids``."""
        _chapter_randomizer(self).apply(env_ids, force=True, which="visuals")

    def set_light_intensity(self, env_ids, intensity) -> None:
        """Light intensity of ``env_ids``' scenes, (n,) (drawing only; nominal 2000)."""
        set_light_intensity(self, env_ids, intensity)

    def set_object_color(self, env_ids, colors) -> None:
        """RGB colour in [0, 1] of the object / target marker of ``env_ids``, (n, 3) (drawing only)."""
        set_object_color(self, env_ids, colors)

    def set_camera_offset(self, env_ids, offsets) -> None:
        """Camera offset of ``env_ids`` from its nominal position, (n, 3), m (drawing only)."""
        set_camera_offset(self, env_ids, offsets)


_CHAPTER_METHODS = ("randomize_physics", "add_observation_noise", "randomize_visuals", "set_light_intensity",
                    "set_object_color", "set_camera_offset")


def _add_chapter_methods(env) -> None:
    """Bind the mixin's methods to ``env`` where its class has none (until VecEnvBase has the mixin)."""
    for name in _CHAPTER_METHODS:
        if not hasattr(type(env), name):
            setattr(env, name, types.MethodType(getattr(ChapterRandomizationMixin, name), env))


# ------------------------------------------------------------------ sag demo
@dataclass
class SagDemo:
    """Data of :func:`sag_demo` (S mass scales, T samples, D joints); lengths in m, time in s."""

    t: torch.Tensor  # (T,)
    mass_scales: torch.Tensor  # (S,)
    tcp_height: torch.Tensor  # (S, T) TCP z
    tcp_drop: torch.Tensor  # (S, T) TCP z minus its start (negative: sagging)
    tcp_error: torch.Tensor  # (S, T) distance of the TCP from where it started
    joint_error: torch.Tensor  # (S, T, D) q - home
    static_error: torch.Tensor  # (S,) TCP error at the static equilibrium (NaN: none, velocity drive)
    static_drop: torch.Tensor  # (S,) TCP z change at the static equilibrium
    peak_error: torch.Tensor  # (S,) largest TCP error over the run
    overshoot: torch.Tensor  # (S,) peak_error / static_error - 1 (0.5: 50% past the final sag)
    drive: str = "position"
    stiffness: float = 0.0
    damping: float = 0.0

    def table(self) -> str:
        rows = ["mass scale | static TCP error (mm) | static drop (mm) | peak error (mm) | overshoot"]
        for i in range(len(self.mass_scales)):
            rows.append(f"{float(self.mass_scales[i]):10.2f} | {1000 * float(self.static_error[i]):21.1f} | "
                        f"{1000 * float(self.static_drop[i]):16.1f} | {1000 * float(self.peak_error[i]):15.1f} | "
                        f"{100 * float(self.overshoot[i]):8.0f}%")
        return "\n".join(rows)


def sag_demo(mass_scales=(1.0, 1.3, 0.7), duration: float = 2.0, drive: str = "position",
             stiffness: float = 80.0, damping: float = 4.0, sim_dt: float = 1.0 / 120.0, device="cpu",
             dtype=torch.float64, armature: float = 0.1) -> SagDemo:
    """Hold the Panda's home pose with every link's mass scaled, and record how far the TCP sags.

    One environment per mass scale, all in one batch. The controller is the
    real Panda's: a drive plus gravity compensation computed from the
    *nominal* model. With the nominal masses it holds the pose exactly; a
    heavier arm is pulled down by the weight the controller does not know
    about until the drive's spring balances it (``drive="position"``:
    stiffness ``stiffness`` N m/rad, damping ``damping`` N m s/rad; Isaac
    Lab's Franka uses 80 / 4), and overshoots on the way, since the drive is
    lightly damped; a lighter arm rises. ``drive="velocity"`` uses the reach
    task's velocity drives with a zero velocity command: there is no spring,
    so a wrong mass gives a steady *drift* (``static_*`` are NaN).

    The static equilibrium (``static_error``) solves ``g_true(q) = g_nominal(q)
    + kp (home - q)`` by fixed-point iteration, so it does not depend on
    ``duration``.
    """
    from ..sim import asset_path, load_urdf
    from ..sim.panda import PANDA_DRIVE_DAMPING, PANDA_HOME

    if drive not in ("position", "velocity"):
        raise ValueError(f"drive must be 'position' or 'velocity', got {drive!r}")
    scales = torch.as_tensor(mass_scales, dtype=dtype, device=device).reshape(-1)
    S = len(scales)
    robot = load_urdf(asset_path("franka_panda.urdf"), S, device=device, dtype=dtype)
    nominal = load_urdf(asset_path("franka_panda.urdf"), S, device=device, dtype=dtype)
    robot.set_link_masses(None, robot.link_mass * scales[:, None])
    robot.gravity_compensation = True
    robot.armature.fill_(armature)
    robot.joint_damping.zero_()
    robot.joint_friction.zero_()
    if drive == "position":
        robot.stiffness.fill_(stiffness)
        robot.damping.fill_(damping)
    else:
        stiffness = 0.0
        robot.stiffness.zero_()
        kd = torch.tensor(PANDA_DRIVE_DAMPING, dtype=dtype, device=device)
        robot.damping.copy_(kd.expand(S, -1))
        damping = float("nan")
    home = torch.tensor(PANDA_HOME, dtype=dtype, device=device).expand(S, -1).contiguous()
    robot.set_state(None, q=home, qd=torch.zeros_like(home))
    robot.pos_target.copy_(home)
    robot.vel_target.zero_()
    tcp = robot.link_index("panda_hand_tcp")
    p0 = robot.forward_kinematics(robot.q)[0][:, tcp].clone()
    steps = int(round(duration / sim_dt))
    pos, qs = [], []
    for _ in range(steps):
        robot.physics_step(sim_dt)
        pos.append(robot.forward_kinematics(robot.q)[0][:, tcp])
        qs.append(robot.q.clone())
    P = torch.stack(pos, 1)  # (S, T, 3)
    Q = torch.stack(qs, 1)
    t = torch.arange(1, steps + 1, dtype=dtype, device=device) * sim_dt
    err = torch.linalg.vector_norm(P - p0[:, None], dim=-1)
    if drive == "position":
        q = home.clone()
        for _ in range(200):
            q = home - (robot.gravity_forces(q) - nominal.gravity_forces(q)) / stiffness
            q = torch.maximum(torch.minimum(q, robot.upper), robot.lower)
        pe = robot.forward_kinematics(q)[0][:, tcp]
        static_error = torch.linalg.vector_norm(pe - p0, dim=-1)
        static_drop = pe[:, 2] - p0[:, 2]
    else:
        static_error = torch.full((S,), float("nan"), dtype=dtype, device=device)
        static_drop = static_error.clone()
    peak = err.max(1).values
    overshoot = torch.where(static_error > 1e-6, peak / static_error.clamp_min(1e-12) - 1.0,
                            torch.zeros_like(peak))
    return SagDemo(t=t, mass_scales=scales, tcp_height=P[..., 2], tcp_drop=P[..., 2] - p0[:, None, 2],
                   tcp_error=err, joint_error=Q - home[:, None], static_error=static_error,
                   static_drop=static_drop, peak_error=peak, overshoot=overshoot, drive=drive,
                   stiffness=float(stiffness), damping=float(damping))


def plot_sag_demo(demo: SagDemo, ax=None):
    """Plot the TCP's height change over time for each mass scale, with the static sag dashed."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    t = demo.t.cpu().numpy()
    for i in range(len(demo.mass_scales)):
        line, = ax.plot(t, 1000 * demo.tcp_drop[i].cpu().numpy(), label=f"masses x {float(demo.mass_scales[i]):.2f}")
        if math.isfinite(float(demo.static_drop[i])):
            ax.axhline(1000 * float(demo.static_drop[i]), color=line.get_color(), ls="--", lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("TCP height change (mm)")
    gains = (f"kp {demo.stiffness:g}, kd {demo.damping:g}" if demo.drive == "position"
             else "velocity drive, zero command")
    ax.set_title(f"Holding the home pose, nominal gravity compensation\n({gains})")
    ax.legend()
    return ax
