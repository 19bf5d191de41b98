"""What a training run shows and writes: the chapter's progress line, a progress bar,
TensorBoard scalars, ``metrics.csv`` and ``timing.csv``.

Implemented as an rl-games ``AlgoObserver`` (the pattern of IsaacGymEnvs'
``RLGPUAlgoObserver``): rl-games calls :meth:`process_infos` after every
environment step and :meth:`after_print_stats` after every iteration.

Files (one row per iteration):

- ``metrics.csv``: ``iteration, env_steps, episodes, mean_reward,
  success_rate, episode_length, reward/<term>..., a_loss, c_loss, entropy,
  kl, lr``. Deterministic: the same seed on the CPU writes the same file,
  byte for byte. Statistics are over the episodes that ended in that
  iteration (empty when none did).
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

import torch
from rl_games.common.algo_observer import AlgoObserver

__all__ = ["CourseObserver", "format_progress"]


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


class CourseObserver(AlgoObserver):
    """Collects episode statistics on the device (no host sync per step) and reports them.

    callback: called as ``callback(observer, iteration)`` after every
    iteration; the time it takes is kept out of the run's clock and FPS
    (benchmarks/train_time.py evaluates there).
    """

    def __init__(self, run_dir: str, num_iterations: int, print_interval: int = 0, progress=None,
                 out=None, callback=None):
        super().__init__()
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
        self.steps_per_iter = algo.horizon_length * algo.num_actors
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
                                       "episode_length", *self.terms, "a_loss", "c_loss", "entropy", "kl", "lr"])
        row = {"iteration": it, "env_steps": env_steps, "episodes": int(n),
               "mean_reward": ret / n if n else None,
               "success_rate": succ / n if n else None,
               "episode_length": length / n if n else None}
        for k in self.terms:
            row[k] = terms[k] / n if (n and k in terms) else None
        row.update(getattr(algo, "_course_losses", {}))
        self.rows.append(row)
        self.metrics_csv.writerow([_fmt(row.get(k)) for k in
                                   ["iteration", "env_steps", "episodes", "mean_reward", "success_rate",
                                    "episode_length", *self.terms, "a_loss", "c_loss", "entropy", "kl", "lr"]])
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
        if it % self.print_interval == 0 or it >= self.num_iterations:
            self._print_interval_line(it, now)
        self._t_iter = time.perf_counter()
        if self.callback is not None:
            t = time.perf_counter()
            self.callback(self, it)
            dt = time.perf_counter() - t
            self.paused_s += dt
            self._paused_interval += dt
            self._t_iter = time.perf_counter()

    def _print_interval_line(self, it, now):
        n, succ, ret, _, _ = self._read(self._int)
        span = now - self._t_interval - self._paused_interval
        fps = self._int_env_steps / span if span > 0 else float("nan")
        line = format_progress(it, self.num_iterations, ret / n if n else None, succ / n if n else None, fps)
        self.print(line)
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
