# %% [markdown]
# # Chapter 2 · A custom cart-pole (Exercise 2)
#
# Exercise 2 of the chapter: define an RL task from scratch. You write the classic cart-pole on `VecEnvBase`, the
# same skeleton as the chapter's `FrankaReachTask` listing, train it with PPO through rl-games, watch the policy, and
# compare your reward with the shaped one of NVIDIA's IsaacGymEnvs.
#
# | | |
# |---|---|
# | observation (4) | cart position $x$ (m), cart velocity $\dot x$ (m/s), pole angle $\theta$ (rad, 0 = upright), pole angular velocity $\dot\theta$ (rad/s), **in that order** |
# | action (1) | force on the cart, in [-1, 1] × 400 N (given) |
# | reward | **+1** per step while $\lvert\theta\rvert < 12°$; **-10** on the step where the episode fails; 0 otherwise |
# | failure (reset) | the pole falls, $\lvert\theta\rvert > 90°$, or the cart leaves the track, $\lvert x\rvert > 3$ m |
# | time limit | 500 steps (handled by `VecEnvBase.step`; an episode that lasts them is a success) |
# | initial state | $x, \theta$ uniform in [-0.1, 0.1]; $\dot x, \dot\theta$ uniform in [-0.25, 0.25] |
#
# **Grading.** Write your code where it says `YOUR CODE HERE`. Each test cell (read-only, starting with `# Test:`)
# checks one behaviour by comparing your task with the reference on seeded batches of states; hidden cases add more
# states and the edges of every threshold. The reference is your instructor's: on your machine a test compares with
# the values it computed for the test cell's own states, and the grade compares on more. The last test evaluates your
# trained policy: on your machine on your own task; when graded, on the *reference* task in a separate process. It
# must balance the pole for 500 steps in at least 90% of 500 episodes. Check your work with
# `course check ch02_cartpole/ch02_cartpole.ipynb` in a JupyterLab terminal (File > New > Terminal: it opens in the
# notebooks folder): it shows each cell as it runs, then the points of each test and your total. The **Validate** button
# runs the same notebook, training included, without a sign of progress (for this notebook 1.5 to 3.5 minutes on 2 CPU
# cores, depending on their load), and says only "Success!" or which tests failed. The grader runs the imports cell
# and your solution cell *on their own* in a fresh Python process: keep everything your class needs inside the solution
# cell.

# %% id=environment locked
# Is this kernel ready? (Versions, the device, what to do if something is missing.)
try:
    from course_lib.grading import check_environment
except ModuleNotFoundError as e:
    import glob
    # the one command for a kernel without `make` (a hosted notebook service): it keeps an installed PyTorch
    wheel = sorted(glob.glob("../wheels/course_lib-*.whl"))  # the student package: its wheel
    target = f'"{wheel[-1]}[hosted]"' if wheel else '-e "../..[hosted]"'  # else the repository, a checkout
    raise ModuleNotFoundError(f"{e.name} is not installed in this kernel. From the course's folder run `make lab`, "
                              f"then choose the kernel 'Python 3 (GPU RL course)'. Where there is no `make` (a hosted "
                              f"notebook service), run `%pip install {target}` in a cell, then restart the kernel."
                              ) from None
device = check_environment()

# %% id=imports locked
import math

import torch

import course_lib
from course_lib.envs import VecEnvBase

# %% [markdown]
# ## The task
#
# The model is IsaacGymEnvs' `cartpole.urdf`: joint 0 slides the cart along the track, joint 1 is the pole's hinge.
# `self.get_joint_positions()` and `self.get_joint_velocities()` return `(num_envs, 2)` tensors: column 0 is the cart,
# column 1 the pole. `create_sim` and `pre_physics_step` are written for you. You write:
#
# - `compute_observations`: fill `self.obs_buf` (`(num_envs, 4)`) in the order of the table above;
# - `compute_reward`: fill `self.rew_buf` (`(num_envs,)`) and set `self.reset_buf` to 1 where the episode fails
#   (`VecEnvBase.step` zeroes `reset_buf` before calling it, and adds time-outs itself);
# - `reset_idx(env_ids)`: draw new initial states for the environments `env_ids` only (use the task's generator,
#   `generator=self.rng`, and `device=self.device`), and zero their `progress_buf` and `reset_buf`. The chapter's
#   listing forgets `progress_buf`: don't.
#
# Everything is a batch: no loop over environments, and no `.item()`.

