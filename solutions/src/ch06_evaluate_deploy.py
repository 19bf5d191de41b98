# %% [markdown]
# # Chapter 6 · Evaluate, export and deploy (MuJoCo standing in for the real robot)
#
# The chapter's last two learning objectives: *evaluate and visualize trained policies* and *deploy policies from
# simulation to real robots*. No one here has a Panda, so the policy goes to the next best thing: the same robot (the
# same URDF) simulated by a different physics engine written by other people, MuJoCo, with its own integrator,
# actuators and timing. The difference between the two simulators is the sim-to-real gap in miniature, and the
# randomization of chapter 5 should shrink it. In this notebook you
#
# 1. train two reach policies (or reuse them on a re-run): *nominal*, and *randomized* with chapter 5's reference
#    `TRAIN_RANDOMIZATION`;
# 2. measure their success with a confidence interval, and look at where and how slowly they fail;
# 3. export them to ONNX and TorchScript, and show that the ONNX file runs without `course_lib` at all;
# 4. write the control node's observation, deploy both to MuJoCo, and widen the gap on purpose;
# 5. watch the same episode in both simulators, time the policy's inference, and read what a real deployment adds.
#
# | you write | what it does |
# |---|---|
# | `wilson_interval(successes, n, z=1.96)` | the Wilson score interval `(lo, hi)` of a success rate `successes / n` |
# | `export_policy(checkpoint, out_dir)` | the trained policy, normalisation included, as `out_dir/policy.onnx` and `out_dir/policy.pt`; returns `{"onnx": path, "torchscript": path}` |
# | `mujoco_observation(q, qd, tcp, target)` | the task's 17 observations from MuJoCo's readings: float32 `(N, 17)`, `[q, qd, target - tcp]` |
#
# **Grading.** Write your code where it says `YOUR CODE HERE`. Your `wilson_interval` is compared with the reference
# (edge cases 0/n, n/n and n = 1, and hidden ones); your `export_policy` is run on a checkpoint the grader writes, and
# its files must give that policy's actions to 1e-5 (and the ONNX file must run in a Python without `course_lib`); your
# `mujoco_observation` is compared with the task's observation on seeded batches. The last tests deploy the randomized
# policy you exported (`runs/ch06_export/policy.onnx`) to MuJoCo in a separate process, on 1000 fixed episodes, with the
# *reference* observation: it must reach the target often enough, also with its commands 3 control steps late. Check
# your work with `course check ch06_evaluate_deploy/ch06_evaluate_deploy.ipynb` in a JupyterLab terminal (File > New >
# Terminal: it opens in the notebooks folder): it shows each cell as it runs, then the points of each test and your
# total. The **Validate** button runs the same notebook, training included, without a sign of progress, and says only
# "Success!" or which tests failed. The grader runs the imports cell and your solution cells *on their own* in a fresh
# Python process: keep everything they need inside them.

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
import os

import numpy as np
import torch

import course_lib
from course_lib.rl.export import export_onnx, export_torchscript

# %% [markdown]
# ## Two policies to deploy
#
# Both are trained with chapter 5's budget: on a CPU 512 environments and at most 300 iterations, on a CUDA GPU 4096
# environments and at most the chapter's 500; each stops once 95% of the episodes that ended in the last 32
# iterations were successes (`stop_at_success`, as in chapters 3 and 5). The *randomized* one trains with
# chapter 5's reference `TRAIN_RANDOMIZATION` (`EXERCISE5_TRAIN_RANDOMIZATION`: masses ×0.6-1.4, joint friction and
# damping, the chapter's sensor noise, action noise, 0-1 steps of latency). If `runs/` already holds a finished run
# trained exactly this way, it is reused (a re-run of this notebook does not wait again); the cell says which.

# %%
NUM_ENVS = 4096 if device == "cuda" else 512
ITERATIONS = 500 if device == "cuda" else 300  # the most each training runs
STOP_AT_SUCCESS = 0.95  # ... it stops once this share of the last 32 iterations' episodes were successes
EPISODES = 1000  # fixed episodes per evaluation (seed 0): the same initial poses and targets everywhere

