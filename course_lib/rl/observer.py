"""What a training run shows and writes: the chapter's progress line, a progress bar,
TensorBoard scalars, ``metrics.csv`` and ``timing.csv``.

Implemented as an rl-games ``AlgoObserver`` (the pattern of IsaacGymEnvs'
``RLGPUAlgoObserver``): rl-games calls :meth:`process_infos` after every
environment step and :meth:`after_print_stats` after every iteration.

Files (one row per iteration):

- ``metrics.csv``: ``iteration, env_steps, episodes, mean_reward,
  success_rate, timeouts_possible, episode_length, reward/<term>..., a_loss,
  c_loss, entropy, kl, lr``. Deterministic: the same seed on the CPU writes
  the same file, byte for byte. Statistics are over the episodes that ended
  in that iteration (empty when none did). ``timeouts_possible`` is 1 from the
  first iteration in which an episode can reach the task's time limit
  (``max_episode_length``), 0 before: until then only episodes that end early
  (at the goal, or failing) can end, so ``success_rate`` reads 100 % or 0 %
  whatever the policy. The progress line and :class:`~course_lib.viz.LivePlot`
  count success only where it is 1; the file keeps every iteration's raw rate.
  With ``ppo.random_episode_start`` (first episodes start at a random step
  of the time limit) an episode can time out from the first iteration on, so
  every iteration counts.
- ``timing.csv``: ``iteration, env_steps, wall_time_s, iteration_s, fps,
  env_step_s, update_s``, kept apart because clocks are not reproducible.
  ``fps`` counts environment steps per second across all environments
  (rollout and update included); ``env_step_s`` is the time inside the
  task's ``step`` (physics, rewards, resets), ``update_s`` rl-games' PPO
  update.
"""
from __future__ import annotations

import csv
import math
import os
import sys
import time
from dataclasses import dataclass

import torch
from rl_games.common.algo_observer import AlgoObserver

__all__ = ["CourseObserver", "RankObserver", "StopRule", "format_progress"]


def first_timeout_iteration(max_episode_length, horizon_length: int) -> int:
    """The first iteration (1-based) in which an episode can reach the time limit: every environment starts its
    first episode at step 0, so the earliest time-out is at step ``max_episode_length``. 1 for a task without one."""
    if not max_episode_length or max_episode_length <= 0:
        return 1
    return max(1, math.ceil(int(max_episode_length) / int(horizon_length)))


def format_progress(iteration: int, total: int, mean_reward, success_rate, fps: float) -> str:
    """The chapter's line: ``Iteration: 100/1000  Mean Reward: -0.45  Success Rate: 12.0%  FPS: 85000``."""
    mr = "n/a" if mean_reward is None else f"{mean_reward:.2f}"
    sr = "n/a" if success_rate is None else f"{100.0 * success_rate:.1f}%"
    return f"Iteration: {iteration}/{total}  Mean Reward: {mr}  Success Rate: {sr}  FPS: {fps:.0f}"


def _fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    return str(x)


@dataclass(frozen=True)
class StopRule:
    """Stop training once the success rate has held: ``success`` (a fraction) or more over the episodes that ended
    in the last ``window`` iterations, all of them iterations in which an episode could also time out (before
    those, only successes can end an episode: see the module's docstring).

    ``window`` None means one episode's time limit in iterations (the reach task's and the cart-pole's 500 steps:
    32 iterations of 16): a successful episode ends early and is counted at once, a failing one only when it times
    out, so a shorter window would count a new policy's successes before its failures. Why stop at all: reach is
    learned in a jump whose iteration varies from seed to seed (33 to 74 iterations over chapter 3's 20 calibration
    seeds on the CPU: benchmarks/RESULTS.md), and the iterations after it cost a student minutes on a laptop
    without changing what they learn."""

    success: float  # fraction in (0, 1]
    window: int | None = None  # iterations; None = one episode's time limit

    def __post_init__(self):
        if isinstance(self.success, bool) or not (isinstance(self.success, (int, float))
                                                  and 0.0 < float(self.success) <= 1.0):
            raise ValueError(f"stop_at_success must be a success rate in (0, 1], e.g. 0.95; got {self.success!r}")
        if self.window is not None and (isinstance(self.window, bool) or not isinstance(self.window, int)
                                        or self.window < 1):
            raise ValueError(f"stop_window must be a whole number of iterations >= 1 (or None: one episode's time "
                             f"limit); got {self.window!r}")

    def recent(self, rows: list, episode_iterations: int) -> list:
        """The rows of the window, or [] while there are fewer, or any of them is before time-outs were possible.
        rows: the observer's metrics rows; episode_iterations: the time limit in iterations."""
        w = self.window or episode_iterations
        recent = rows[-w:]
        if len(recent) < w or not all(r["timeouts_possible"] for r in recent):
            return []
        return recent

    def met(self, rows: list, episode_iterations: int) -> bool:
        recent = self.recent(rows, episode_iterations)
        n = sum(r["episodes"] for r in recent)
        return n > 0 and self._successes(recent) >= self.success * n

    @staticmethod
    def _successes(rows):
        return sum(r["success_rate"] * r["episodes"] for r in rows if r["episodes"])

    def describe(self, rows: list, episode_iterations: int) -> str:
        recent = self.recent(rows, episode_iterations)
        n = sum(r["episodes"] for r in recent)
        why = "" if self.window else " (one episode's time limit)"
        return (f"Stopped at iteration {rows[-1]['iteration']}: {100 * self._successes(recent) / n:.1f}% of the "
                f"{n} episodes that ended in the last {len(recent)} iterations{why} were successes, the target "
                f"being {100 * self.success:.0f}%. (stop_at_success=None trains every iteration.)")


