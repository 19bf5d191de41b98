"""Domain randomization in Isaac Gym's ``randomization_params`` schema, vectorised per environment.

The chapter's section "Sim-to-Real Transfer with Domain Randomization" writes
three functions, ``randomize_physics(env_ids)``, ``add_observation_noise(obs)``
and ``randomize_visuals(env_ids)``. Isaac Gym (IsaacGymEnvs' ``VecTask``)
describes the same thing as data, a ``randomization_params`` dictionary in
the task's YAML file; this package reads that dictionary, checks it, and
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

The package, a module for each thing (import every name from the package itself):

- :mod:`.schema`: the schema above, validated (:class:`RandomizationParams`, :class:`ParamSpec`,
  :class:`RandomizationError`, :func:`merge_params`);
- :mod:`.randomizer`: :class:`DomainRandomizer` (draws and applies), the nominal values, the
  per-environment visual buffers;
- :mod:`.presets`: the chapter's randomizations and Exercise 5's (``CHAPTER_*``, ``EXERCISE5_*``);
- :mod:`.chapter`: :func:`randomize` / :func:`unrandomize` on a task, and the chapter's
  ``randomize_visuals`` as the mixin every task has (``randomize_physics`` and
  ``add_observation_noise`` are chapter 5's exercise, and not here).

The chapter's sag demo and its plot live in :mod:`course_lib.viz.sag`.
"""
from __future__ import annotations

from ..latency import ActionLatency
from .chapter import ChapterRandomizationMixin, randomize, unrandomize
from .presets import (CHAPTER_OBSERVATION_NOISE, CHAPTER_PHYSICS, CHAPTER_RANDOMIZATION, CHAPTER_VISUALS,
                      EXERCISE5_TEST_SET, EXERCISE5_TRAIN_RANDOMIZATION)
from .randomizer import (NOMINAL_LIGHT_INTENSITY, NOMINAL_OBJECT_COLOR, NOMINAL_ROBOT_COLOR, DomainRandomizer,
                         ensure_visual_buffers, restore_nominal, sample_values, set_camera_offset,
                         set_light_intensity, set_object_color)
from .schema import ParamSpec, RandomizationError, RandomizationParams, merge_params

__all__ = [
    "RandomizationError", "ParamSpec", "RandomizationParams", "DomainRandomizer", "randomize", "unrandomize",
    "merge_params", "sample_values", "restore_nominal", "ChapterRandomizationMixin", "ActionLatency",
    "set_light_intensity", "set_object_color", "set_camera_offset", "ensure_visual_buffers",
    "CHAPTER_PHYSICS", "CHAPTER_OBSERVATION_NOISE", "CHAPTER_VISUALS", "CHAPTER_RANDOMIZATION",
    "EXERCISE5_TEST_SET", "EXERCISE5_TRAIN_RANDOMIZATION", "NOMINAL_LIGHT_INTENSITY", "NOMINAL_OBJECT_COLOR",
    "NOMINAL_ROBOT_COLOR",
]

#: moved to course_lib.viz.sag; the chapter 5 notebooks import them from here
_SAG_DEMO = ("sag_demo", "SagDemo", "plot_sag_demo")


def __getattr__(name):
    if name in _SAG_DEMO:  # loaded when asked for: the drawing layer stays out of the tasks' imports
        from ...viz import sag

        return getattr(sag, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
