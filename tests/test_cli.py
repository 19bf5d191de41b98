"""The `course` command: --help everywhere, exit 0 on success, exit 2 with one line on bad arguments."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def course(*args, cwd=None, timeout=240):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "course_lib.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def in_process(capsys, *args):
    """`course ARGS` in this process (the console script calls the same main())."""
    from course_lib.cli import main

    try:
        rc = main(list(args))
    except SystemExit as e:  # --help
        rc = e.code
    out, err = capsys.readouterr()
    return Result(rc, out, err)


def one_line_error(r, *words):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("args", [[], ["train"], ["eval"], ["play"], ["bench"]])
def test_help(args, capsys):
    r = in_process(capsys, *args, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: course" in r.stdout


def test_help_and_bad_arguments_in_a_subprocess():
    assert course("train", "--help").returncode == 0
    one_line_error(course("train", "cartpole", "--num-envs", "x"), "--num-envs")


def test_top_level_help_lists_commands():
    out = course("--help").stdout
    for cmd in ("train", "eval", "play", "bench", "grade", "check"):
        assert cmd in out


def test_grade_and_check_are_handed_to_the_grading_cli(capsys, monkeypatch):
    import course_lib.grading.cli as gcli

    seen = []
    monkeypatch.setattr(gcli, "main", lambda argv: seen.append(list(argv)) or 0)
    assert in_process(capsys, "grade", "export", "x.csv").returncode == 0
    assert in_process(capsys, "check", "nb.ipynb").returncode == 0
    assert seen == [["grade", "export", "x.csv"], ["check", "nb.ipynb"]]


def test_console_script_is_declared():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        assert tomllib.load(f)["project"]["scripts"]["course"] == "course_lib.cli:main"


@pytest.mark.parametrize("args,words", [
    ([], ["COMMAND"]),
    (["fly"], ["invalid choice"]),
    (["train"], ["TASK"]),
    (["train", "nosuch"], ["unknown task", "cartpole"]),
    (["train", "cartpole", "--num-envs", "x"], ["--num-envs", "'x'"]),
    (["train", "cartpole", "--num-envs", "0"], ["--num-envs"]),
    (["train", "cartpole", "--iterations", "-3"], ["--iterations"]),
    (["train", "cartpole", "--device", "tpu"], ["--device"]),
    (["train", "cartpole", "--seed", "abc"], ["--seed"]),
    (["train", "cartpole", "--config", "/nonexistent.yaml"], ["not found"]),
    (["train", "cartpole", "--bogus"], ["--bogus"]),
    (["eval"], ["RUN_OR_CHECKPOINT"]),
    (["eval", "/nonexistent/run"], ["not found"]),
    (["eval", "x", "--episodes", "0"], ["--episodes"]),
    (["play", "/nonexistent.pth"], ["not found"]),
])
def test_bad_arguments_exit_2_with_one_line(args, words, capsys):
    one_line_error(in_process(capsys, *args), *words)


def test_cuda_without_a_gpu_is_one_line(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    one_line_error(in_process(capsys, "train", "cartpole", "--device", "cuda"), "no CUDA GPU")
    one_line_error(in_process(capsys, "eval", "x", "--device", "cuda"), "no CUDA GPU")


def test_bad_config_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("num_envs: 16\nppo: {}\nnetwork: {}\n")
    one_line_error(in_process(capsys, "train", "cartpole", "--config", str(bad)), "bad.yaml", "ppo.")


def test_corrupt_checkpoint_is_one_line(tmp_path, capsys):
    p = tmp_path / "x.pth"
    p.write_bytes(b"not a checkpoint")
    one_line_error(in_process(capsys, "eval", str(p)), "x.pth")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    r = course("train", "cartpole", "--iterations", "2", "--num-envs", "16", "--no-progress", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = os.listdir(d / "runs")
    return d, os.path.join(d, "runs", run), r


def test_train_exits_0(trained):
    d, run, r = trained
    assert "Iteration: 2/2" in r.stdout
    assert f"course eval {os.path.join('runs', os.path.basename(run))}" in r.stdout
    assert os.path.exists(os.path.join(run, "nn", "last.pth"))


def test_eval_exits_0(trained):
    d, run, _ = trained
    r = course("eval", run, "--episodes", "20")
    assert r.returncode == 0, r.stderr
    assert "success" in r.stdout and "95% CI" in r.stdout and "20 episodes" in r.stdout
    j = course("eval", run, "--episodes", "5", "--json")
    assert j.returncode == 0, j.stderr
    res = json.loads(j.stdout)
    assert res["episodes"] == 5 and len(res["successes"]) == 5
    # the same numbers every time
    assert json.loads(course("eval", run, "--episodes", "5", "--json").stdout)["rewards"] == res["rewards"]


def test_play_prints_each_episode(trained):
    d, run, _ = trained
    r = course("play", os.path.join(run, "nn", "last.pth"), "--episodes", "3")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("episode")]
    assert len(lines) == 3 and all(("success" in ln) or ("failure" in ln) for ln in lines)


def test_bench_runs_both_benchmarks(tmp_path, monkeypatch, capsys):
    """`course bench` runs benchmarks/sim_throughput.py and benchmarks/train_time.py, found from
    anywhere (benchmarks/ beside course_lib in an editable install)."""
    import course_lib.cli as cli

    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, cwd: calls.append((cmd, cwd)) or 0)
    monkeypatch.chdir(tmp_path)
    r = in_process(capsys, "bench", "--quick")
    assert r.returncode == 0, r.stderr
    assert [c[0][1:3] for c in calls] == [["-m", "benchmarks.sim_throughput"], ["-m", "benchmarks.train_time"]]
    assert all("--quick" in c[0] and c[1] == ROOT for c in calls)
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, cwd: 3)
    assert in_process(capsys, "bench", "--only", "train").returncode == 3


def test_bench_train_quick_really_runs():
    r = subprocess.run([sys.executable, "benchmarks/train_time.py", "--quick", "--tasks", "cartpole",
                        "--out", os.devnull], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "| cartpole | cpu |" in r.stdout
