# %% [markdown]
# # Chapter 1 · Setup and GPU-parallel basics (Exercise 1)
#
# Isaac Gym's idea in one sentence: simulate thousands of robots as **one batch of tensors**, so that a step of
# all of them costs about as much as a step of one. In this notebook you
#
# 1. check that your environment is ready (versions, device, GPU or "CPU only"),
# 2. step thousands of environments at once with the tensor API,
# 3. write three small pieces with tensors: a batched reward, a batched reset and a throughput measurement,
# 4. measure how the simulator scales with the number of environments, on your CPU and (if you have one) your GPU,
#    and compare the speed-up **you measure** with the chapter's "10-100x".
#
# **Grading.** Cells that say `YOUR CODE HERE` are yours: replace `raise NotImplementedError()` with your code. Test
# cells (read-only, they start with `# Test:`) check one behaviour each; some have hidden cases too. Check your work
# with `course check ch01_setup/ch01_setup.ipynb` in a JupyterLab terminal (File > New > Terminal: it opens in the
# notebooks folder): it shows each cell as it runs, then the points of each test and your total. The **Validate** button
# runs the same notebook without a sign of progress, and says only "Success!" or which tests failed. The grader runs
# the imports cell and your solution cells *on their own* in a fresh Python process, so keep everything your functions
# need inside those cells.

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
import time

import torch

import course_lib

# %% [markdown]
# ## 1. Thousands of environments, one tensor
#
# `course_lib.make` builds a task with `num_envs` copies of a robot. Every buffer has the environments on its first
# axis: observations `(num_envs, num_obs)`, rewards `(num_envs,)`, resets `(num_envs,)`. One call to `step` advances all
# of them; there is no loop over environments anywhere, which is what lets a GPU run them in parallel.

# %%
env = course_lib.make("franka_reach", num_envs=4096, device=device, seed=0)
obs = env.reset()
actions = 2 * torch.rand(env.num_envs, env.num_actions, device=device) - 1  # joint velocity commands in [-1, 1]
obs, rewards, resets, extras = env.step(actions)
print(env)
print("observations", tuple(obs.shape), "rewards", tuple(rewards.shape), "resets", tuple(resets.shape))
print("end effectors of the first 3 environments (m):\n", env.get_end_effector_position()[:3])

# %% [markdown]
# ## Exercise 1a · A batched reward
#
# The chapter's reach reward, for every environment at once:
#
# $$r = -\lVert p_\text{target} - p_\text{ee} \rVert - 0.01\,\lVert a \rVert + 10\,[\lVert p_\text{target} - p_\text{ee}
# \rVert < 0.05]$$
#
# Write it with tensor operations only (no Python loop, no `.item()`): `torch.linalg.vector_norm(..., dim=-1)` reduces
# the last axis, and a boolean tensor becomes 0/1 with `.float()`.

# %% id=reach_reward solution
def reach_reward(ee_pos, targets, actions):
    """The chapter's reach reward for N environments.

    ee_pos, targets: (N, 3) positions in m; actions: (N, 7) in [-1, 1].
    Returns a tensor of shape (N,): -distance - 0.01 |action| + 10 where distance < 0.05 m.
    """
    ### BEGIN SOLUTION
    distance = torch.linalg.vector_norm(targets - ee_pos, dim=-1)
    reward = -distance - 0.01 * torch.linalg.vector_norm(actions, dim=-1)
    return reward + 10.0 * (distance < 0.05).float()
    ### END SOLUTION

# %%
# Try it on the task above: the target of each environment is in env.targets.
r = reach_reward(env.get_end_effector_position(), env.targets, actions)
print(r.shape, r[:5])

