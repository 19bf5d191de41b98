"""The instructor's reference implementations of the course's graded exercises.

What is here answers an exercise, so it is never handed to a student:

- it is not part of the ``course_lib`` distribution (``pyproject.toml`` packages ``course_lib`` only), so the
  student package and a student's ``pip install`` of the library do not contain it;
- the grading sandbox binds ``course_lib``'s folder only, so a submission's code cannot import it;
- the grader's judge (a fresh process outside the sandbox, which never runs student code), the tests and the
  benchmarks import it from this repository, through :mod:`course_lib.answers`.

On a machine without it, visible checks compare with values the reference computed and the course stores as
data (``course_lib/grading/expected/``); hidden cases are judged only where this package is.

Today: chapter 2's cart-pole (:mod:`course_answers.cartpole`), chapter 4's rewards and run statistic
(:mod:`course_answers.reach_rewards`) and chapter 6's Wilson interval and deployment observation
(:mod:`course_answers.evaluate_deploy`).
"""
from .cartpole import CartpoleTask
from .evaluate_deploy import reach_observation, wilson_interval
from .reach_rewards import REACH_REWARDS

#: the reference tasks, by the names ``course_lib.make`` / ``course train`` know them by
TASKS = {"cartpole": CartpoleTask}

__all__ = ["CartpoleTask", "TASKS", "REACH_REWARDS", "wilson_interval", "reach_observation"]