# %% id=cartpole_task solution
class CartpoleTask(VecEnvBase):
    """Exercise 2's cart-pole: +1 per step while the pole is within 12 degrees, -10 when it falls."""

    max_push_effort = 400.0  # N per unit action
    reset_dist = 3.0  # m: the cart leaving |x| > 3 fails the episode
    fall_angle = math.pi / 2  # rad: the pole beyond this has fallen
    upright_angle = math.radians(12.0)  # rad: +1 per step inside this
    fall_penalty = 10.0  # the reward on the failing step is -10

    def __init__(self, cfg, sim_device="cpu", graphics_device_id=0, headless=True):
        self.num_obs = 4  # x, x_dot, theta, theta_dot
        self.num_actions = 1  # force on the cart
        super().__init__(cfg, sim_device, graphics_device_id, headless)

    def create_sim(self):
        robot = self.add_robot("cartpole.urdf")  # one cart-pole per environment, all at once
        robot.stiffness.zero_()  # no joint drives: the action is a force on the cart
        robot.damping.zero_()

    def pre_physics_step(self, actions):
        self.robot.effort[:, 0] = actions[:, 0].clamp(-1.0, 1.0) * self.max_push_effort

    def compute_observations(self):
        q, qd = self.get_joint_positions(), self.get_joint_velocities()
        ### BEGIN SOLUTION
        self.obs_buf[:] = torch.stack((q[:, 0], qd[:, 0], q[:, 1], qd[:, 1]), dim=-1)
        ### END SOLUTION
        return self.obs_buf

    def compute_reward(self):
        q = self.get_joint_positions()
        ### BEGIN SOLUTION
        x, theta = q[:, 0], q[:, 1]
        failed = (x.abs() > self.reset_dist) | (theta.abs() > self.fall_angle)
        upright = (theta.abs() < self.upright_angle).float()
        self.rew_buf[:] = torch.where(failed, -self.fall_penalty, upright)
        self.reset_buf[:] = failed.long()
        ### END SOLUTION
        # (given) an episode that reaches its time limit with the pole up is a success
        self.success_buf[:] = (self.progress_buf >= self.max_episode_length) & (self.reset_buf == 0)
        return self.rew_buf

    def reset_idx(self, env_ids):
        ### BEGIN SOLUTION
        n = len(env_ids)
        positions = 0.2 * (torch.rand(n, 2, generator=self.rng, device=self.device) - 0.5)
        velocities = 0.5 * (torch.rand(n, 2, generator=self.rng, device=self.device) - 0.5)
        self.set_joint_positions(env_ids, positions)  # also zeroes the velocities of env_ids
        self.set_joint_velocities(env_ids, velocities)
        self.progress_buf[env_ids] = 0
        self.reset_buf[env_ids] = 0
        ### END SOLUTION

# %%
# Try your task: 8 environments, a few steps with a constant push.
env = CartpoleTask({"num_envs": 8, "seed": 0})
obs = env.reset()
for _ in range(30):
    obs, rew, resets, extras = env.step(torch.full((8, 1), 0.3))
print("observations:\n", obs[:3], "\nrewards:", rew, "\nresets:", resets)

