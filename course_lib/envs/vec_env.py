"""``VecEnvBase``: the chapter's task skeleton on the course's simulator.

The structure follows the chapter's ``FrankaReachTask`` listing (Isaac Gym's
``VecTask``): the constructor ``(cfg, sim_device, graphics_device_id,
headless)`` calls :meth:`create_sim`; a task writes
:meth:`compute_observations`, :meth:`compute_reward` and :meth:`reset_idx`;
:meth:`step` returns ``(obs, rewards, resets, extras)``. A student who copies
the listing changes only its import line::

    from course_lib.envs import VecEnvBase   # was: from omni.isaac.gym.vec_env import VecEnvBase

Buffers (N = num_envs): ``obs_buf`` (N, num_obs), ``rew_buf`` (N,),
``reset_buf`` (N,) long, ``progress_buf`` (N,) long, ``timeout_buf`` (N,) bool
and ``extras["time_outs"]``: episodes cut by the time limit are kept apart
from failures and successes, because PPO must bootstrap the value of a state
that was only cut short (rl-games' ``value_bootstrap``).

Where the chapter's listing has a bug, this class keeps the listing running
and says so once, in a warning that names the fix (see :meth:`_after_reset_idx`,
:meth:`set_joint_positions`).

What the library adds to a task's methods (the randomizer's re-draws and
noise, the listing's fix after ``reset_idx``, a grader's recorder) runs at the
task's hook points (:mod:`course_lib.envs.hooks`, :meth:`add_hook`); no method
of an instance is replaced. A step runs one body, :meth:`_step_body`, eagerly or
as the CUDA graph that captured it (:attr:`step_path` says which, and why).
"""
from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import torch

from ..sim import Articulation, asset_path, load_urdf
from ..sim.panda import configure_panda
from .hooks import TaskHooks, install_hook_points
from .randomization.chapter import ChapterRandomizationMixin, randomize

__all__ = ["VecEnvBase", "ListingWarning"]


class ListingWarning(UserWarning):
    """A known bug of the chapter's listing was worked around; the message names the fix."""


_log = logging.getLogger(__name__)


def _warn_once(task, key: str, message: str, stacklevel: int = 3) -> None:
    """Warn about the listing's bug ``key`` once per task (not once per process: a test, or a student's second task
    in the same kernel, must see it for its own task)."""
    warned = task.__dict__.setdefault("_listing_warned", set())
    if key not in warned:
        warned.add(key)
        warnings.warn(message, ListingWarning, stacklevel=stacklevel)


