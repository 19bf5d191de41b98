"""Training on several GPUs (``train(..., gpus=N)``, ``course train --gpus N``; course_lib/rl/distributed.py).

On the CPU the same code path runs as two processes over gloo (``device="cpu"``): torchrun, rl-games' multi_gpu
(parameter broadcast, gradient all-reduce), rank 0 alone writing. The bad requests fail at once, before any
process starts. The CUDA runs skip without CUDA (one GPU: world size 1; two GPUs: two processes)."""
import csv
import io
import os
import subprocess
import sys

import pytest
import torch
import yaml

import course_lib
from course_lib.rl import distributed
from course_lib.rl.distributed import MultiGPUError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def no_launch(monkeypatch):
    """A bad request must be refused before torchrun starts: starting a process fails the test."""
    def refuse(*a, **k):
        raise AssertionError(f"a process was started: {a}")

    monkeypatch.setattr(distributed.subprocess, "Popen", refuse)


def fake_gpus(monkeypatch, n):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


# ----------------------------------------------------------------- bad requests: a clear error at once
def test_no_cuda_says_so_and_names_the_cpu_mode(monkeypatch, tmp_path, no_launch):
    fake_gpus(monkeypatch, 0)
    with pytest.raises(MultiGPUError, match=r"2 GPUs asked for, but this machine has no CUDA GPU") as e:
        course_lib.train("cartpole", gpus=2, runs_dir=str(tmp_path / "runs"))
    assert "--device cpu" in str(e.value) and "gloo" in str(e.value)
    with pytest.raises(MultiGPUError, match="no CUDA GPU"):
        course_lib.train("cartpole", gpus=1, device="cuda", runs_dir=str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_more_gpus_than_the_machine_has(monkeypatch, tmp_path, no_launch):
    fake_gpus(monkeypatch, 2)
    with pytest.raises(MultiGPUError, match=r"4 GPUs asked for, but this machine has 2 .*use at most 2"):
        course_lib.train("franka_reach", gpus=4, runs_dir=str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_num_envs_that_does_not_split(monkeypatch, tmp_path, no_launch):
    with pytest.raises(MultiGPUError, match=r"num_envs=16 does not split across 3 processes: num_envs is the total "
                                            r"over all processes; give a multiple of 3 \(e\.g\. 15 or 18\)"):
        course_lib.train("cartpole", gpus=3, device="cpu", num_envs=16, runs_dir=str(tmp_path / "runs"))
    fake_gpus(monkeypatch, 4)
    # the file's num_envs (franka_reach: 4096 on CUDA) is the total too
    with pytest.raises(MultiGPUError, match=r"num_envs=4096 does not split across 3 GPUs.*4095 or 4098"):
        course_lib.train("franka_reach", gpus=3, runs_dir=str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("gpus", [0, -1, True, 1.5, "2"])
def test_gpus_must_be_a_positive_count(gpus, no_launch):
    with pytest.raises(MultiGPUError, match="gpus must be a positive number of GPUs"):
        course_lib.train("cartpole", gpus=gpus, device="cpu")


def test_what_the_processes_cannot_take(monkeypatch, tmp_path, no_launch):
    env = course_lib.make("cartpole", num_envs=4)
    with pytest.raises(MultiGPUError, match="not a task instance"):
        course_lib.train(env, gpus=2, device="cpu")
    with pytest.raises(MultiGPUError, match="callback"):
        course_lib.train("cartpole", gpus=2, device="cpu", callback=lambda obs, it: None)
    with pytest.raises(MultiGPUError, match=r"device must be 'cuda' .* or 'cpu'"):
        course_lib.train("cartpole", gpus=2, device="cuda:1")


def test_cli_gives_one_line_and_status_2(monkeypatch, capsys, tmp_path, no_launch):
    from course_lib import cli

    fake_gpus(monkeypatch, 0)
    assert cli.main(["train", "cartpole", "--gpus", "2", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("course train: 2 GPUs asked for, but this machine has no CUDA GPU")
    assert cli.main(["train", "cartpole", "--gpus", "3", "--device", "cpu", "--num-envs", "16"]) == 2
    assert "num_envs=16 does not split across 3 processes" in capsys.readouterr().err
    assert cli.main(["train", "cartpole", "--gpus", "0"]) == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


# ----------------------------------------------------------------- two CPU processes over gloo
def test_two_cpu_processes_train_and_rank0_alone_writes(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"  # the processes' temporary files: rank 1's rl-games folders, torchrun's
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    buf = io.StringIO()
    r = course_lib.train("cartpole", num_envs=16, iterations=3, device="cpu", gpus=2, seed=5,
                         runs_dir=str(tmp_path / "runs"), print_interval=1, out=buf)
    out = buf.getvalue()
    assert "Training cartpole on 2 CPU processes (gloo): 16 environments in all (8 per process)" in out
    assert "seeds 5..6 (seed + rank)" in out and "num_envs per process: 16 -> 8" in out
    assert "Iteration: 1/3  Mean Reward: " in out and "Iteration: 3/3  " in out
    assert out.count("Iteration: 3/3") == 1  # one progress line: rank 0's
    assert "global_rank" not in out and "broadcasting" not in out  # rl-games' chatter goes to rl_games.log

    # the result, as a single-process run's
    assert (r.world_size, r.iterations, r.env_steps, r.interrupted) == (2, 3, 3 * 16 * 16, False)
    assert r.config.num_envs == 16 and r.rl_games["params"]["config"]["num_actors"] == 8
    assert os.path.dirname(r.run_dir) == str(tmp_path / "runs") and os.path.isfile(r.checkpoint)

    # both processes ran, each its own 8 environments with its own seed, and ended with the same weights
    d = yaml.safe_load(open(os.path.join(r.run_dir, "distributed.yaml")))
    assert (d["world_size"], d["backend"], d["num_envs_total"]) == (2, "gloo", 16)
    ranks = d["ranks"]
    assert [x["rank"] for x in ranks] == [0, 1] and [x["seed"] for x in ranks] == [5, 6]
    assert [x["num_envs"] for x in ranks] == [8, 8] and [x["device"] for x in ranks] == ["cpu", "cpu"]
    assert [x["env_steps"] for x in ranks] == [3 * 16 * 8] * 2 and [x["iterations"] for x in ranks] == [3, 3]
    assert len({x["pid"] for x in ranks} | {os.getpid()}) == 3
    assert ranks[0]["weights_sum"] == pytest.approx(ranks[1]["weights_sum"], rel=1e-9, abs=1e-9)

    # rank 0 alone wrote: one run directory, one TensorBoard file; rank 1's scratch folders are gone
    assert os.listdir(tmp_path / "runs") == [os.path.basename(r.run_dir)]
    for f in ("config.yaml", "rl_games.yaml", "metrics.csv", "timing.csv", "rl_games.log", "training_curves.png",
              "distributed.yaml", "nn/last.pth"):
        assert os.path.isfile(os.path.join(r.run_dir, f)), f
    assert len(os.listdir(os.path.join(r.run_dir, "summaries"))) == 1
    assert [n for n in os.listdir(scratch) if not n.startswith("torchinductor_")] == []  # torch's own cache stays
    rows = list(csv.DictReader(open(os.path.join(r.run_dir, "metrics.csv"))))
    assert [int(x["iteration"]) for x in rows] == [1, 2, 3]
    assert [int(x["env_steps"]) for x in rows] == [256, 512, 768]  # all environments
    cfg = yaml.safe_load(open(os.path.join(r.run_dir, "config.yaml")))
    assert cfg["num_envs"] == 16
    rl = yaml.safe_load(open(os.path.join(r.run_dir, "rl_games.yaml")))["params"]["config"]
    assert rl["multi_gpu"] is True and rl["num_actors"] == 8 and rl["minibatch_size"] == 64

    # the checkpoint loads and evaluates like a single-GPU one
    policy = course_lib.load_policy(r.checkpoint)
    assert policy.task == "cartpole" and policy.metadata["iteration"] == 3
    assert policy.metadata["env_steps"] == 768 and policy.metadata["distributed"]["world_size"] == 2
    ev = course_lib.evaluate("cartpole", policy, episodes=4, seed=0, max_episode_length=50)
    assert len(ev.successes) == 4 and 0.0 <= ev.success_rate <= 1.0
    assert r.policy().metadata["checkpoint"] == r.checkpoint


def test_cli_gpus_on_the_cpu(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "course_lib.cli", "train", "franka_reach", "--gpus", "2",
                        "--device", "cpu", "--num-envs", "8", "--iterations", "2", "--seed", "3"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Training franka_reach on 2 CPU processes (gloo): 8 environments in all (4 per process)" in p.stdout
    assert "Iteration: 2/2" in p.stdout and "Evaluate it with: course eval runs/franka_reach_" in p.stdout
    (run,) = os.listdir(tmp_path / "runs")
    d = yaml.safe_load(open(tmp_path / "runs" / run / "distributed.yaml"))
    assert [(x["rank"], x["num_envs"], x["seed"]) for x in d["ranks"]] == [(0, 4, 3), (1, 4, 4)]
    assert course_lib.load_policy(str(tmp_path / "runs" / run)).task == "franka_reach"


# ----------------------------------------------------------------- CUDA (skipped without it)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
@pytest.mark.parametrize("gpus", [1, 2])
def test_cuda_processes(gpus, tmp_path):
    if torch.cuda.device_count() < gpus:
        pytest.skip(f"needs {gpus} CUDA GPUs, this machine has {torch.cuda.device_count()}")
    buf = io.StringIO()
    r = course_lib.train("franka_reach", num_envs=64 * gpus, iterations=3, gpus=gpus, seed=0,
                         runs_dir=str(tmp_path / "runs"), print_interval=1, out=buf, stepper_mode="eager")
    assert f"{gpus} GPU{'s' if gpus > 1 else ''} (cuda:0..{gpus - 1}, nccl)" in buf.getvalue()
    d = yaml.safe_load(open(os.path.join(r.run_dir, "distributed.yaml")))
    assert [x["device"] for x in d["ranks"]] == [f"cuda:{i}" for i in range(gpus)]
    assert [x["env_steps"] for x in d["ranks"]] == [3 * 16 * 64] * gpus
    assert len({round(x["weights_sum"], 4) for x in d["ranks"]}) == 1
    policy = course_lib.load_policy(r.checkpoint)
    assert course_lib.evaluate("franka_reach", policy, episodes=4, max_episode_length=50).episodes == 4
