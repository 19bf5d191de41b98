# %% [markdown]
# # Chapter 3 · The Franka Panda reach task (Exercise 3)
#
# The chapter's centre: a 7-joint Franka Panda learns to bring its gripper (the TCP, the point between the fingers) to
# a random target. You write the task (observation, reward, reset) on the chapter's `FrankaReachTask` skeleton, train
# it with PPO through rl-games, watch it learn, save it, and look at what it learned: in 3D, on a map of the
# workspace, and with sliders.
#
# | | |
# |---|---|
# | observation (17) | joint positions (7, rad), joint velocities (7, rad/s), target minus TCP position (3, m), **in that order** |
# | action (7) | joint velocity commands in [-1, 1], scaled to each joint's velocity limit (given) |
# | reward | $-d - 0.01\,\lVert a\rVert + 10\,[d < 0.05]$, with $d$ the TCP-to-target distance (m) |
# | termination | success: $d < 5$ cm; time-out: 500 control steps (8.3 s at 60 Hz, handled by `VecEnvBase.step`) |
# | initial state | the home pose `PANDA_HOME` plus uniform noise of ±0.15 rad per joint, **inside the joint limits**, at rest |
# | targets | uniform in the box $x \in [0.3, 0.9]$, $y \in [-0.3, 0.3]$, $z \in [0.2, 0.8]$ m (robot base frame) |
#
# **Grading.** Write your code where it says `YOUR CODE HERE`. Each test cell (read-only, starting with `# Test:`)
# compares your task with the reference on seeded batches of states; hidden cases add targets 0.2 mm either side of the
# 5 cm ball, joints at their limits, and zero and saturated actions. The last two tests evaluate your trained policy on
# the *reference* task in a separate process, on 1000 fixed episodes: it must reach the target in at least 80% of them,
# with a mean reward per step above -0.2 (the chapter's "Expected Outcome"). Check your work with
# `course check ch03_franka_reach/ch03_franka_reach.ipynb` in a JupyterLab terminal (File > New > Terminal: it opens in
# the notebooks folder): it shows each cell as it runs, then the points of each test and your total. The **Validate**
# button runs the same notebook, training included, without a sign of progress, and says only "Success!" or which
# tests failed. The grader runs the imports cell and your solution cell *on their own* in a fresh Python process: keep
# everything your class needs inside the solution cell.

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
from course_lib.envs.franka_reach import PANDA_HOME, FrankaReachCfg, configure_panda

# %% [markdown]
# ## The chapter's listing, and where it goes wrong
#
# The chapter's `FrankaReachTask` (Step 1) is the right skeleton, and `course_lib` runs it as printed. Four of its
# lines would hurt you, though; you will meet each one below.
#
# 1. **`reset_idx` never resets `progress_buf`.** After the first 500 steps every environment would time out on every
#    step. (`course_lib` notices, resets it and warns; the grader does not.)
# 2. **`torch.rand((len(env_ids), 7)) * 0.5` as a pose.** Every joint in [0, 0.5] rad: but the Panda's joint 4 lives
#    in [-3.07, -0.07] rad, so *every* reset asks for a pose the robot cannot take. The cell below shows it.
# 3. **Tensors made on the CPU** (`torch.rand(...)`, `torch.tensor([0.3, -0.3, 0.2])`) written into buffers on the GPU
#    fail there. Give every new tensor `device=self.device`.
# 4. **`step` computes the observation before resetting**, so the policy sees the last state of an episode that has
#    already ended instead of the first state of the new one. `VecEnvBase.step` resets first and then observes, as
#    Isaac Lab does; you only write the three methods it calls.
#
# The Panda's joint limits, next to the listing's reset:

# %%
panda = course_lib.make("franka_reach", num_envs=1, device="cpu", seed=0)
lower, upper = panda.robot.lower, panda.robot.upper  # (7,) rad
listing_q = torch.rand((10000, 7)) * 0.5  # the listing's reset, 10000 times
outside = ((listing_q < lower) | (listing_q > upper)).float().mean(0)
print("joint   lower (rad)  upper (rad)  home (rad)  listing's poses outside the limits")
for j in range(7):
    print(f"  {j + 1}     {float(lower[j]):+7.3f}      {float(upper[j]):+7.3f}     {PANDA_HOME[j]:+7.3f}"
          f"     {100 * float(outside[j]):5.1f}%")

