"""``DomainRandomizer``: draws a validated ``randomization_params`` and applies it to a task's environments.

Per-environment values with no loop over environments, from seeded
generators (one per parameter entry); the values a task had before its first
randomizer (its *nominal* values) are kept and restored; the per-environment
visual buffers (light, colours, camera offset) that course_lib.viz draws from.
"""
from __future__ import annotations

import math
import zlib

import torch

from ..latency import ActionLatency
from .schema import OBJECT_ACTORS, ParamSpec, RandomizationError, RandomizationParams, _fail

__all__ = ["DomainRandomizer", "sample_values", "restore_nominal", "ensure_visual_buffers", "set_light_intensity",
           "set_object_color", "set_camera_offset", "NOMINAL_LIGHT_INTENSITY", "NOMINAL_OBJECT_COLOR",
           "NOMINAL_ROBOT_COLOR"]

#: the chapter's light intensity range is 1000..3000; its midpoint is the nominal (drawing units)
NOMINAL_LIGHT_INTENSITY = 2000.0
#: RGB in [0, 1]: the target marker's colour before randomization (red) and the robot's (light grey)
NOMINAL_OBJECT_COLOR = (0.9, 0.15, 0.15)
NOMINAL_ROBOT_COLOR = (0.85, 0.85, 0.85)


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
    :meth:`noise_actions`; or let :func:`randomize` add it to the task's
    hooks (:meth:`attach`: before ``reset_idx``, on the actions that
    ``pre_physics_step`` gets, on what ``compute_observations`` returns).

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
        self._attached = False  # hooked into the task (attach / detach)
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
        """Add this randomizer to the task's hooks (:meth:`VecEnvBase.add_hook`): before ``reset_idx`` it
        re-draws (:meth:`on_reset`), ``pre_physics_step`` gets delayed and noisy actions (:meth:`on_actions`),
        ``compute_observations`` returns noisy observations (:meth:`on_observations`). Draws everything once,
        now. A randomizer already attached to the task is detached first."""
        env = self.env
        old = getattr(env, "randomizer", None)
        if isinstance(old, DomainRandomizer) and old is not self:
            old.detach()
        if not self._attached:
            env.add_hook("before_reset", self.on_reset, owner=self)
            env.add_hook("actions", self.on_actions, owner=self)
            env.add_hook("observations", self.on_observations, owner=self)
            self._attached = True
        env.randomizer = self
        self.apply(None, force=True)
        if self.latency is not None:
            self.latency.reset(None)

    def on_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """The ``actions`` hook: count the step (:meth:`on_step`), then what the robot executes
        (:meth:`process_actions`)."""
        self.on_step()
        return self.process_actions(actions)

    def on_observations(self, obs: torch.Tensor) -> torch.Tensor:
        """The ``observations`` hook: with ``observations`` noise, the task's ``obs_buf`` made noisy in place
        (and returned); without, ``obs`` as the task returned it."""
        if self.params.observations:
            env = self.env
            env.obs_buf.copy_(self.noise_obs(env.obs_buf))
            return env.obs_buf
        return obs

    def detach(self, restore: bool = True) -> None:
        """Remove the hooks; with ``restore`` put the nominal values back."""
        env = self.env
        if self._attached:
            env.remove_hooks(self)
            self._attached = False
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
