"""Builders several test files share."""
import os

import course_lib


def train_tiny(task, tmp_path_factory):
    """A tiny training run (32 environments, 3 iterations, seed 0) of ``task`` in a fresh temporary folder named
    after it; returns the ``TrainResult`` (a checkpoint to evaluate or export, not a policy that succeeds)."""
    runs = tmp_path_factory.mktemp(task)
    with open(os.devnull, "w") as quiet:
        return course_lib.train(task, num_envs=32, iterations=3, seed=0, runs_dir=str(runs), progress=False, out=quiet)
