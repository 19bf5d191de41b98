"""Chapter 6's reference answers: the Wilson interval and the control node's observation (the instructor's; never
shipped).

The library reports its own confidence intervals with SciPy (:func:`course_lib.rl.evaluate.success_ci`), and its
deployment loop takes the observation step as an argument (``deploy(..., observe=mujoco_observation)``), so that
neither formula is in what a student installs.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["wilson_interval", "reach_observation"]


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (lo, hi) of the success rate ``successes / n`` (z = 1.96: 95 %), in [0, 1]."""
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def reach_observation(q, qd, tcp, target) -> np.ndarray:
    """The reach task's 17 observations from a robot's readings, as its control node forms them.

    q, qd: (N, 7) joint positions (rad) and velocities (rad/s); tcp, target: (N, 3) positions in the robot's
    base frame (m). Returns float32 (N, 17): ``[q, qd, target - tcp]``, the order of
    ``FrankaReachTask.compute_observations`` (what the policy was trained on).
    """
    q, qd, tcp, target = (np.asarray(x, dtype=np.float64) for x in (q, qd, tcp, target))
    return np.concatenate((q, qd, target - tcp), axis=-1).astype(np.float32)