# %%
from course_lib.envs.randomization import EXERCISE5_TRAIN_RANDOMIZATION
from course_lib.rl.reuse import train_or_reuse

nominal_run = train_or_reuse("franka_reach", "ch06_nominal", num_envs=NUM_ENVS, iterations=ITERATIONS,
                             device=device, seed=0, stop_at_success=STOP_AT_SUCCESS)

# %%
randomized_run = train_or_reuse("franka_reach", "ch06_randomized", num_envs=NUM_ENVS, iterations=ITERATIONS,
                                device=device, seed=0, randomize=True,
                                randomization_params=EXERCISE5_TRAIN_RANDOMIZATION, stop_at_success=STOP_AT_SUCCESS)
print("nominal:", nominal_run.checkpoint, "| randomized:", randomized_run.checkpoint)

# %% [markdown]
# ## How sure is a success rate? The Wilson interval
#
# A policy that reached the target in 998 of 1000 episodes has a *measured* success rate of 99.8 %. Its true rate,
# the one infinitely many episodes would give, is somewhere near that; a 95 % confidence interval says where. The
# textbook interval $\hat p \pm z \sqrt{\hat p(1-\hat p)/n}$ (the *normal approximation*) fails exactly where trained
# policies live: at 1000 of 1000 it has width zero, as if one could be certain after a finite test. Wilson's score
# interval does not:
#
# $$\text{centre} = \frac{\hat p + \frac{z^2}{2n}}{1 + \frac{z^2}{n}}, \qquad
# \text{half-width} = \frac{z}{1 + \frac{z^2}{n}} \sqrt{\frac{\hat p (1 - \hat p)}{n} + \frac{z^2}{4 n^2}},$$
#
# with $\hat p$ = successes / n and $z = 1.96$ for 95 %. Write `wilson_interval(successes, n, z=1.96)` returning
# `(centre - half-width, centre + half-width)` clipped to [0, 1], for 0 <= successes <= n, n >= 1.

# %% id=wilson solution
def wilson_interval(successes, n, z=1.96):
    """The Wilson score interval (lo, hi) of the success rate successes / n (z = 1.96: 95 %)."""
    ### BEGIN SOLUTION
    import math

    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
    ### END SOLUTION

# %%
# Try it: Wilson beside the normal approximation, on rates like those of trained policies
import math

print(f"{'successes':>12}   Wilson 95%          normal approximation")
for s, n in ((1000, 1000), (998, 1000), (950, 1000), (0, 20), (19, 20)):
    lo, hi = wilson_interval(s, n)
    p = s / n
    h = 1.96 * math.sqrt(p * (1 - p) / n)
    print(f"{s:>6}/{n:<5}   {100 * lo:6.2f}-{100 * hi:6.2f}%     {100 * max(0, p - h):6.2f}-{100 * min(1, p + h):6.2f}%")