# %% id=test_reach_reward tests points=2
# Test: reach_reward equals the chapter's reward on 1024 seeded environments (hidden: 20000, and a single one)
from course_lib.grading import check
check("ch01.reach_reward", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch01.reach_reward", globals(), seed=61237, n=20000, hidden=True)
check("ch01.reach_reward", globals(), seed=61238, n=1, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 1b · A batched reset of selected environments
#
# After a step, some environments are done (`done` is a boolean mask). Isaac Gym resets *only those*, in place, with
# no loop: index the buffers with the mask. Draw the new joint positions uniformly in `[low, high)` per joint, from
# the `generator` you are given (so that a seed reproduces the run), and zero the episode counters of those
# environments. Leave every other environment exactly as it was.

# %% id=reset_done solution
def reset_done(q, progress, done, low, high, generator):
    """Reset, in place, the environments where ``done`` is True.

    q: (N, D) joint positions; progress: (N,) long step counters; done: (N,) bool;
    low, high: (D,) bounds; generator: a torch.Generator to draw from.
    """
    ### BEGIN SOLUTION
    n = int(done.sum())
    q[done] = low + (high - low) * torch.rand(n, q.shape[1], generator=generator, device=q.device)
    progress[done] = 0
    ### END SOLUTION

# %%
q = torch.zeros(6, 2)
progress = torch.tensor([5, 9, 400, 17, 3, 250])
done = torch.tensor([False, True, True, False, False, True])
reset_done(q, progress, done, torch.tensor([-0.1, -1.0]), torch.tensor([0.1, 1.0]), torch.Generator().manual_seed(0))
print(q, progress, sep="\n")

# %% id=test_reset_done_state tests points=2
# Test: reset_done redraws exactly the done rows of q, uniformly in [low, high), from the generator
from course_lib.grading import check
check("ch01.reset_done_state", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch01.reset_done_state", globals(), seed=70411, n=50000, dofs=9, frac=0.05, hidden=True)
check("ch01.reset_done_state", globals(), seed=70412, n=64, dofs=1, frac=0.0, hidden=True)
check("ch01.reset_done_state", globals(), seed=70413, n=3000, dofs=7, frac=1.0, hidden=True)
### END HIDDEN TESTS

# %% id=test_reset_done_progress tests points=1
# Test: reset_done zeroes the progress counters of the done environments, and only those
from course_lib.grading import check
check("ch01.reset_done_progress", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch01.reset_done_progress", globals(), seed=70414, n=20000, frac=0.5, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 1c · Measuring environment steps per second
#
# Throughput is *environment steps per second*: `num_envs` environments advanced by one step count as `num_envs`
# steps. Measure it honestly:
#
# - step once **before** starting the clock (the first step pays for lazy set-up: allocations, caches, compilation),
# - then time `num_steps` steps with `clock()` (it is `time.perf_counter` unless a test gives you another clock),
# - on a GPU, work is queued asynchronously: call `torch.cuda.synchronize()` before reading the clock each time,
# - use actions of shape `(env.num_envs, env.num_actions)` on `env.device` (zeros are fine).

# %% id=steps_per_second solution
def steps_per_second(env, num_steps, clock=time.perf_counter):
    """Environment steps per second of ``env.step``, over ``num_steps`` timed steps after one warm-up step."""
    ### BEGIN SOLUTION
    actions = torch.zeros(env.num_envs, env.num_actions, device=env.device)
    cuda = torch.device(env.device).type == "cuda"
    env.step(actions)  # warm-up, outside the clock
    if cuda:
        torch.cuda.synchronize(env.device)
    start = clock()
    for _ in range(num_steps):
        env.step(actions)
    if cuda:
        torch.cuda.synchronize(env.device)
    return env.num_envs * num_steps / (clock() - start)
    ### END SOLUTION

# %% id=test_steps_per_second tests points=2
# Test: steps_per_second counts num_envs x timed steps over the elapsed time, after one untimed warm-up step
from course_lib.grading import check
check("ch01.steps_per_second", globals())
### BEGIN HIDDEN TESTS
check("ch01.steps_per_second", globals(), num_envs=3, num_steps=7, step_s=0.5, num_actions=1, hidden=True)
check("ch01.steps_per_second", globals(), num_envs=131072, num_steps=25, step_s=0.031, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. How throughput scales with the number of environments
#
# Now measure the real simulator with your `steps_per_second`: the Franka reach task with 1 to 16384 environments on
# the CPU, and up to 262144 on the GPU if there is one. A step of one environment is dominated by fixed costs
# (Python, kernel launches); a batch spreads them over all its environments until the hardware is saturated.

# %%
sizes = {"cpu": [1, 4, 16, 64, 256, 1024, 4096, 16384]}
if torch.cuda.is_available():
    sizes["cuda"] = [1, 16, 256, 4096, 16384, 65536, 262144]
print(f"torch uses {torch.get_num_threads()} CPU thread(s) (set by the first cell)")
rates = {}
for dev, ns in sizes.items():
    for n in ns:
        env = course_lib.make("franka_reach", num_envs=n, device=dev, seed=0)
        rates[dev, n] = steps_per_second(env, num_steps=20 if n <= 4096 else 10)
        print(f"{dev:>4}  {n:>7} environments  {rates[dev, n]:>12,.0f} env-steps/s", flush=True)
    del env

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
for dev, ns in sizes.items():
    ax.loglog(ns, [rates[dev, n] for n in ns], "o-", label=dev)
ax.set_xlabel("number of environments")
ax.set_ylabel("environment steps per second")
ax.set_title("Franka reach: throughput against batch size")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# ## 3. The speed-up you measured, next to the chapter's claim
#
# The chapter says GPU-parallel simulation trains "10-100x" faster than CPU-based approaches. Two ratios you can
# measure here: a batch against **one environment at a time** (how a classic CPU simulator steps), and, with a GPU,
# the GPU's best against the CPU's best.

# %%
best = {dev: max(rates[dev, n] for n in ns) for dev, ns in sizes.items()}
one_at_a_time = rates["cpu", 1]
print(f"CPU, best batch against one environment at a time: {best['cpu'] / one_at_a_time:,.0f}x "
      f"({best['cpu']:,.0f} against {one_at_a_time:,.0f} env-steps/s)")
if "cuda" in best:
    print(f"GPU best against CPU best: {best['cuda'] / best['cpu']:,.1f}x "
          f"({best['cuda']:,.0f} against {best['cpu']:,.0f} env-steps/s)")
else:
    print("GPU against CPU: not measured (no CUDA GPU here)")
print("The chapter's claim: 10-100x. (Simulation speed is not training speed: PPO's updates cost time too.)")

# %% [markdown]
# ## Something to try
#
# - After chapter 2, run the scaling cell with your own cart-pole (`CartpoleTask({"num_envs": n, "seed": 0})` in place
#   of `course_lib.make(...)`): a simpler robot saturates the hardware later. Why?
# - Time one step of 4096 environments with `torch.set_num_threads(1)` and with all your cores.
# - Remove the warm-up step from `steps_per_second` and measure 1 environment on a GPU: what changes?
# - Write `reset_done` with `done.nonzero()` instead of a mask. Which one keeps the step free of host syncs on a GPU?
