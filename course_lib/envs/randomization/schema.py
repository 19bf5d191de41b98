"""The ``randomization_params`` schema: Isaac Gym's keys and the course's additions, validated.

:meth:`RandomizationParams.from_dict` checks a dictionary and turns it into
:class:`ParamSpec` leaves; every error names the bad key's path and what is
allowed there. The schema itself is described in :mod:`course_lib.envs.randomization`.
"""
from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

__all__ = ["RandomizationError", "ParamSpec", "ActorParams", "RandomizationParams", "merge_params"]

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