class CourseObserver(AlgoObserver):
    """Collects episode statistics on the device (no host sync per step) and reports them.

    callback: called as ``callback(observer, iteration)`` after every
    iteration; the time it takes is kept out of the run's clock and FPS
    (benchmarks/train_time.py evaluates there).
    world_size: processes of a multi-GPU run (this observer is rank 0's):
    environment steps and FPS count all of them; episode statistics are
    rank 0's environments, as rl-games reports them.
    stop: a :class:`StopRule` (or None): end training once the success rate
    has held at its target (see :meth:`StopRule.met`).
    """

    def __init__(self, run_dir: str, num_iterations: int, print_interval: int = 0, progress=None,
                 out=None, callback=None, world_size: int = 1, stop: "StopRule | None" = None,
                 random_episode_start: bool = False):
        super().__init__()
        self.random_episode_start = bool(random_episode_start)
        self.stop_rule = stop
        #: the iteration at which the stop rule ended training, None if it did not
        self.stopped_at = None
        self.world_size = int(world_size)
        self.run_dir = run_dir
        self.num_iterations = int(num_iterations)
        self.print_interval = int(print_interval) if print_interval else max(1, self.num_iterations // 10)
        self.progress = progress
        self.out = out if out is not None else sys.stdout
        self.callback = callback
        self.rows: list = []
        self.timing: list = []
        self.bar = None
        self.algo = None
        self.paused_s = 0.0

    # -------------------------------------------------------------- rl-games hooks
    def after_init(self, algo):
        self.algo = algo
        self.writer = algo.writer
        self.device = algo.ppo_device
        self.env = algo.vec_env.env
        self.steps_per_iter = algo.horizon_length * algo.num_actors * self.world_size  # all processes
        self.max_episode_length = getattr(self.env, "max_episode_length", None)
        #: success is counted from this iteration on (see the module's docstring)
        #: one episode's time limit in iterations: the stop rule's default window
        self.episode_iterations = first_timeout_iteration(self.max_episode_length, algo.horizon_length)
        self.success_from = 1 if self.random_episode_start else self.episode_iterations
        self._int_success = [0, 0.0]  # episodes and successes of the interval, where time-outs were possible
        self._int_first = 1
        self._told = set()
        self._acc = self._zeros()
        self._int = self._zeros()
        self._int_env_steps = 0
        self.t0 = time.perf_counter()
        self._t_iter = self.t0
        self._t_interval = self.t0
        self._paused_interval = 0.0
        self._env_s_prev = 0.0
        self.terms = None
        self.term_names = None
        self.metrics_file = open(os.path.join(self.run_dir, "metrics.csv"), "w", newline="")
        self.timing_file = open(os.path.join(self.run_dir, "timing.csv"), "w", newline="")
        self.metrics_csv = csv.writer(self.metrics_file, lineterminator="\n")
        self.timing_csv = csv.writer(self.timing_file, lineterminator="\n")
        self.timing_csv.writerow(["iteration", "env_steps", "wall_time_s", "iteration_s", "fps", "env_step_s",
                                  "update_s"])
        if self.progress is not False:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.num_iterations, desc="training", unit="it",
                            disable=None if self.progress is None else False, leave=True,
                            dynamic_ncols=True)

    def _zeros(self):
        # [successes, return, length, reward terms...] summed over ended episodes, on the device
        return {"episodes": 0, "vec": None}

    def process_infos(self, infos, done_indices):
        if not isinstance(infos, dict) or done_indices is None:
            return
        idx = done_indices.reshape(-1)
        n = idx.numel()  # known on the host: rl-games' nonzero() already synchronised
        if n == 0:
            return
        algo = self.algo
        if self.term_names is None:
            self.term_names = list(getattr(self.env, "reward_terms", {}) or {})
        ep = infos.get("episode", {})
        parts = [infos["successes"][idx].double().sum() if "successes" in infos else
                 torch.zeros((), dtype=torch.float64, device=self.device),
                 algo.current_rewards[idx, 0].double().sum(), algo.current_lengths[idx].double().sum()]
        for name in self.term_names:
            v = ep.get(f"reward/{name}")
            parts.append(v.double() * n if torch.is_tensor(v) else torch.zeros((), dtype=torch.float64,
                                                                               device=self.device))
        vec = torch.stack(parts)
        for acc in (self._acc, self._int):
            acc["episodes"] += n
            acc["vec"] = vec.clone() if acc["vec"] is None else acc["vec"].add_(vec)

    def _read(self, acc):
        """(episodes, successes, return sum, length sum, {term: sum}) on the host."""
        n = acc["episodes"]
        if acc["vec"] is None:
            return n, 0.0, 0.0, 0.0, {}
        v = acc["vec"].tolist()
        return n, v[0], v[1], v[2], {f"reward/{k}": x for k, x in zip(self.term_names, v[3:])}

    def after_clear_stats(self):
        pass

    def after_print_stats(self, frame, epoch_num, total_time):
        now = time.perf_counter()
        algo = self.algo
        it = int(epoch_num)
        env_steps = it * self.steps_per_iter
        n, succ, ret, length, terms = self._read(self._acc)
        if self.terms is None:
            if self.term_names is None:
                self.term_names = list(getattr(self.env, "reward_terms", {}) or {})
            self.terms = [f"reward/{k}" for k in self.term_names]
            self.metrics_csv.writerow(["iteration", "env_steps", "episodes", "mean_reward", "success_rate",
                                       "timeouts_possible", "episode_length", *self.terms, "a_loss", "c_loss",
                                       "entropy", "kl", "lr"])
        fair = it >= self.success_from
        row = {"iteration": it, "env_steps": env_steps, "episodes": int(n),
               "mean_reward": ret / n if n else None,
               "success_rate": succ / n if n else None,
               "timeouts_possible": int(fair),
               "episode_length": length / n if n else None}
        if fair:
            self._int_success[0] += n
            self._int_success[1] += succ
        for k in self.terms:
            row[k] = terms[k] / n if (n and k in terms) else None
        row.update(getattr(algo, "_course_losses", {}))
        self.rows.append(row)
        self.metrics_csv.writerow([_fmt(row.get(k)) for k in
                                   ["iteration", "env_steps", "episodes", "mean_reward", "success_rate",
                                    "timeouts_possible", "episode_length", *self.terms, "a_loss", "c_loss",
                                    "entropy", "kl", "lr"]])
        self.metrics_file.flush()

        # timing (kept out of metrics.csv: clocks are not reproducible)
        iter_s = now - self._t_iter
        env_s_total = getattr(algo.vec_env, "step_seconds", 0.0)
        env_s = env_s_total - self._env_s_prev
        self._env_s_prev = env_s_total
        wall = now - self.t0 - self.paused_s
        fps = self.steps_per_iter / iter_s if iter_s > 0 else float("nan")
        times = getattr(algo, "_course_times", {})
        trow = {"iteration": it, "env_steps": env_steps, "wall_time_s": wall, "iteration_s": iter_s, "fps": fps,
                "env_step_s": env_s, "update_s": times.get("update_time")}
        self.timing.append(trow)
        self.timing_csv.writerow([_fmt(trow[k]) for k in trow])
        self.timing_file.flush()

        # TensorBoard: success rate and every reward term, against environment steps
        if self.writer is not None and n:
            if fair:  # counted as the progress line counts it
                self.writer.add_scalar("Episode/success_rate", row["success_rate"], env_steps)
            self.writer.add_scalar("Episode/mean_reward", row["mean_reward"], env_steps)
            self.writer.add_scalar("Episode/length", row["episode_length"], env_steps)
            for k in self.terms:
                if row.get(k) is not None:
                    self.writer.add_scalar(k, row[k], env_steps)
        if self.writer is not None:
            self.writer.add_scalar("performance/fps_total", fps, env_steps)

        self._acc = self._zeros()
        self._int_env_steps += self.steps_per_iter
        if self.bar is not None:
            self.bar.update(1)
        stopping = (self.stop_rule is not None and it < self.num_iterations
                    and self.stop_rule.met(self.rows, self.episode_iterations))
        if stopping:
            self.stop()
            self.stopped_at = it
        if it % self.print_interval == 0 or it >= self.num_iterations:
            self._print_interval_line(it, now)
        if stopping:
            self.print(self.stop_rule.describe(self.rows, self.episode_iterations))
        self._t_iter = time.perf_counter()
        if self.callback is not None:
            t = time.perf_counter()
            self.callback(self, it)
            dt = time.perf_counter() - t
            self.paused_s += dt
            self._paused_interval += dt
            self._t_iter = time.perf_counter()

    def _print_interval_line(self, it, now):
        n, _, ret, _, _ = self._read(self._int)
        fair_n, fair_succ = self._int_success
        span = now - self._t_interval - self._paused_interval
        fps = self._int_env_steps / span if span > 0 else float("nan")
        mean, rate = (ret / n if n else None), (fair_succ / fair_n if fair_n else None)
        self.print(format_progress(it, self.num_iterations, mean, rate, fps))
        limit = f"the {self.max_episode_length}-step time limit" if self.max_episode_length else "its time limit"
        if mean is None and "mean" not in self._told:
            self._told.add("mean")
            self.print(f"  (Mean Reward: n/a: no episode ended since the last line; it is the mean return of the "
                       f"episodes that ended, and an episode ends at its goal, when it fails, or at {limit}.)")
        if rate is None and self._int_first < self.success_from and "success" not in self._told:
            self._told.add("success")
            self.print(f"  (Success Rate: counted from iteration {self.success_from}, the first in which an episode "
                       f"can reach {limit}; before it only episodes that end early can end, and their rate would "
                       f"read 100% or 0% whatever the policy.)")
        self._int_success = [0, 0.0]
        self._int_first = it + 1
        self._int = self._zeros()
        self._int_env_steps = 0
        self._t_interval = now
        self._paused_interval = 0.0

    # --------------------------------------------------------------- helpers
    def policy(self, device=None):
        """The current deterministic policy (a :class:`~course_lib.rl.policy.Policy` copy of the actor)."""
        from .policy import Policy

        meta = dict(getattr(self.algo, "course_meta", {}) or {})
        meta.update({"iteration": int(self.algo.epoch_num)})
        p = Policy.from_state({k: v.detach().clone() for k, v in self.algo.model.state_dict().items()}, meta,
                              source="the model in training")
        return p.to(device if device is not None else self.algo.ppo_device)

    def stop(self) -> None:
        """End training after this iteration (rl-games saves its last checkpoint as usual)."""
        self.algo.max_epochs = int(self.algo.epoch_num)
        self.num_iterations = int(self.algo.epoch_num)
        if self.bar is not None:  # the bar ends full, at the iteration it stopped
            self.bar.total = self.num_iterations
            self.bar.refresh()

    def print(self, line: str) -> None:
        if self.bar is not None and not self.bar.disable:
            # sys.stdout is train()'s filter in front of `out` here; tqdm clears the bar only for
            # sys.stdout / sys.stderr, so the line must not go around it.
            self.bar.write(line, file=sys.stdout)
        else:
            print(line, file=self.out, flush=True)

    @property
    def wall_time(self) -> float:
        """Seconds since training started, without the time spent in the callback."""
        return time.perf_counter() - self.t0 - self.paused_s

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        for f in ("metrics_file", "timing_file"):
            fh = getattr(self, f, None)
            if fh is not None and not fh.closed:
                fh.close()


class RankObserver(AlgoObserver):
    """The observer of a process of rank > 0 in a multi-GPU run: it keeps rl-games' agent and writes
    nothing (rank 0's :class:`CourseObserver` writes the run's files and prints)."""

    def __init__(self):
        super().__init__()
        self.algo, self.rows, self.timing = None, [], []

    def after_init(self, algo):
        self.algo = algo

    def close(self):
        pass