# %% [markdown]
# ## Your task
#
# `__init__`, `create_sim` and `pre_physics_step` are written for you: the arm with the Panda's velocity drives
# (`configure_panda`), the TCP as end effector, and the actions scaled to the joints' velocity limits. You write:
#
# - `compute_observations`: fill `self.obs_buf` (`(num_envs, 17)`) in the order of the table above, from
#   `self.get_joint_positions()`, `self.get_joint_velocities()` (both `(num_envs, 7)`),
#   `self.get_end_effector_position()` (`(num_envs, 3)`) and `self.targets` (`(num_envs, 3)`);
# - `compute_reward`: fill `self.rew_buf` (`(num_envs,)`) with the chapter's three terms (the actions of this step
#   are in `self.actions`, `(num_envs, 7)`), and set `self.reset_buf` to 1 where the TCP is within 5 cm
#   (`VecEnvBase.step` zeroes `reset_buf` before calling it, and adds time-outs itself);
# - `reset_idx(env_ids)`: for the environments `env_ids` only, new joint positions (the home pose plus uniform noise
#   of ±`reset_noise` rad, clamped to `self.robot.lower` / `self.robot.upper`) with `self.set_joint_positions`, new
#   targets uniform in the box, and zero `progress_buf` and `reset_buf`. Draw random numbers with
#   `generator=self.rng, device=self.device`.
#
# Everything is a batch: no loop over environments, no `.item()`.

# %% id=reach_task solution
class FrankaReachTask(VecEnvBase):
    """Exercise 3: bring the Panda's TCP within 5 cm of a random target."""

    success_radius = 0.05  # m
    success_bonus = 10.0  # reward on the success step
    action_penalty = 0.01  # weight of |action|
    target_low = (0.3, -0.3, 0.2)  # m, the chapter's target box
    target_high = (0.9, 0.3, 0.8)
    reset_noise = 0.15  # rad, half-width of the uniform noise around the home pose

    def __init__(self, cfg, sim_device="cpu", graphics_device_id=0, headless=True):
        self.num_obs = 17  # joint positions (7), joint velocities (7), target - TCP (3)
        self.num_actions = 7  # joint velocity commands
        super().__init__(cfg, sim_device, graphics_device_id, headless)
        self.targets = torch.zeros((self.num_envs, 3), device=self.device)
        self.home = torch.tensor(PANDA_HOME, device=self.device)
        self.low = torch.tensor(self.target_low, device=self.device)
        self.high = torch.tensor(self.target_high, device=self.device)

    def create_sim(self):
        self.add_robot("franka_panda.urdf")  # one Panda per environment, all at once
        configure_panda(self.robot, FrankaReachCfg())  # velocity drives, armature, gravity compensation
        self.ee_link = "panda_hand_tcp"  # get_end_effector_position() returns this frame's origin

    def pre_physics_step(self, actions):
        self.robot.vel_target.copy_(actions.clamp(-1.0, 1.0) * self.robot.velocity_limit)

    def compute_observations(self):
        ### BEGIN SOLUTION
        joint_pos = self.get_joint_positions()
        joint_vel = self.get_joint_velocities()
        target_rel = self.targets - self.get_end_effector_position()
        self.obs_buf[:] = torch.cat((joint_pos, joint_vel, target_rel), dim=-1)
        ### END SOLUTION
        return self.obs_buf

    def compute_reward(self):
        ### BEGIN SOLUTION
        distance = torch.linalg.vector_norm(self.targets - self.get_end_effector_position(), dim=-1)
        success = distance < self.success_radius
        self.rew_buf[:] = (-distance - self.action_penalty * torch.linalg.vector_norm(self.actions, dim=-1)
                           + self.success_bonus * success.float())
        self.reset_buf[:] = success.long()
        ### END SOLUTION
        # (given) every episode that ends in compute_reward ended by reaching the target
        self.success_buf[:] = self.reset_buf.bool()
        return self.rew_buf

    def reset_idx(self, env_ids):
        ### BEGIN SOLUTION
        n = len(env_ids)
        noise = (2 * torch.rand(n, 7, generator=self.rng, device=self.device) - 1) * self.reset_noise
        q = torch.maximum(torch.minimum(self.home + noise, self.robot.upper), self.robot.lower)
        self.set_joint_positions(env_ids, q)  # also zeroes their velocities
        u = torch.rand(n, 3, generator=self.rng, device=self.device)
        self.targets[env_ids] = self.low + u * (self.high - self.low)
        self.progress_buf[env_ids] = 0
        self.reset_buf[env_ids] = 0
        ### END SOLUTION

