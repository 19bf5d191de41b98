"""Export: ONNX and TorchScript files give the training-time policy's actions (to 1e-5), load in a Python
that cannot import course_lib, carry their metadata, and refuse policies of the wrong task or shape."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import course_lib
from course_lib.rl import CheckpointError, load_policy
from course_lib.rl.export import (DeployablePolicy, export_onnx, export_torchscript, load_exported,
                                  read_metadata)
from tests._helpers import train_tiny

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def _train(task, tmp_path_factory):
    torch.set_num_threads(1)
    return train_tiny(task, tmp_path_factory)


@pytest.fixture(scope="module")
def reach_run(tmp_path_factory):
    return _train("franka_reach", tmp_path_factory)


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    return _train("cartpole", tmp_path_factory)


@pytest.fixture(scope="module")
def reach_policy(reach_run):
    policy = load_policy(reach_run.checkpoint)
    # Three iterations leave the statistics near (0, 1): widen them so that the normalisation and its
    # clamp at +-5 are really exercised by the round trip.
    g = torch.Generator().manual_seed(1)
    policy.obs_mean.copy_(torch.randn(17, generator=g, dtype=torch.float64) * 0.5)
    policy.obs_var.copy_(torch.rand(17, generator=g, dtype=torch.float64) * 2 + 0.01)
    return policy


@pytest.fixture(scope="module")
def exported(reach_policy, tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    return export_onnx(reach_policy, d / "reach.onnx"), export_torchscript(reach_policy, d / "reach.pt")


def _observations(n=4096, seed=0):
    """Random observations of the reach task's scale, some far out (normalised beyond the +-5 clamp)."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 17, generator=g) * torch.tensor([1.0] * 7 + [2.0] * 7 + [0.4] * 3)
    obs[: n // 8] *= 20.0
    return obs


def test_deployable_module_is_the_policy(reach_policy):
    """The module that the exporters see computes the policy's forward pass, bit for bit."""
    obs = _observations()
    assert torch.equal(DeployablePolicy(reach_policy)(obs), reach_policy(obs))


def test_round_trip_to_1e5(reach_policy, exported):
    """Round trip: ONNX (onnxruntime) and TorchScript actions equal the training-time policy's to 1e-5,
    for any batch size, clamped actions included."""
    obs = _observations()
    want = reach_policy(obs).numpy()
    assert (np.abs(want) == 1.0).any()  # the clip at +-1 is reached by some of these
    for path in exported:
        deployed = load_exported(path, task="franka_reach", num_obs=17)
        for n in (1, 7, 4096):
            got = deployed(obs[:n].numpy())
            assert got.shape == (n, 7) and got.dtype == np.float32
            np.testing.assert_allclose(got, want[:n], atol=1e-5, rtol=0)


def test_files_load_without_course_lib(reach_policy, exported, tmp_path):
    """Standalone: `python -I -S` in an empty folder, where importing course_lib fails, loads both files
    with onnxruntime / torch.jit and gives the policy's actions."""
    obs = _observations(256, seed=3)
    np.save(tmp_path / "obs.npy", obs.numpy())
    # -I: no PYTHONPATH, no user site, not the current folder; -S: no site-packages .pth files (the
    # editable install's finder lives in one). The packages the files need are put on sys.path by hand,
    # and a finder that refuses course_lib comes first, for installs where course_lib sits beside them.
    import numpy, onnxruntime
    paths = sorted({os.path.dirname(os.path.dirname(m.__file__)) for m in (numpy, onnxruntime, torch)})
    script = textwrap.dedent(f"""
        import sys
        sys.path.extend({paths!r})
        class NoCourseLib:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "course_lib":
                    raise ImportError("course_lib is not importable here")
        sys.meta_path.insert(0, NoCourseLib())
        import json
        try:
            import course_lib
        except ImportError:
            print("no course_lib", flush=True)
        else:
            sys.exit("course_lib is importable: the test proves nothing")
        import numpy as np, onnxruntime as ort, torch
        obs = np.load("obs.npy")
        sess = ort.InferenceSession({str(exported[0])!r}, providers=["CPUExecutionProvider"])
        a_onnx = sess.run(["actions"], {{"obs": obs}})[0]
        meta = json.loads(sess.get_modelmeta().custom_metadata_map["course"])
        extra = {{"course.json": ""}}
        module = torch.jit.load({str(exported[1])!r}, _extra_files=extra)
        a_ts = module(torch.from_numpy(obs)).detach().numpy()
        np.save("actions_onnx.npy", a_onnx); np.save("actions_ts.npy", a_ts)
        print(meta["task"], json.loads(extra["course.json"])["num_obs"])
        print("modules:", sorted(m for m in sys.modules if m.startswith("course_lib")))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "no course_lib"
    assert lines[1] == "franka_reach 17"
    assert lines[2] == "modules: []"
    want = reach_policy(obs).numpy()
    for name in ("actions_onnx.npy", "actions_ts.npy"):
        np.testing.assert_allclose(np.load(tmp_path / name), want, atol=1e-5, rtol=0)


def test_metadata(reach_run, exported):
    """Both files say what they are: task, sizes, observation layout, training run."""
    for path in exported:
        meta = read_metadata(path)
        assert meta["task"] == "franka_reach" and meta["num_obs"] == 17 and meta["num_actions"] == 7
        assert len(meta["obs_layout"]) == 3 and "velocity" in meta["actions"]
        assert meta["task_cfg"]["decimation"] == 2
        json.dumps(meta)


def test_export_from_checkpoint_path(reach_run, tmp_path):
    """A checkpoint file or a run folder exports as well as a loaded Policy."""
    path = export_onnx(reach_run.run_dir, tmp_path / "r.onnx", task="franka_reach")
    obs = _observations(64)
    np.testing.assert_allclose(load_exported(path)(obs), load_policy(reach_run.checkpoint)(obs).numpy(),
                               atol=1e-5, rtol=0)


def test_wrong_task_and_shape_are_refused(cartpole_run, reach_policy, exported, tmp_path):
    """Errors: a cart-pole checkpoint exported as a reach policy, a policy with the wrong observation
    count, a wrongly shaped observation, NaN, a lying checkpoint, a file that is not a policy."""
    with pytest.raises(CheckpointError, match="for task 'cartpole', not 'franka_reach'"):
        export_onnx(cartpole_run.checkpoint, tmp_path / "x.onnx", task="franka_reach")
    with pytest.raises(CheckpointError, match="trained for task 'franka_reach', not 'cartpole'"):
        export_torchscript(reach_policy, tmp_path / "x.pt", task="cartpole")
    with pytest.raises(CheckpointError, match="takes 17 observations"):
        export_onnx(reach_policy, tmp_path / "x.onnx", num_obs=4)
    with pytest.raises(TypeError, match="Policy"):
        export_onnx(torch.nn.Linear(17, 7), tmp_path / "x.onnx")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_onnx(reach_policy, tmp_path / "no" / "x.onnx")
    cp = export_onnx(cartpole_run.checkpoint, tmp_path / "cp.onnx")
    with pytest.raises(CheckpointError, match="task 'cartpole', not 'franka_reach'"):
        load_exported(cp, task="franka_reach")
    for path in exported:
        deployed = load_exported(path)
        with pytest.raises(ValueError, match=r"shape \(N, 17\).*got \(5, 4\)"):
            deployed(np.zeros((5, 4), np.float32))
        bad = np.zeros((2, 17), np.float32)
        bad[1, 3] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            deployed(bad)
    state = torch.load(cartpole_run.checkpoint, weights_only=True)
    state["course"]["num_obs"] = 17
    torch.save(state, tmp_path / "lying.pth")
    with pytest.raises(CheckpointError, match="shape"):
        export_onnx(tmp_path / "lying.pth", tmp_path / "x.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not a model")
    with pytest.raises(CheckpointError, match="not a readable exported onnx policy"):
        load_exported(tmp_path / "junk.onnx")