# %% id=test_wilson tests points=2
# Test: wilson_interval gives the Wilson score interval (0/n, n/n and n = 1 included)
from course_lib.grading import check
check("ch06.wilson", globals())
### BEGIN HIDDEN TESTS
check("ch06.wilson", globals(), hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Both policies on 1000 fixed episodes of the course's simulator
#
# `course_lib.evaluate` runs the policy deterministically (the Gaussian's mean, no exploration noise) on `EPISODES`
# episodes whose initial poses and targets are fixed by the seed, the same for both policies (and, below, for MuJoCo).

# %%
from course_lib.deploy import time_to_reach

sim_results = {}
for kind, run in (("nominal", nominal_run), ("randomized", randomized_run)):
    r = course_lib.evaluate("franka_reach", run.checkpoint, episodes=EPISODES, seed=0)
    sim_results[kind] = r
    s = sum(r.successes)
    lo, hi = wilson_interval(s, EPISODES)
    median_t = time_to_reach(r.lengths, r.successes, 1 / 60)[0]
    print(f"{kind:>10}: {s}/{EPISODES} episodes reached the target: {100 * s / EPISODES:.1f}% "
          f"(95% CI {100 * lo:.1f}-{100 * hi:.1f}%), median time to reach {median_t:.2f} s")
print("\nWhat the interval means: intervals made this way from 1000 episodes contain the policy's true success rate "
      "in 95% of such tests;\nthe measured rate alone says nothing about how far the true one may be.")

# %% [markdown]
# ## Where does it fail, and how long does it take?
#
# A success rate hides *which* episodes fail. Every evaluation returns the target of each episode (`r.targets`, m, in
# the robot's base frame) and its length (`r.lengths`, control steps of 1/60 s). Below: the targets seen from above
# and by their distance from the robot's base, failures marked; then how long the episodes took.

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for kind, marker, color in (("nominal", "x", "C3"), ("randomized", "+", "C1")):
    r = sim_results[kind]
    t = np.array(r.targets)
    failed = ~np.array(r.successes)
    dist = np.linalg.norm(t, axis=1)
    if kind == "nominal":
        axes[0].scatter(t[:, 0], t[:, 1], s=4, c="0.75", label="all targets")
        axes[1].hist(dist, bins=30, color="0.8", label="all targets")
    axes[0].scatter(t[failed, 0], t[failed, 1], s=40, marker=marker, c=color, label=f"failed ({kind})")
    axes[1].hist(dist[failed], bins=np.linspace(dist.min(), dist.max(), 31), histtype="step", lw=2, color=color,
                 label=f"failed ({kind})")
    lengths = np.array(r.lengths)[~failed] / 60
    axes[2].hist(lengths, bins=40, histtype="step", lw=2, color=color, label=f"{kind}: successful episodes")
    print(f"{kind:>10}: {int(failed.sum())} failed episode(s); distance from the base of their targets: "
          f"{np.round(dist[failed], 2).tolist()} m (all targets: {dist.min():.2f}-{dist.max():.2f} m); "
          f"time to reach: median {np.median(lengths):.2f} s, 90th percentile {np.percentile(lengths, 90):.2f} s, "
          f"longest {lengths.max():.2f} s")
axes[0].set(xlabel="target x (m)", ylabel="target y (m)", title="targets from above", aspect="equal")
axes[1].set(xlabel="distance from the base (m)", ylabel="episodes", title="targets by reach", yscale="log")
axes[2].set(xlabel="time to reach (s)", ylabel="episodes", title="episode lengths")
for ax in axes:
    ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# With few failures there is little to map; that itself is the measurement. Section "Deployment" below produces
# conditions where failures are common, and the same plots (`r.targets`, `r.successes`) work on them.
#
# ## Export: the policy as a file a robot can run
#
# A trained policy is an rl-games checkpoint: a dict of tensors that only `course_lib` (or rl-games) can turn back
# into a network. A robot's control computer should not need either. `course_lib.rl.export` writes the policy's whole
# forward pass (normalise the observation with the running mean and variance saved in the checkpoint, clamp to ±5,
# run the MLP, take the action mean, clip to [-1, 1]) as one graph:
#
# - **ONNX**, run by onnxruntime (C, C++, Python, C#, Java; a ROS 2 node in C++ can link it);
# - **TorchScript**, run by `torch.jit.load` or libtorch in C++.
#
# Write `export_policy(checkpoint, out_dir)`: load the policy (`course_lib.load_policy(checkpoint,
# task="franka_reach")`), write it with `export_onnx(policy, path)` and `export_torchscript(policy, path)` as
# `out_dir/policy.onnx` and `out_dir/policy.pt` (create `out_dir` if it does not exist), and return
# `{"onnx": onnx_path, "torchscript": torchscript_path}`. The normalisation is part of the policy: a file without it
# would feed the network raw observations it never saw in training.

# %% id=export solution
def export_policy(checkpoint, out_dir):
    """Export the checkpoint's policy to out_dir/policy.onnx and out_dir/policy.pt; return both paths."""
    ### BEGIN SOLUTION
    os.makedirs(out_dir, exist_ok=True)
    policy = course_lib.load_policy(checkpoint, task="franka_reach")
    return {"onnx": export_onnx(policy, os.path.join(out_dir, "policy.onnx")),
            "torchscript": export_torchscript(policy, os.path.join(out_dir, "policy.pt"))}
    ### END SOLUTION

# %% id=test_export_match tests points=3
# Test: export_policy's ONNX and TorchScript files give the checkpoint's actions (normalisation included) to 1e-5
from course_lib.grading import check
check("ch06.export_match", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch06.export_match", globals(), seed=6002, hidden=True)
### END HIDDEN TESTS

# %% id=test_export_standalone tests points=1
# Test: export_policy's ONNX file runs in a Python without course_lib (python -I -S, numpy and onnxruntime only)
from course_lib.grading import check
check("ch06.export_standalone", globals(), seed=0)

# %% [markdown]
# Export both trained policies. The randomized one goes to `runs/ch06_export/`, where the deployment tests look for
# it. Then the round trip: the exported files against the training-time policy on 4096 random observations (some far
# outside anything seen in training, so the ±5 clamp and the ±1 clip are exercised).

# %%
from course_lib.rl.export import load_exported

exports = {"nominal": export_policy(nominal_run.checkpoint, "runs/ch06_export_nominal"),
           "randomized": export_policy(randomized_run.checkpoint, "runs/ch06_export")}
probe = torch.randn(4096, 17, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0] * 7 + [2.0] * 7 + [0.4] * 3)
probe[:512] *= 20.0
for kind, run in (("nominal", nominal_run), ("randomized", randomized_run)):
    want = course_lib.load_policy(run.checkpoint)(probe).numpy()
    for fmt in ("onnx", "torchscript"):
        got = load_exported(exports[kind][fmt])(probe.numpy())
        print(f"{kind:>10} {fmt:>11}: {exports[kind][fmt]:<34} {os.path.getsize(exports[kind][fmt]) / 1024:6.0f} kB, "
              f"max |action difference| {np.abs(got - want).max():.1e} on {len(probe)} observations")

# %% [markdown]
# Does the ONNX file really need nothing of the course? The cell below writes a small program that refuses to import
# `course_lib`, and runs it with `python -I -S` (no user site, no `PYTHONPATH`, not even the site-packages where
# `course_lib` is installed: only numpy's and onnxruntime's folders are added by hand) in an empty temporary folder.
# It prints what it did; its actions are compared with the policy's here.

# %%
from course_lib.rl.export import run_onnx_standalone

standalone = run_onnx_standalone(exports["randomized"]["onnx"], probe[:256])
print(standalone["command"], "with SCRIPT =\n" + "-" * 60 + "\n" + standalone["script"] + "-" * 60)
print("its output:\n" + standalone["stdout"] + standalone["stderr"])
policy = course_lib.load_policy(randomized_run.checkpoint)
print(f"max |action difference| from the training-time policy: "
      f"{np.abs(standalone['actions'] - policy(probe[:256]).numpy()).max():.1e}")

# %% [markdown]
# ## Deployment: the control node's loop, in MuJoCo
#
# `course_lib.deploy.deploy` is what a robot's control node does, 60 times a second: read the joint encoders (q, qd),
# compute the TCP position by forward kinematics, **form the observation**, query the exported policy, scale its
# actions by the joints' velocity limits and send them as velocity commands. Here the "robot" is MuJoCo's Panda, built
# from the same URDF with velocity actuators that mirror the course's drives; nothing of the course's simulator runs
# in the loop.
#
# You write the observation step. Given numpy float64 arrays of MuJoCo's readings for `N` robots: `q` `(N, 7)` rad,
# `qd` `(N, 7)` rad/s, `tcp` `(N, 3)` m and `target` `(N, 3)` m (both in the robot's base frame), return the task's
# observation as a float32 array `(N, 17)`: `[q, qd, target - tcp]`, exactly the order and sign of
# `FrankaReachTask.compute_observations`, which the policy was trained on. Keep the batch dimension, also for N = 1.
# A wrong order is not an error anywhere: the policy just receives other numbers, and the robot does something else.

# %% id=observation solution
def mujoco_observation(q, qd, tcp, target):
    """MuJoCo's readings (numpy, N robots) -> the reach task's observation, float32 (N, 17)."""
    ### BEGIN SOLUTION
    return np.concatenate((q, qd, target - tcp), axis=-1).astype(np.float32)
    ### END SOLUTION

# %% id=test_observation tests points=3
# Test: mujoco_observation forms the task's observation [q, qd, target - tcp], float32 (N, 17)
from course_lib.grading import check
check("ch06.observation", globals(), seed=0)
### BEGIN HIDDEN TESTS
check("ch06.observation", globals(), seed=6003, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ### The transfer table
#
# Both exported ONNX policies, on the same 1000 episodes as above, in MuJoCo with your `mujoco_observation`: as is, and
# with the gap widened on purpose (`course_lib.deploy.TRANSFER_GAPS`, the conditions of
# `benchmarks/transfer_mujoco.py`): every link twice as heavy (gravity compensation still from the nominal model, as
# with an unmodelled payload), commands applied 3 control steps (50 ms) late, sensor noise five times the chapter's,
# and milder versions of the three together. Success with its Wilson interval, and the median time to reach over the
# successful episodes.

# %%
from course_lib.deploy import TRANSFER_GAPS, deploy, reach_episodes

episode_set = reach_episodes(EPISODES, seed=0)  # the same initial poses and targets as course_lib.evaluate's
transfer = {}
for kind in ("nominal", "randomized"):
    r = sim_results[kind]
    transfer[kind, "course simulator"] = (sum(r.successes), EPISODES, time_to_reach(r.lengths, r.successes, 1 / 60)[0])
    onnx_policy = load_exported(exports[kind]["onnx"])
    for condition, gap in TRANSFER_GAPS.items():
        d = deploy(onnx_policy, EPISODES, seed=0, episode_set=episode_set, observe=mujoco_observation, **gap)
        transfer[kind, condition] = (sum(d.successes), d.episodes, d.median_time_to_reach)
        transfer[kind, condition, "result"] = d
print(f"success % (95% CI), median time to reach; {EPISODES} fixed episodes, seed 0, measured now\n")
print(f"{'condition':<34} {'nominal policy':>28} {'randomized policy':>28}")
for condition in ["course simulator", *TRANSFER_GAPS]:
    cells = []
    for kind in ("nominal", "randomized"):
        s, n, t = transfer[kind, condition]
        lo, hi = wilson_interval(s, n)
        cells.append(f"{100 * s / n:5.1f} ({100 * lo:4.1f}-{100 * hi:5.1f}), {t:.2f} s")
    print(f"{condition:<34} {cells[0]:>28} {cells[1]:>28}")

# %% [markdown]
# What the table says, in sentences computed from it (two rates differ when their 95 % intervals do not overlap):

# %%
def compare(a, b):
    """'higher' / 'lower' / 'no measurable difference' for two (successes, n, t) rows, by their Wilson intervals."""
    (sa, na, _), (sb, nb, _) = a, b
    la, ha = wilson_interval(sa, na)
    lb, hb = wilson_interval(sb, nb)
    return "higher" if la > hb else "lower" if ha < lb else "no measurable difference"


for kind in ("nominal", "randomized"):
    sim, mj = transfer[kind, "course simulator"], transfer[kind, "MuJoCo"]
    verdict = compare(mj, sim)
    print(f"- {kind} policy, MuJoCo vs the course simulator: {100 * mj[0] / mj[1]:.1f}% vs {100 * sim[0] / sim[1]:.1f}% "
          f"-> {verdict if verdict != 'no measurable difference' else 'no measurable gap'}"
          f" (median time to reach {mj[2]:.2f} s vs {sim[2]:.2f} s)")
for condition in TRANSFER_GAPS:
    if condition == "MuJoCo":
        continue
    nom, ran = transfer["nominal", condition], transfer["randomized", condition]
    verdict = compare(ran, nom)
    words = {"higher": "randomization HELPED", "lower": "randomization HURT",
             "no measurable difference": "randomization made no measurable difference"}[verdict]
    print(f"- {condition}: nominal {100 * nom[0] / nom[1]:.1f}%, randomized {100 * ran[0] / ran[1]:.1f}% -> {words}")

# %% [markdown]
# Read the sentences above, not a prediction: they are this run's. Things to notice in them: whether the two engines
# agree when nothing is added (the physics validated against MuJoCo says they should, up to the torque saturation the
# two engines treat differently); which condition the nominal policy does not survive; and whether the randomized
# policy survives it although only one of its training randomizations (0-1 steps of latency, masses ×0.6-1.4) comes
# near it. Masses ×2 lie outside what the randomized policy trained on: randomization promises nothing there, and the
# row says what it did. The failure plots above work on any row, e.g. `transfer["nominal", "delay 3 steps (50 ms)",
# "result"].targets`.
#
# The graded test deploys the randomized file you exported, in a fresh process, with the *reference* observation (so
# a wrong `mujoco_observation` costs its own test only), on nominal MuJoCo and with the 3-step delay.

# %% id=test_deployed tests points=4
# Test: the exported randomized policy reaches the target on the Panda in MuJoCo (1000 fixed episodes, reference observation)
from course_lib.grading import check
check("ch06.deployed", globals())
### BEGIN HIDDEN TESTS
check("ch06.deployed", globals(), seed=6006, hidden=True)
### END HIDDEN TESTS

# %% id=test_deployed_delay tests points=2
# Test: the exported randomized policy reaches the target in MuJoCo with its commands 3 control steps late
from course_lib.grading import check
check("ch06.deployed_delay", globals())

# %% [markdown]
# ## The same episode in both simulators
#
# The randomized policy on the first two of the fixed episodes: in the course's simulator (recorded with
# `record_rollout` on the same seeded batch that `evaluate` used), in MuJoCo, and in MuJoCo with the 3-step delay
# (`deploy(..., record=2)` keeps the joint trajectories). One panel per episode, the three arms overlaid, each caption
# in its arm's colour. Each arm stops where its episode ended.

# %%
from IPython.display import HTML, display

from course_lib.viz import animate_rollout, record_rollout, rollout_from_paths, to_html

SHOW = 2
sim_env = course_lib.make("franka_reach", num_envs=EPISODES, seed=0)
sim_env.seed(0)  # as evaluate seeds batch 0: the same initial poses and targets
recorded = record_rollout(sim_env, policy, steps=150, envs=range(SHOW), reset=True)
mj_runs = {name: deploy(exports["randomized"]["onnx"], SHOW, seed=0, episode_set=(episode_set[0][:SHOW],
                                                                                  episode_set[1][:SHOW]),
                        observe=mujoco_observation, record=SHOW, **TRANSFER_GAPS[condition])
           for name, condition in (("MuJoCo", "MuJoCo"), ("MuJoCo, 50 ms late", "delay 3 steps (50 ms)"))}
for e in range(SHOW):
    ended = np.flatnonzero(recorded.dones[:, e])
    last = int(ended[0]) if ended.size else recorded.num_steps
    paths = [recorded.q[: last + 1, e]] + [mj_runs[name].trajectories[e] for name in mj_runs]
    labels = ["course sim"] + list(mj_runs)
    oks = [sim_results["randomized"].successes[e]] + [mj_runs[n].successes[e] for n in mj_runs]
    # episode lengths in control steps: evaluate's for the course sim (its recording stops one frame before the
    # reset), the recorded transitions for MuJoCo
    steps = [sim_results["randomized"].lengths[e]] + [len(mj_runs[n].trajectories[e]) - 1 for n in mj_runs]
    print(f"episode {e}: " + ", ".join(f"{lab} {'reached' if ok else 'missed'} in {n} steps ({n / 60:.2f} s)"
                                      for lab, ok, n in zip(labels, oks, steps)))
    ro = rollout_from_paths(paths, np.repeat(episode_set[1][e][None], 3, 0), dt=1 / 60, labels=labels, successes=oks)
    display(HTML(to_html(animate_rollout(ro, layout="overlay", max_frames=60))))

# %% [markdown]
# ## Inference latency on this CPU
#
# A control node at 60 Hz has 16.7 ms per step; a real Panda's torque loop runs at 1 kHz (1 ms). How long does one
# query of the policy take here, one observation in and the actions out, in each runtime? Each call is timed alone;
# the runtimes take turns call by call, so that a neighbour's load on a shared machine hits them alike.

# %%
from course_lib.deploy import inference_latency

latency = inference_latency({"torch (eager)": policy, "TorchScript": load_exported(exports["randomized"]["torchscript"]),
                             "ONNX Runtime": load_exported(exports["randomized"]["onnx"])}, calls=3000)
print(f"inference per control step, batch 1, {torch.get_num_threads()} torch thread(s), onnxruntime 1 thread, "
      f"{latency['ONNX Runtime']['calls']} calls each, measured now:")
print(f"{'runtime':<15} {'median (us)':>12} {'p99 (us)':>10}   share of a 1 ms (1 kHz) step at p99")
for name, v in latency.items():
    print(f"{name:<15} {v['median_us']:12.1f} {v['p99_us']:10.1f}   {v['p99_us'] / 10:5.1f}%")
fastest = min(latency, key=lambda k: latency[k]["median_us"])
print(f"\nfastest here: {fastest} ({latency[fastest]['median_us']:.1f} us median)")

# %% [markdown]
# ## What a real deployment adds
#
# MuJoCo stood in for the robot, and the loop above is the skeleton of a real control node. A Panda in a lab needs more
# around it; none of this is simulated here, and all of it matters.
#
# - **A ROS 2 node at the robot's rate, beside the robot's own controller.** The Panda's controller (libfranka, through
#   `franka_ros2`) runs its joint impedance or velocity loop at 1 kHz and expects a command every millisecond; a
#   command that comes late is a communication error that stops the robot. The policy, though, was trained at 60 Hz.
#   The usual design: the policy node runs at 60 Hz and publishes a target; a 1 kHz controller interpolates towards it
#   and does the fast feedback. The latency table shows that the policy itself is not the bottleneck; the loop's
#   timing (a real-time kernel, no garbage collection or logging in the hot path) is.
# - **Safety limits, enforced outside the policy.** Joint position, velocity, acceleration and torque limits (the
#   Panda's controller checks its own and stops with a "reflex" error); a workspace box the TCP may not leave; rate
#   limiting of the commands (no step changes); an **emergency stop** that a person can always reach; a **watchdog**
#   that holds or stops the robot when the policy's commands go stale (a crashed node, a blocked network); and a
#   collision check before commands go out. A policy is a function approximator: it can and will output something
#   unexpected for an observation it never saw.
# - **Where the target comes from.** Here `target` is exact. On a real robot a camera (or a motion-capture system)
#   measures it, with noise, latency of tens of milliseconds, occlusions and outliers; the camera must be calibrated
#   to the robot's base frame (hand-eye calibration), and an error there is an error in every observation.
# - **The robot's own model.** Joint offsets, the real masses of the hand and payload, friction that changes with
#   temperature: system identification narrows the gap from the other side, and the sensor noise and delay rows above
#   show how much of it the policy tolerates.
# - **Testing before moving.** Replay the deployment loop against recorded sensor logs, run it in simulation with the
#   real timing, then on the robot at reduced speed with a hand on the e-stop.
#
# ## Something to try
#
# - Run the failure plots on the row where the nominal policy fails most (`transfer["nominal", condition, "result"]`):
#   are the failures near the edge of the workspace, or everywhere?
# - Train a policy with `"actuation_latency": {"range": [0, 4]}` added to the randomization, export it, and deploy it
#   with `action_delay=3` and `action_delay=6`: how much delay does it take now?
# - Deploy with `mass_scale=3.0`: which policy degrades more gracefully, and do the median times to reach change?
# - Time the policy with `inference_latency(..., batch=64)`: what does batching many robots' queries cost per robot?
# - Write `mujoco_observation` wrongly on purpose (swap q and qd) and deploy: nothing raises. What does the arm do?