# %% [markdown]
# Try it: 4 environments, 60 steps (one second) of random commands, then a look at them in 3D. The dashed sphere is
# the 5 cm success ball around each target.

# %%
from course_lib.viz import animate_rollout, record_rollout, to_html
from IPython.display import HTML

env = FrankaReachTask({"num_envs": 4, "seed": 0})
obs = env.reset()
for _ in range(60):
    obs, rew, resets, extras = env.step(2 * torch.rand(4, 7) - 1)
print("observation of env 0:", [round(v, 3) for v in obs[0].tolist()])
print("rewards:", rew, "\nresets:", resets)
random_policy = lambda obs: 2 * torch.rand(len(obs), 7) - 1  # noqa: E731
random_rollout = record_rollout(env, random_policy, steps=60, envs=(0, 1, 2, 3))
HTML(to_html(animate_rollout(random_rollout, layout="overlay", max_frames=30)))

# %% id=test_observations tests points=2
# Test: observations are (joint positions, joint velocities, target - TCP), on 300 seeded states
from course_lib.grading import check
check("ch03.observations", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch03.observations", globals(), seed=53117, n=2000, edges=True, hidden=True)
### END HIDDEN TESTS

# %% id=test_reward tests points=2
# Test: outside the 5 cm ball the reward is -distance - 0.01 |action|
from course_lib.grading import check
check("ch03.reward", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch03.reward", globals(), seed=53118, n=2000, edges=True, hidden=True)
### END HIDDEN TESTS

# %% id=test_success tests points=2
# Test: within 5 cm the reward adds +10 and the episode ends (reset_buf = 1), and only there
from course_lib.grading import check
check("ch03.success", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch03.success", globals(), seed=53119, n=2000, edges=True, hidden=True)
### END HIDDEN TESTS

# %% id=test_reset_joints tests points=2
# Test: reset_idx draws random joint positions inside the Panda's limits, for env_ids only
from course_lib.grading import check
check("ch03.reset_joints", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch03.reset_joints", globals(), seed=53120, n=2048, k=1500, hidden=True)
check("ch03.reset_joints", globals(), seed=53121, n=5, k=1, hidden=True)
check("ch03.reset_joints", globals(), seed=53122, n=64, k=0, hidden=True)
### END HIDDEN TESTS

# %% id=test_reset_targets tests points=2
# Test: reset_idx draws targets uniformly in the chapter's box, for env_ids only
from course_lib.grading import check
check("ch03.reset_targets", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch03.reset_targets", globals(), seed=53123, n=2048, k=1500, hidden=True)
check("ch03.reset_targets", globals(), seed=53124, n=5, k=1, hidden=True)
### END HIDDEN TESTS

# %% id=test_reset_counters tests points=1
# Test: reset_idx zeroes progress_buf and reset_buf of env_ids only
from course_lib.grading import check
check("ch03.reset_counters", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch03.reset_counters", globals(), seed=53125, n=2048, k=1000, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Train it with PPO
#
# `course_lib.train` runs rl-games' PPO on your class with the chapter's `configs/franka_reach.yaml` (Step 2): 4096
# environments, horizon 16, minibatch 32768, the [256, 128, 64] ELU network. On a GPU the notebook keeps the file's
# 4096 environments and runs at most the exercise's 500 iterations; on a CPU, 512 environments and at most 300 (the
# run prints what it changed and why). Watch the success rate: it stays low for a while and then jumps within a few
# iterations, when the policy finds the way to the target; when that happens varies from seed to seed
# (benchmarks/RESULTS.md has 20 seeds). Once it has held, more iterations change little, so training stops early
# (`stop_at_success`): when 95% of the episodes that ended in the last 32 iterations were successes. 32 iterations of
# 16 steps are one episode's time limit, so an episode that fails has had time to be counted too. The run prints when
# it stopped, and how long it took on this machine.
#
# The curves below update while it trains: the mean episode reward, the success rate of the episodes that ended, and
# the frames (environment steps) per second. The success rate is counted from the first iteration in which an episode
# can reach the time limit (the run and the plot's title say which): before it, only the episodes that reach their
# target can end, and their rate would read 100% whatever the policy.

# %%
from course_lib.grading import export_policy
from course_lib.rl.config import default_config_path
from course_lib.viz import LivePlot

NUM_ENVS = 4096 if device == "cuda" else 512
ITERATIONS = 500 if device == "cuda" else 300  # the most it trains
STOP_AT_SUCCESS = 0.95  # ... it stops once this share of the last 32 iterations' episodes were successes
live = LivePlot(keys=("mean_reward", "success_rate", "fps"))
result = course_lib.train(FrankaReachTask, config=default_config_path("franka_reach"), num_envs=NUM_ENVS,
                          iterations=ITERATIONS, device=device, seed=0, name="ch03_reach", callback=live,
                          stop_at_success=STOP_AT_SUCCESS)
live.show()
policy_path = export_policy(result, "runs/reach_policy.pth")

# %% [markdown]
# The run directory has everything: the resolved configs, the checkpoints under `nn/`, TensorBoard summaries and
# `metrics.csv`. The training curves again, from the file: the episodes get shorter as the arm learns to go straight
# to its target. (The reference task also logs each reward term, `reward/<name>`: `course_lib.train("franka_reach")`
# and look at its `metrics.csv`.)

# %%
from course_lib.viz import plot_training_curves

axes = plot_training_curves(result.run_dir, keys=("mean_reward", "success_rate", "episode_length"))
axes[0].figure

# %% [markdown]
# ## How well does it reach? The chapter's numbers, measured
#
# The grade uses the reference task, not yours: the same physics with the reference observation, reward and resets,
# on 1000 fixed episodes (the same ones for everybody). A policy that learned from a wrong observation fails here
# even if it looked fine in training.
#
# The chapter expects "success rate > 80%, mean reward > -0.2". Which mean reward? Its training printout shows
# `Mean Reward: -0.45` at 12% success: that is the reward **per control step**, averaged over every step of every
# episode (sum of rewards / sum of steps). rl-games' own "mean reward", the one in the training line above, is the mean
# **episode return** (the sum over an episode), a different scale. Both are printed below, measured on your policy.

# %%
from course_lib.grading import evaluate_on_reference

evaluation = evaluate_on_reference("runs/reach_policy.pth", task="franka_reach", episodes=1000, seed=0)
print(evaluation)
lo, hi = evaluation.ci95
print(f"\n{'':28}{'chapter':>12}{'this run':>22}")
print(f"{'success rate':28}{'> 80%':>12}{100 * evaluation.success_rate:>12.1f}% ({100 * lo:.1f}-{100 * hi:.1f})")
print(f"{'mean reward per step':28}{'> -0.2':>12}{evaluation.mean_step_reward:>22.3f}")
print(f"{'mean episode return':28}{'-':>12}{evaluation.mean_reward:>22.2f}")
print(f"{'mean episode length':28}{'-':>12}{evaluation.mean_length:>16.1f} steps")
failed = [r / n for r, n, s in zip(evaluation.rewards, evaluation.lengths, evaluation.successes) if not s]
if failed:
    print(f"\nThe {len(failed)} failed episodes average {sum(failed) / len(failed):.3f} per step: an arm hovering "
          f"near its target. Per step, 500 steps of that weigh far more than a quick success.")

# %% [markdown]
# ## Watch it reach
#
# Four environments of the reference task driven by your policy: the TCP path, the target, and the 5 cm ball (green
# once reached). When an episode ends, that environment starts a new one with a new target.

# %%
policy = course_lib.load_policy("runs/reach_policy.pth")
reference = course_lib.make("franka_reach", num_envs=4, device="cpu", seed=1)
rollout = record_rollout(reference, policy, steps=120, envs=(0, 1, 2, 3), reset=True)
HTML(to_html(animate_rollout(rollout, layout="side", max_frames=60)))

# %% [markdown]
# ## Where does it fail?
#
# The 1000 evaluation targets, green where the policy reached them and red where it did not, from above and from the
# side. The dashed circle is the largest section of the sphere the TCP can reach at all (the arm's reach around its
# shoulder); hollow markers are targets beyond it, which no policy can reach.

# %%
from course_lib.viz import plot_success_map

axes = plot_success_map(evaluation.targets, evaluation.successes)
axes[0].figure

# %% [markdown]
# ## Play with it
#
# Pick a target with the sliders, press **Go**, and watch your policy take the arm there (the whole batch steps; one
# environment is drawn). Try targets outside the training box: near the base, behind it, very high. Where does the
# policy still work, and where does it not?

# %%
from course_lib.viz import reward_weights_panel, target_panel

play_env = course_lib.make("franka_reach", num_envs=1, device="cpu", seed=2)
play_env.reset()
panel = target_panel(play_env, policy, steps=120)
panel

# %% [markdown]
# And the reward: the panel below recomputes the reward of the rollout you just watched with other weights. Move the
# success bonus to 0 and watch the return of a successful episode fall below that of a failed one that hovers near its
# target: that is why the bonus is there.

# %%
weights_panel = reward_weights_panel(rollout)
weights_panel

# %% id=test_policy tests points=5
# Test: the trained policy reaches the target in >= 80% of 1000 episodes of the reference task
from course_lib.grading import check
check("ch03.policy", globals(), checkpoint="runs/reach_policy.pth", episodes=1000, seed=0, min_success=0.8)
### BEGIN HIDDEN TESTS
check("ch03.policy", globals(), checkpoint="runs/reach_policy.pth", episodes=1000, seed=9131, min_success=0.8,
      hidden=True)
### END HIDDEN TESTS

# %% id=test_policy_reward tests points=2
# Test: the trained policy's mean reward per control step on those episodes is above -0.2
from course_lib.grading import check
check("ch03.policy_reward", globals(), checkpoint="runs/reach_policy.pth", episodes=1000, seed=0,
      min_step_reward=-0.2)

# %% [markdown]
# ## Something to try
#
# - **A smaller success radius.** Set `success_radius = 0.02` in your class and retrain. The episodes get longer and
#   the success rate on the reference (still 5 cm) goes up or down? Measure it.
# - **An orientation term.** Add $-0.1\,(1 - \lvert z_\text{TCP} \cdot (0, 0, -1)\rvert)$ to the reward so that the
#   gripper points down (`self._fk()` returns every link's rotation; the TCP is `self.robot.link_index("panda_hand_tcp")`).
#   Does the success rate pay for it?
# - **Fewer environments.** Train with `NUM_ENVS = 64` for the same number of environment steps (8x the iterations).
#   PPO sees the same amount of data: why is it slower per step, and does it learn as well?
# - **The listing's reset.** Put `torch.rand((len(env_ids), 7)) * 0.5` back into `reset_idx` and read the warning.
# - **All iterations, or all episodes in step.** Train with `stop_at_success=None` (all 300 iterations): how much do
#   the success rate and the mean reward per step still gain after the stop? Then pass a copy of the config file with
#   `ppo: random_episode_start: false`, so that every first episode starts at step 0: try a few seeds and count the
#   iterations until the run stops.
# - On a GPU: `NUM_ENVS = 16384`. How many iterations does it need now, and how many seconds?
