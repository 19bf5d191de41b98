"""Randomization on a task: :func:`randomize` hooks a randomizer in, :func:`unrandomize` takes it out, and the
chapter's ``randomize_visuals`` and the visual setters as a mixin of every task (``VecEnvBase``).

The chapter's other two functions, ``randomize_physics`` and ``add_observation_noise``, are chapter 5's exercise:
the student library does not have them (issue 12). Their ranges are data here (``CHAPTER_PHYSICS``,
``CHAPTER_OBSERVATION_NOISE``), applied with :func:`randomize`."""
from __future__ import annotations

import torch

from .presets import CHAPTER_RANDOMIZATION
from .randomizer import DomainRandomizer, _seed_for, set_camera_offset, set_light_intensity, set_object_color

__all__ = ["randomize", "unrandomize", "ChapterRandomizationMixin"]


def randomize(env, params, seed: int | None = None):
    """Randomize ``env`` with ``params`` from now on; returns ``env`` (its randomizer is ``env.randomizer``).

    Draws every environment's values at once, then re-draws an environment's
    at its resets (``frequency`` permitting); observations and actions get
    their noise at every step; actions go through the actuation latency. The
    randomizer runs at the task's hooks (``VecEnvBase.add_hook``); the
    chapter's functions (``randomize_physics``, ...) are every task's already
    (:class:`ChapterRandomizationMixin`).
    """
    dr = DomainRandomizer(env, params, seed)
    dr.attach()
    return env


def unrandomize(env) -> None:
    """Undo :func:`randomize`: remove the hooks and restore the nominal values."""
    dr = getattr(env, "randomizer", None)
    if isinstance(dr, DomainRandomizer):
        dr.detach(restore=True)


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
    """The chapter's visual randomization and setters, for a :class:`~course_lib.envs.VecEnvBase` task.

    They draw from :data:`CHAPTER_RANDOMIZATION` (exactly the listing's ranges)
    with their own seeded generators, for the given environments only, now.
    """

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