# %% id=test_observations tests points=2
# Test: observations are (cart position, cart velocity, pole angle, pole angular velocity), on 256 seeded states
from course_lib.grading import check
check("ch02.observations", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch02.observations", globals(), seed=52817, n=3000, hidden=True)
### END HIDDEN TESTS

# %% id=test_reward_alive tests points=2
# Test: while the episode goes on, the reward is +1 with |theta| < 12 degrees and 0 beyond
from course_lib.grading import check
check("ch02.reward_alive", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch02.reward_alive", globals(), seed=52818, n=4000, edges=True, hidden=True)
### END HIDDEN TESTS

# %% id=test_reward_fall tests points=1
# Test: the reward is -10 on the step where the episode fails (pole past 90 degrees, or cart off the track)
from course_lib.grading import check
check("ch02.reward_fall", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch02.reward_fall", globals(), seed=52819, n=4000, edges=True, hidden=True)
### END HIDDEN TESTS

# %% id=test_reset_conditions tests points=2
# Test: an episode fails (reset_buf = 1) exactly when |x| > 3 m or |theta| > 90 degrees
from course_lib.grading import check
check("ch02.reset_conditions", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch02.reset_conditions", globals(), seed=52820, n=4000, edges=True, hidden=True)
### END HIDDEN TESTS

# %% id=test_reset_state tests points=2
# Test: reset_idx redraws only the environments in env_ids, uniformly within the initial ranges
from course_lib.grading import check
check("ch02.reset_state", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch02.reset_state", globals(), seed=52821, n=4096, k=4000, hidden=True)
check("ch02.reset_state", globals(), seed=52822, n=5, k=1, hidden=True)
check("ch02.reset_state", globals(), seed=52823, n=64, k=0, hidden=True)
### END HIDDEN TESTS

# %% id=test_reset_counters tests points=1
# Test: reset_idx zeroes progress_buf and reset_buf of the environments in env_ids, and only those
from course_lib.grading import check
check("ch02.reset_counters", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch02.reset_counters", globals(), seed=52824, n=2048, k=1000, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Train it with PPO
#
# `course_lib.train` runs rl-games' PPO on your class, as the chapter's Step 3 does, with the chapter's YAML format
# (`configs/cartpole.yaml`). On a CPU, 256 environments and 100 iterations (about 400 000 environment steps) take
# well under a minute; on a GPU you can afford thousands of environments. The training cell saves the final policy to
# `runs/cartpole_policy.pth`, where the last test looks for it.

# %%
from course_lib.grading import export_policy
from course_lib.rl.config import default_config_path

NUM_ENVS = 4096 if device == "cuda" else 256
ITERATIONS = 100
result = course_lib.train(CartpoleTask, config=default_config_path("cartpole"), num_envs=NUM_ENVS,
                          iterations=ITERATIONS, device=device, seed=0, name="ch02_cartpole")
policy_path = export_policy(result, "runs/cartpole_policy.pth")

# %% [markdown]
# ## How well does it balance?
#
# 500 episodes of your own task with the trained policy (`course_lib.evaluate`). The grade evaluates the same policy
# on the reference task, which is your instructor's: the same physics with the reference observations, so a policy
# that learned from wrong observations fails there even if it looks fine here.

# %%
evaluation = course_lib.evaluate(CartpoleTask({"num_envs": 500, "seed": 0}), policy_path, episodes=500, seed=0)
print(evaluation)

# %% [markdown]
# ## Watch it
#
# Three environments of your task driven by your policy (`course_lib.viz` records and animates them). Press play.

# %%
from IPython.display import HTML

from course_lib.viz import animate_rollout, record_rollout, to_html

policy = course_lib.load_policy(policy_path)
rollout = record_rollout(CartpoleTask({"num_envs": 4, "seed": 1}), policy, steps=300, envs=(0, 1, 2), reset=True)
HTML(to_html(animate_rollout(rollout, max_frames=100)))

# %%
import matplotlib.pyplot as plt

t = torch.arange(rollout.q.shape[0]) * rollout.dt
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 2.8))
ax1.plot(t, rollout.q[:, :, 0])
ax1.set(xlabel="time (s)", ylabel="cart position x (m)")
ax2.plot(t, torch.rad2deg(torch.as_tensor(rollout.q[:, :, 1])))
ax2.axhline(12, ls=":", c="k")
ax2.axhline(-12, ls=":", c="k")
ax2.set(xlabel="time (s)", ylabel="pole angle (deg)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Your reward against IsaacGymEnvs' shaped reward
#
# IsaacGymEnvs trains its cart-pole with $1 - \theta^2 - 0.01\lvert\dot x\rvert - 0.005\lvert\dot\theta\rvert$ per
# step and -2 on a failure. Yours is flat inside 12 degrees: it says *that* the pole is up, not *how well*. The plot
# compares them over the pole angle; then your task is trained once more, with IsaacGymEnvs' reward in place of yours
# (a subclass that keeps your observations, failures and resets) and the same budget, and both policies are measured
# twice on your task: how often they balance (success on the same 500 episodes), and how well (the pole angle and the
# cart position of 256 episodes, 400 steps each). The cell prints what it measured and what that says.

# %%
from course_lib.grading.viz import compare_cartpole_rewards

compare_cartpole_rewards(CartpoleTask)
plt.show()

# %%
from course_lib.envs.rewards import cartpole_isaacgym_reward


class ShapedCartpole(CartpoleTask):
    """Your task with IsaacGymEnvs' shaped reward: your compute_reward decides failures and successes."""

    def compute_reward(self):
        super().compute_reward()
        q, qd = self.get_joint_positions(), self.get_joint_velocities()
        self.rew_buf[:], _ = cartpole_isaacgym_reward(q[:, 1], qd[:, 0], qd[:, 1], self.reset_buf.bool())
        return self.rew_buf


shaped = course_lib.train(ShapedCartpole, config=default_config_path("cartpole"), num_envs=NUM_ENVS,
                          iterations=ITERATIONS, device=device, seed=0, name="ch02_isaacgym_reward", progress=False,
                          print_interval=ITERATIONS)
shaped_evaluation = course_lib.evaluate(CartpoleTask({"num_envs": 500, "seed": 0}), shaped.checkpoint, episodes=500,
                                       seed=0)
runs = {"exercise2": (policy_path, evaluation), "isaacgym": (shaped.checkpoint, shaped_evaluation)}
for reward, (checkpoint, ev) in runs.items():
    print(f"{reward:>9} reward: {ev}")

# how well: 256 episodes of your task, 400 steps (no time-out), pole angle and cart position at every step
held = {}
for reward, (checkpoint, ev) in runs.items():
    ro = record_rollout(CartpoleTask({"num_envs": 256, "seed": 1}), course_lib.load_policy(checkpoint), steps=400,
                        envs=range(256), reset=True)
    q = torch.as_tensor(ro.q)
    held[reward] = (torch.rad2deg(q[:, :, 1]).abs(), q[:, :, 0].abs(), int(ro.dones.sum()))
t = torch.arange(q.shape[0]) * ro.dt
settled = t >= 1.0  # after the first second, when the start's push has been caught

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
for reward, (theta, x, falls) in held.items():
    ax1.plot(t, theta.mean(1), label=f"{reward} ({100 * runs[reward][1].success_rate:.1f}% success)")
    ax2.plot(t, x.mean(1), label=reward)
ax1.set(xlabel="time (s)", ylabel="|pole angle| (deg), mean of 256", yscale="log", title="how upright")
ax2.set(xlabel="time (s)", ylabel="|cart position| (m), mean of 256", title="how centred")
for ax in (ax1, ax2):
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

rate = {reward: ev.success_rate for reward, (checkpoint, ev) in runs.items()}
angle = {reward: float(theta[settled].mean()) for reward, (theta, x, falls) in held.items()}
offset = {reward: float(x[settled].mean()) for reward, (theta, x, falls) in held.items()}
print(f"{'reward':>9} | success (500 episodes) | mean |angle| after 1 s | mean |cart x| after 1 s | falls in 400 steps")
for reward in runs:
    print(f"{reward:>9} | {100 * rate[reward]:21.1f}% | {angle[reward]:18.3f} deg | {offset[reward]:20.3f} m | "
          f"{held[reward][2]:>18}")
lo, hi = min(rate.values()), max(rate.values())
if hi - lo < 0.01:
    both = f"{100 * lo:.1f}%" if lo == hi else f"{100 * lo:.1f}-{100 * hi:.1f}%"
    print(f"\nAt this budget both rewards balance the pole in {both} of the episodes: success does not tell them apart.")
else:
    print(f"\nAt this budget the {max(rate, key=rate.get)} reward balances the pole more often.")
ratio = angle["exercise2"] / angle["isaacgym"]
if ratio > 1:
    print(f"How well it is balanced does: with IsaacGymEnvs' shaped reward, which pays for every degree, the pole leans "
          f"{ratio:.1f}x less than with yours, which pays the same anywhere inside 12 degrees "
          f"({angle['isaacgym']:.3f} against {angle['exercise2']:.3f} degrees).")
else:
    print(f"In this run the shaped reward does not hold the pole more upright ({angle['isaacgym']:.3f} against "
          f"{angle['exercise2']:.3f} degrees): try another seed.")

# %% id=test_policy tests points=5
# Test: the trained policy balances the reference cart-pole for 500 steps in >= 90% of 500 episodes
from course_lib.grading import check
check("ch02.policy", globals(), checkpoint="runs/cartpole_policy.pth", episodes=500, seed=0, min_success=0.9)
### BEGIN HIDDEN TESTS
check("ch02.policy", globals(), checkpoint="runs/cartpole_policy.pth", episodes=500, seed=9127, min_success=0.9,
      hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Something to try
#
# - Train with fewer iterations (`ITERATIONS = 30`) and watch the success rate: when does it reach 90%?
# - Change the reward to IsaacGymEnvs' shaped one in your class and compare the animations: which policy keeps the
#   cart nearer the centre?
# - Remove `self.progress_buf[env_ids] = 0` from `reset_idx`: `course_lib` warns and fixes it. Read the warning.
# - Give the policy only $(x, \theta)$ (set `num_obs = 2`): can it still balance? Why not?
# - On a GPU, set `NUM_ENVS = 16384`: how many iterations does it need now?