class VecEnvBase(ChapterRandomizationMixin):
    """Base class of every course task: ``num_envs`` environments stepped as one batch.

    Subclasses set ``num_obs`` and ``num_actions`` (before or after calling
    ``super().__init__``) and implement :meth:`create_sim` (add robots with
    :meth:`add_robot` / :meth:`add_franka`), :meth:`compute_observations`,
    :meth:`compute_reward` and :meth:`reset_idx`.

    ``reset_idx``, ``pre_physics_step``, ``compute_observations`` and
    ``set_joint_positions`` are hook points (:mod:`course_lib.envs.hooks`):
    called on a task they run its hooks around the method it defines;
    ``type(task).reset_idx`` is that method alone.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        install_hook_points(cls)

    #: control steps before a time-out; tasks may override (cfg key ``max_episode_length``)
    max_episode_length: int = 500
    #: physics time step (s) and physics steps per control step
    sim_dt: float = 1.0 / 120.0
    decimation: int = 2

    def __init__(self, cfg: Any = None, sim_device: str = "cpu", graphics_device_id: int = 0,
                 headless: bool = True):
        self._hooks = TaskHooks()  # first: the hook points look for it
        cfg = {} if cfg is None else cfg
        self.cfg = cfg
        get = (lambda k, d=None: cfg.get(k, d)) if isinstance(cfg, dict) else (lambda k, d=None: getattr(cfg, k, d))
        self.device = torch.device(sim_device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"sim_device={sim_device!r} but this machine has no CUDA GPU; use sim_device='cpu'")
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.sim_device = str(self.device)
        self.graphics_device_id = graphics_device_id
        self.headless = headless
        num_envs = getattr(self, "num_envs", None) or get("num_envs")
        if num_envs is None:
            raise ValueError("the config has no 'num_envs': say how many environments to simulate, e.g. num_envs: 4096")
        self.num_envs = int(num_envs)
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {self.num_envs}")
        for name in ("num_obs", "num_actions"):
            if getattr(self, name, None) is None:
                raise ValueError(f"{type(self).__name__} must set self.{name} before calling VecEnvBase.__init__")
        self.max_episode_length = int(get("max_episode_length", self.max_episode_length))
        self.sim_dt = float(get("sim_dt", self.sim_dt))
        self.decimation = int(get("decimation", self.decimation))
        self.env_spacing = float(get("env_spacing", 2.0))
        seed = get("seed")
        self.rng = torch.Generator(device=self.device)
        self.rng.manual_seed(int(seed) if seed is not None else torch.seed() % (2**63))

        N, dev = self.num_envs, self.device
        self.obs_buf = torch.zeros(N, self.num_obs, device=dev)
        self.rew_buf = torch.zeros(N, device=dev)
        self.reset_buf = torch.zeros(N, dtype=torch.long, device=dev)
        self.progress_buf = torch.zeros(N, dtype=torch.long, device=dev)
        self.timeout_buf = torch.zeros(N, dtype=torch.bool, device=dev)
        self.success_buf = torch.zeros(N, dtype=torch.bool, device=dev)
        self.actions = torch.zeros(N, self.num_actions, device=dev)
        self.extras: dict = {}
        self.reward_terms: dict = {}
        self.episode_sums: dict = {}

        self.robot: Articulation | None = None
        self._robot_origins: list = []
        self._target_markers: list = []
        self._stepper = None
        self._state_version = 0
        self._fk_cache = (-1, None, None)
        self._fused = None  # whole-step CUDA graph: decided at the first step
        self._fused_warmups = 0
        self._step_path_said = None  # the step path last logged
        self._step_graph = None
        self._body_stepper = None
        self._episode_stats: dict = {}
        self._nonfinite_host = None  # fused step: NaN actions seen in the graph, read at the next step
        self.create_sim()
        self._finish_sim()

    # ------------------------------------------------------------ scene setup
    def create_sim(self) -> None:
        """Add the robots of every environment (override). The default adds nothing."""

    def add_robot(self, urdf: str, env_origins: torch.Tensor | None = None, dtype=torch.float32) -> Articulation:
        """Add one robot to every environment at once (no per-environment loop)."""
        path = urdf if os.path.exists(urdf) else asset_path(urdf)
        self.robot = load_urdf(path, self.num_envs, device=self.device, dtype=dtype)
        self.env_origins = self._grid_origins() if env_origins is None else env_origins.to(self.device)
        self._stepper = None
        return self.robot

    def add_franka(self, env_pos=None) -> None:
        """The listing's per-environment call: record one Franka at ``env_pos``.

        The arm itself is created once, for all environments, after
        :meth:`create_sim` returns.
        """
        self._robot_origins.append(torch.as_tensor(env_pos if env_pos is not None else [0.0, 0.0, 0.0],
                                                   dtype=torch.float32).reshape(3))

    def add_target_sphere(self, pos=None) -> None:
        """The listing's target marker: drawing only (targets live in ``self.targets``)."""
        self._target_markers.append(pos)

    def _grid_origins(self) -> torch.Tensor:
        i = torch.arange(self.num_envs, device=self.device)
        per_row = max(1, int(self.num_envs ** 0.5))
        return torch.stack(((i % per_row).float(), (i // per_row).float(), torch.zeros_like(i, dtype=torch.float32)), -1) * self.env_spacing

    def _finish_sim(self) -> None:
        if self.robot is None and self._robot_origins:
            origins = torch.stack(self._robot_origins).to(self.device)
            if len(self._robot_origins) != self.num_envs:
                origins = self._grid_origins()
            self._setup_franka(origins)
        if self.robot is None:
            raise ValueError(f"{type(self).__name__}.create_sim added no robot: call self.add_robot(...) "
                             f"(or the listing's self.add_franka(env_pos)) in create_sim")

    def _setup_franka(self, origins: torch.Tensor) -> None:
        """Create the Panda with the course's default drive (used by the listing's add_franka)."""
        self.add_robot("franka_panda.urdf", env_origins=origins)
        configure_panda(self.robot)
        self.ee_link = "panda_hand_tcp"

    # -------------------------------------------------------------- stepping
    def simulate(self) -> None:
        """Advance the physics by one control step (``decimation`` physics steps of ``sim_dt``)."""
        if self._stepper is None:
            mode = getattr(self, "stepper_mode", "auto")
            if mode == "auto":  # a CUDA graph costs a second to capture and removes launch overhead
                mode = "graph" if self.device.type == "cuda" else "eager"
            # One control step = decimation physics steps of sim_dt each.
            self._stepper = self.robot.make_stepper(self.sim_dt * self.decimation, self.decimation, mode=mode)
        self._stepper()
        self._state_version += 1

    def render(self) -> None:
        """Headless: nothing to draw. (The notebooks record and animate rollouts with course_lib.viz.)"""

    def pre_physics_step(self, actions: torch.Tensor) -> None:
        """Turn actions into drive commands (override)."""

    def compute_observations(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement compute_observations()")

    def compute_reward(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement compute_reward()")

    def reset_idx(self, env_ids: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement reset_idx(env_ids)")

    def step(self, actions: torch.Tensor):
        """Apply ``actions`` (num_envs, num_actions), simulate, and return (obs, rewards, resets, extras).

        Environments that finished are reset inside this call, and the
        observation returned for them is the first one of their new episode
        (Isaac Lab's convention). ``resets`` marks the episodes that ended in
        this step; ``extras["time_outs"]`` those that ended by the time limit.
        """
        if self._use_fused_step():
            # NaN / inf are caught inside the graph and reported at the next step (no host wait here)
            self._raise_deferred_nonfinite()
            self.actions.copy_(self._validate_actions(actions, check_finite=False))
            return self._fused_step()
        self.actions.copy_(self._validate_actions(actions))
        self._step_body(graphed=False)
        return self.obs_buf, self.rew_buf, self.reset_buf, self.extras

    def _step_body(self, graphed: bool) -> None:
        """One step: what :meth:`step` runs eagerly and what the CUDA graph captures (``graphed``).

        Two parts differ, and only where a graph must: ``graphed`` turns NaN actions into zeros (flagged, raised
        at the next step: no host wait), runs the physics with the stepper made for inside a graph, and ends
        episodes with masks (:meth:`_end_episodes_where`) instead of a list of environments
        (:meth:`_end_episodes`, a host sync).
        """
        if graphed:
            finite = torch.isfinite(self.actions).all(-1)
            self._nonfinite.copy_(~finite)
            self.actions.copy_(torch.where(finite[:, None], self.actions, torch.zeros_like(self.actions)))
        self.pre_physics_step(self.actions)
        if graphed:
            self._graph_body_stepper()()
            self._state_version += 1
        else:
            self.simulate()
        self.progress_buf += 1
        self.reset_buf.zero_()
        self.success_buf.zero_()
        self.compute_reward()  # fills rew_buf, and reset_buf / success_buf for terminations
        self._accumulate_terms()
        terminated = self.reset_buf.bool()
        self.timeout_buf.copy_((self.progress_buf >= self.max_episode_length) & ~terminated)
        done = terminated | self.timeout_buf
        if graphed:
            self._end_episodes_where(done)
        else:
            self._end_episodes(done)
        self.compute_observations()
        self.reset_buf.copy_(done)

    def _end_episodes(self, done: torch.Tensor) -> None:
        """Eager: the extras, then the statistics and :meth:`reset_idx` of the list of environments done."""
        self.reset_buf.copy_(done)
        self.extras = {"time_outs": self.timeout_buf.clone(), "successes": self.success_buf.clone()}
        env_ids = done.nonzero(as_tuple=False).squeeze(-1)
        if env_ids.numel() > 0:
            self._log_episodes(env_ids)
            self.reset_idx(env_ids)

    def _end_episodes_where(self, done: torch.Tensor) -> None:
        """In the graph: the statistics and :meth:`reset_where` by mask; the base class zeroes the counters."""
        self._episode_stats_where(done)
        self.reset_where(done)
        self.progress_buf.masked_fill_(done, 0)

    # --------------------------------------------- the whole step as one CUDA graph
    #: CUDA: run the whole step (actions to drives, physics, reward, resets, observation) as one CUDA graph
    #: replay, for tasks that implement the masked reset (:meth:`reset_where`). Without it a step launches
    #: hundreds of small kernels and waits on the host for the list of environments to reset; that, not
    #: the physics, bounded training at 4096 environments. Python numbers the step reads (a config's
    #: success radius, say) are fixed once the graph is captured, at the third step; tensors are read
    #: at every replay. False: always step the ordinary way.
    fused_step: bool = True

    def reset_where(self, mask: torch.Tensor) -> None:
        """Reset the environments where ``mask`` (num_envs,) bool is true: the masked form of
        :meth:`reset_idx`, for the CUDA-graph step (no host synchronisation, no indexing by a list of
        environments, no random numbers drawn: use those of :meth:`draw_reset_randoms`). Optional;
        counters (``progress_buf``, ``reset_buf``) are the base class's business."""
        raise NotImplementedError

    def draw_reset_randoms(self) -> None:
        """Draw, outside the CUDA graph and from ``self.rng``, the random numbers that the next step's
        :meth:`reset_where` uses (into preallocated buffers). Optional."""

    @property
    def step_path(self) -> str:
        """How :meth:`step` runs now, and why: ``"cuda-graph: ..."`` (the whole step, :meth:`_step_body`,
        replayed from one CUDA graph) or ``"eager: <reason>"`` (the same body, run op by op)."""
        return ("cuda-graph: " if self._use_fused_step(say=False) else "eager: ") + self._step_path_reason()

    def _step_path_reason(self) -> str:
        mode = getattr(self, "stepper_mode", "auto")
        if self.device.type != "cuda":
            return f"on {self.device.type}, not CUDA"
        if not self.fused_step:
            return "fused_step is off"
        if type(self).reset_where is VecEnvBase.reset_where:
            return f"{type(self).__name__} has no reset_where (the masked reset a graph needs)"
        if mode not in ("auto", "graph", "compile+graph"):
            return f"stepper_mode {mode!r} is not a graph mode"
        if self._hooks.changes_step():
            return f"hooks change the step ({self._hooks!r}; a randomizer steps eagerly)"
        return f"the whole step in one graph (physics: {'compiled' if mode == 'compile+graph' else 'eager'})"

    def _use_fused_step(self, say: bool = True) -> bool:
        if self._fused is None:  # decided once: the task, the device and the stepper do not change
            mode = getattr(self, "stepper_mode", "auto")
            self._fused = bool(self.device.type == "cuda" and self.fused_step
                               and type(self).reset_where is not VecEnvBase.reset_where
                               and mode in ("auto", "graph", "compile+graph"))
        # hooks (a randomizer's) run around reset_idx and the other methods: such a task steps eagerly
        fused = self._fused and not self._hooks.changes_step()
        if say and self._step_path_said is not fused:
            self._step_path_said = fused
            _log.info("%s steps %s", type(self).__name__, self.step_path)
        return fused

    def _graph_body_stepper(self):
        """The physics stepper that runs inside the graph: eager, or compiled with ``compile+graph``."""
        if self._body_stepper is None:
            inner = "compile" if getattr(self, "stepper_mode", "auto") == "compile+graph" else "eager"
            self._body_stepper = self.robot.make_stepper(self.sim_dt * self.decimation, self.decimation, mode=inner)
        return self._body_stepper

    def _fused_step(self):
        self.draw_reset_randoms()
        if self._step_graph is not None:
            self._step_graph.replay()
        elif self._fused_warmups < 2 or self.device.type != "cuda":
            # run eagerly first: allocates the episode sums and statistics, compiles (CPU: always; tests use it)
            self._fused_warmups += 1
            self._step_body(graphed=True)
        else:
            graph = torch.cuda.CUDAGraph()
            torch.cuda.synchronize(self.device)
            with torch.cuda.graph(graph):
                self._step_body(graphed=True)
            self._step_graph = graph
            graph.replay()  # the capture recorded the step without running it
        # Returned without copies, as Isaac Lab does: these buffers are rewritten by the next step.
        self.extras = {"time_outs": self.timeout_buf, "successes": self.success_buf, "episode": self._episode_stats}
        self._nonfinite_host.copy_(self._nonfinite, non_blocking=True)
        if self._nonfinite_event is not None:
            self._nonfinite_event.record()
        return self.obs_buf, self.rew_buf, self.reset_buf, self.extras

    def _raise_deferred_nonfinite(self) -> None:
        """Raise if the previous fused step was given NaN or inf actions (those environments held still)."""
        if self._nonfinite_host is None:
            cuda = self.device.type == "cuda"
            self._nonfinite = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
            self._nonfinite_host = torch.zeros(self.num_envs, dtype=torch.bool, pin_memory=cuda)
            self._nonfinite_event = torch.cuda.Event() if cuda else None
            return
        if self._nonfinite_event is not None:
            self._nonfinite_event.synchronize()  # long done: rl-games and every caller wait for each step
        if bool(self._nonfinite_host.any()):
            bad = self._nonfinite_host.nonzero().flatten()[:8].tolist()
            self._nonfinite_host.zero_()
            raise ValueError(f"the actions of the previous step contained NaN or inf (environments {bad}...); "
                             f"those environments held still for that step instead. Check the policy's output (a "
                             f"diverged network gives NaN) before stepping")

    def _episode_stats_where(self, done: torch.Tensor) -> None:
        """Like :meth:`_log_episodes`, with a mask: means over the episodes that end now (0 when none do)."""
        d = done.to(self.rew_buf.dtype)
        count = d.sum().clamp_min(1.0)
        steps = self.progress_buf.clamp_min(1).to(d.dtype)
        values = {f"reward/{name}": (sums / steps * d).sum() / count for name, sums in self.episode_sums.items()}
        values["success"] = (self.success_buf.to(d.dtype) * d).sum() / count
        values["length"] = (steps * d).sum() / count
        for key, v in values.items():
            if key not in self._episode_stats:
                self._episode_stats[key] = torch.zeros((), dtype=d.dtype, device=self.device)
            self._episode_stats[key].copy_(v)
        for sums in self.episode_sums.values():
            sums.mul_(1.0 - d)

    def reset(self) -> torch.Tensor:
        """Reset every environment and return the first observations (num_envs, num_obs)."""
        env_ids = torch.arange(self.num_envs, device=self.device)
        self.reset_idx(env_ids)
        self.reset_buf.zero_()
        return self.compute_observations()

    def seed(self, seed: int) -> None:
        """Re-seed the task's generator (initial states, targets) and its randomizer, if it has one.

        A randomized task's values are re-drawn at once from the new seed:
        after ``env.seed(s)`` they are those of a task built with ``seed=s``.
        """
        self.rng.manual_seed(int(seed))
        dr = getattr(self, "randomizer", None)
        if dr is not None:
            dr.reseed(int(seed))

    def apply_randomization_cfg(self, enabled: bool, params, seed=None) -> None:
        """The task config's ``randomize`` / ``randomization_params``: hook the randomizer in if enabled."""
        if not enabled:
            return
        if not params:
            raise ValueError("randomize is true but randomization_params is empty: give the parameters to "
                             "randomize (e.g. course_lib.envs.randomization.CHAPTER_RANDOMIZATION)")
        randomize(self, params, seed=seed)

    # ------------------------------------------------------ episode logging
    def _accumulate_terms(self) -> None:
        for name, value in self.reward_terms.items():
            if name not in self.episode_sums:
                self.episode_sums[name] = torch.zeros(self.num_envs, device=self.device)
            self.episode_sums[name] += value

    def _log_episodes(self, env_ids: torch.Tensor) -> None:
        """Mean per-step value of every reward term over the episodes that end now (stays on device)."""
        episode = {}
        steps = self.progress_buf[env_ids].clamp_min(1).float()
        for name, sums in self.episode_sums.items():
            episode[f"reward/{name}"] = (sums[env_ids] / steps).mean()
            sums[env_ids] = 0.0
        episode["success"] = self.success_buf[env_ids].float().mean()
        episode["length"] = self.progress_buf[env_ids].float().mean()
        self.extras["episode"] = episode

    # ------------------------------------------------------------ hooks
    def add_hook(self, hook: str, fn, owner=None) -> None:
        """Run ``fn`` at one of the task's hook points (:data:`course_lib.envs.hooks.HOOKS`):
        ``"before_reset"`` ``f(env_ids)``, ``"actions"`` ``f(actions) -> actions``, ``"observations"``
        ``f(obs) -> obs``, ``"set_joint_positions"`` ``f(env_ids, positions)``. ``owner`` names who added it
        (:meth:`remove_hooks`). Hooks of a kind run in the order added."""
        self._hooks.add(hook, fn, owner)

    def remove_hooks(self, owner) -> None:
        """Remove every hook that ``owner`` added."""
        self._hooks.remove(owner)

    # ------------------------------------------------- the listing's bugs
    def _after_reset_idx(self, env_ids) -> None:
        """Run after every ``reset_idx`` (its hook point): check that the episode counters were reset.

        The chapter's listing never resets ``progress_buf``: after 500 steps
        every environment would time out at every step. We reset it for the
        listing and warn once with the fix.
        """
        if env_ids.numel() and bool((self.progress_buf[env_ids] != 0).any()):
            # stacklevel 5: the warning names the line that called reset_idx (through its hook point)
            _warn_once(self, "progress_buf", "reset_idx did not reset progress_buf, so every episode after the first "
                       "would time out at once; course_lib reset it for you. Fix: add "
                       "`self.progress_buf[env_ids] = 0` to reset_idx.", stacklevel=5)
            self.progress_buf[env_ids] = 0

    # ------------------------------------------------------- input checks
    def _validate_actions(self, actions, check_finite: bool = True) -> torch.Tensor:
        expected = (self.num_envs, self.num_actions)
        if not torch.is_tensor(actions):
            raise ValueError(f"actions must be a torch.Tensor of shape {expected} on {self.device}, got {type(actions).__name__}")
        if tuple(actions.shape) != expected:
            raise ValueError(f"actions must have shape (num_envs, num_actions) = {expected}, got {tuple(actions.shape)}")
        if not actions.is_floating_point():
            raise ValueError(f"actions must be floating point (torch.float32), got {actions.dtype}")
        if actions.device != self.device:
            raise ValueError(f"actions are on {actions.device} but the environments are on {self.device}; "
                             f"move them with actions.to({str(self.device)!r})")
        if check_finite and not bool(torch.isfinite(actions).all()):
            bad = (~torch.isfinite(actions)).any(-1).nonzero().flatten()[:8].tolist()
            raise ValueError(f"actions contain NaN or inf (environments {bad}...); check the policy's output "
                             f"(a diverged network gives NaN) before stepping")
        return actions.to(self.obs_buf.dtype)

    def _to_device(self, x, name: str) -> torch.Tensor:
        """Move a tensor made on the CPU to the task's device, warning once (a listing bug on a GPU)."""
        x = torch.as_tensor(x)
        if x.device != self.device:
            _warn_once(self, f"device-{name}", f"{name}: got a tensor on {x.device} but the environments are on "
                       f"{self.device}; course_lib moved it. Fix: create it with device=self.device.")
            x = x.to(self.device)
        return x

    # ------------------------------------------------------ robot accessors
    def _fk(self):
        if self._fk_cache[0] != self._state_version:
            pos, rot = self.robot.forward_kinematics(self.robot.q)
            self._fk_cache = (self._state_version, pos, rot)
        return self._fk_cache[1], self._fk_cache[2]

    def get_joint_positions(self) -> torch.Tensor:
        """Joint positions (num_envs, num_dofs), rad (m for prismatic joints). A view: do not modify."""
        return self.robot.q

    def get_joint_velocities(self) -> torch.Tensor:
        """Joint velocities (num_envs, num_dofs), rad/s. A view: do not modify."""
        return self.robot.qd

    def get_link_positions(self) -> torch.Tensor:
        """Positions (num_envs, num_links, 3) of every link, m, in each robot's base frame."""
        return self._fk()[0]

    def get_end_effector_position(self) -> torch.Tensor:
        """Position of the end effector (the Panda's TCP), (num_envs, 3), m, in the robot's base frame."""
        link = getattr(self, "ee_link", None)
        if link is None:
            raise ValueError(f"{type(self).__name__} has no end effector (set self.ee_link)")
        return self._fk()[0][:, self.robot.link_index(link)]

    def set_joint_positions(self, env_ids, positions) -> None:
        """Teleport the joints of ``env_ids`` to ``positions`` (len(env_ids), num_dofs), at rest.

        Positions outside the joint limits are clamped to them, with a warning.
        Velocities of those environments are set to zero and position targets
        to the new positions, so a reset never keeps the last episode's motion.
        """
        env_ids = self._to_device(env_ids, "env_ids").long().reshape(-1)
        positions = self._to_device(positions, "joint positions").to(self.robot.dtype)
        if positions.dim() == 1 and positions.numel() == self.robot.num_dofs:
            positions = positions.expand(len(env_ids), -1)
        if tuple(positions.shape) != (len(env_ids), self.robot.num_dofs):
            raise ValueError(f"joint positions must have shape (len(env_ids), num_dofs) = "
                             f"({len(env_ids)}, {self.robot.num_dofs}), got {tuple(positions.shape)}")
        self.robot.set_state(env_ids, q=positions, qd=torch.zeros_like(positions))
        self.robot.pos_target[env_ids] = self.robot.q[env_ids]
        self.robot.vel_target[env_ids] = 0.0
        self._state_version += 1

    def set_joint_velocities(self, *args) -> None:
        """Two forms, as the chapter uses them:

        - ``set_joint_velocities(actions)``: velocity *commands* for all
          environments, ``actions`` (num_envs, num_dofs) in [-1, 1], scaled to
          each joint's velocity limit and sent to the velocity drives;
        - ``set_joint_velocities(env_ids, velocities)``: set the joint
          velocity *state* (rad/s) of ``env_ids`` directly.
        """
        if len(args) == 1:
            actions = self._to_device(args[0], "actions")
            actions = self._validate_actions(actions) if actions.shape[-1] == self.num_actions else actions
            if tuple(actions.shape) != (self.num_envs, self.robot.num_dofs):
                raise ValueError(f"velocity commands must have shape (num_envs, num_dofs) = "
                                 f"({self.num_envs}, {self.robot.num_dofs}), got {tuple(actions.shape)}")
            self.robot.vel_target.copy_(actions.clamp(-1.0, 1.0) * self.robot.velocity_limit)
        elif len(args) == 2:
            env_ids = self._to_device(args[0], "env_ids").long().reshape(-1)
            self.robot.set_state(env_ids, qd=self._to_device(args[1], "joint velocities").to(self.robot.dtype))
            self._state_version += 1
        else:
            raise ValueError("set_joint_velocities takes (actions) or (env_ids, velocities)")

    def set_joint_velocity_targets(self, targets: torch.Tensor) -> None:
        """Velocity-drive targets (num_envs, num_dofs), rad/s."""
        self.robot.vel_target.copy_(targets)

    def set_joint_position_targets(self, targets: torch.Tensor) -> None:
        """Position-drive targets (num_envs, num_dofs), rad."""
        self.robot.pos_target.copy_(targets)

    def set_joint_efforts(self, efforts: torch.Tensor) -> None:
        """Joint efforts (num_envs, num_dofs), N m (N for prismatic joints)."""
        self.robot.effort.copy_(efforts)

    # Domain-randomization accessors (the chapter's names). Values are per
    # environment; none of them loops over environments.
    def set_link_mass(self, env_ids, masses, links=None) -> None:
        """Set link masses (kg) for ``env_ids``: ``masses`` (n, len(links)), or (n,) with one link named.

        Inertias scale with the mass. The chapter's ``set_link_mass(env_ids,
        base_mass * scale)`` names no link; give ``links=["panda_hand"]`` (or a
        list) to say which.
        """
        env_ids = self._to_device(env_ids, "env_ids").long().reshape(-1)
        masses = self._to_device(masses, "link masses").to(self.robot.dtype)
        if links is None:
            raise ValueError("set_link_mass needs links=[...]: say which links' masses these are "
                             f"(links: {self.robot.link_names})")
        links = [links] if isinstance(links, str) else list(links)
        self.robot.set_link_masses(env_ids, masses.reshape(len(env_ids), len(links)), links)

    def _per_env(self, env_ids, values, name):
        env_ids = self._to_device(env_ids, "env_ids").long().reshape(-1)
        values = self._to_device(values, name).to(self.robot.dtype)
        if values.dim() == 1:
            values = values.unsqueeze(-1).expand(len(env_ids), self.robot.num_dofs)
        if tuple(values.shape) != (len(env_ids), self.robot.num_dofs):
            raise ValueError(f"{name} must have shape (len(env_ids),) or (len(env_ids), num_dofs), got {tuple(values.shape)}")
        return env_ids, values

    def set_joint_friction(self, env_ids, friction) -> None:
        """Coulomb joint friction (N m), (n,) for all joints or (n, num_dofs)."""
        env_ids, v = self._per_env(env_ids, friction, "joint friction")
        self.robot.joint_friction[env_ids] = v

    def set_joint_damping(self, env_ids, damping) -> None:
        """Viscous joint damping (N m s/rad), (n,) for all joints or (n, num_dofs)."""
        env_ids, v = self._per_env(env_ids, damping, "joint damping")
        self.robot.joint_damping[env_ids] = v

    def set_surface_friction(self, env_ids, friction) -> None:
        """Friction coefficient of contact surfaces (table, floor), per env.

        Stored, and used only where a task has contacts: the reach task has
        none, so this changes nothing there (chapter 5 shows it).
        """
        if not hasattr(self, "surface_friction"):
            self.surface_friction = torch.ones(self.num_envs, device=self.device)
        env_ids = self._to_device(env_ids, "env_ids").long().reshape(-1)
        self.surface_friction[env_ids] = self._to_device(friction, "surface friction").float().reshape(-1)

    def check_collisions(self) -> torch.Tensor:
        """(num_envs,) bool: the robot touches itself or the table (capsule model)."""
        from ..sim.collision import PANDA_CAPSULES, CapsuleCollider

        if not hasattr(self, "_collider"):
            capsules = getattr(self, "collision_capsules", PANDA_CAPSULES)
            self._collider = CapsuleCollider(self.robot, capsules, table_height=getattr(self, "table_height", 0.0))
        pos, rot = self._fk()
        colliding, _ = self._collider.check(pos, rot)
        return colliding

    # ------------------------------------------------------------ spaces
    @property
    def observation_space(self):
        import gymnasium as gym
        import numpy as np

        return gym.spaces.Box(-np.inf, np.inf, (self.num_obs,), dtype=np.float32)

    @property
    def action_space(self):
        import gymnasium as gym
        import numpy as np

        return gym.spaces.Box(-1.0, 1.0, (self.num_actions,), dtype=np.float32)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_envs={self.num_envs}, num_obs={self.num_obs}, "
                f"num_actions={self.num_actions}, device={self.device})")


install_hook_points(VecEnvBase)  # the base class's own methods are hook points too (a task may not override them)
