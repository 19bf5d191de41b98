"""Export a trained policy for deployment: ONNX (onnxruntime) and TorchScript, normalisation included.

    >>> from course_lib.rl.export import export_onnx, export_torchscript, load_exported
    >>> export_onnx("runs/franka_reach_.../nn/last.pth", "reach.onnx", task="franka_reach")
    >>> export_torchscript(policy, "reach.pt")
    >>> deployed = load_exported("reach.onnx")        # or "reach.pt"; checks shapes, keeps the metadata
    >>> actions = deployed(obs)                       # numpy or torch (N, 17) -> numpy (N, 7)

What the exported file computes is exactly :class:`~course_lib.rl.policy.Policy`'s
forward pass, as one graph with no Python around it: ``(obs - mean) /
sqrt(var + 1e-5)`` clamped to [-5, 5] (the running statistics saved in the
checkpoint, as float32 constants), the actor MLP, the Gaussian's mean,
clipped to [-1, 1]. Input ``obs``: float32 (N, num_obs), any N; output
``actions``: float32 (N, num_actions). Nothing else is needed to run it,
course_lib included::

    import onnxruntime as ort                          # ONNX: any language onnxruntime has
    sess = ort.InferenceSession("reach.onnx", providers=["CPUExecutionProvider"])
    actions = sess.run(["actions"], {"obs": obs.astype("float32")})[0]

    import torch                                       # TorchScript: Python, or C++ with libtorch
    module = torch.jit.load("reach.pt")
    actions = module(torch.as_tensor(obs, dtype=torch.float32))

Both files carry the same JSON metadata (task, sizes, observation layout,
training run): ONNX in the model's ``metadata_props`` under ``"course"``,
TorchScript as the extra file ``course.json`` (``torch.jit.load(path,
_extra_files={"course.json": ""})``). :func:`read_metadata` reads either.

Which exporters, and why:

- ONNX uses ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based
  exporter. With torch 2.13 the newer ``torch.export``-based exporter
  (``dynamo=True``, the default since 2.9) needs the extra packages
  ``onnxscript`` and ``onnx-ir``, takes ~2 s instead of ~0.1 s for this MLP
  and prints a page of progress and warnings; for a graph of Linear, ELU and
  clamp both give the same ONNX operators. The legacy exporter's
  DeprecationWarning is silenced here, narrowly. Opset 17.
- TorchScript uses ``torch.jit.script`` on a small module written for it
  (no Python checks, no ``no_grad`` decorator), so the file loads in
  libtorch (C++), which is how a ROS 2 node would run it. ``torch.jit`` is
  deprecated in torch 2.13 (a DeprecationWarning, silenced here) in favour
  of ``torch.export``; it still works and is still what libtorch loads.
"""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import torch
from torch import nn

from .policy import CheckpointError, Policy, load_policy

__all__ = ["export_onnx", "export_torchscript", "load_exported", "read_metadata", "ExportedPolicy",
           "DeployablePolicy", "export_metadata", "EXPORT_FORMAT", "ONNX_OPSET", "standalone_onnx_script",
           "run_onnx_standalone"]

#: version of the metadata written beside the graph
EXPORT_FORMAT = 1
ONNX_OPSET = 17
#: name of the TorchScript extra file / ONNX metadata key holding the metadata
METADATA_KEY = "course"
_TS_EXTRA = "course.json"

#: What each observation index means, per task (documentation for whoever deploys the file).
OBS_LAYOUT = {
    "franka_reach": ["q[0:7] joint positions (rad)", "qd[7:14] joint velocities (rad/s)",
                     "target - TCP[14:17] (m, robot base frame)"],
    "cartpole": ["cart position (m)", "pole angle (rad)", "cart velocity (m/s)", "pole angular velocity (rad/s)"],
}
ACTION_MEANING = {
    "franka_reach": "joint velocity commands in [-1, 1], times each joint's velocity limit (rad/s)",
    "cartpole": "cart force in [-1, 1], times 400 N",
}


class DeployablePolicy(nn.Module):
    """:class:`Policy`'s forward pass with nothing but tensor operations: what the exporters see.

    obs float32 (N, num_obs) -> actions float32 (N, num_actions) in [-1, 1].
    The normalisation is computed with the very same float32 operations as
    :meth:`Policy.forward` (so the two agree bit for bit on the CPU).
    """

    def __init__(self, policy: Policy):
        super().__init__()
        import copy

        self.normalize_input = bool(policy.normalize_input)
        self.epsilon = float(policy.epsilon)
        self.register_buffer("obs_mean", policy.obs_mean.detach().float().cpu().clone())
        self.register_buffer("obs_var", policy.obs_var.detach().float().cpu().clone())
        self.mlp = copy.deepcopy(policy.mlp).cpu().float()
        self.mu = copy.deepcopy(policy.mu).cpu().float()
        self.eval()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        if self.normalize_input:
            x = (x - self.obs_mean) / torch.sqrt(self.obs_var + self.epsilon)
            x = torch.clamp(x, min=-5.0, max=5.0)
        return self.mu(self.mlp(x)).clamp(-1.0, 1.0)


def _resolve_policy(policy_or_checkpoint, task: str | None, num_obs: int | None) -> Policy:
    """A Policy from a Policy or a checkpoint, checked against the expected task and observation count."""
    if isinstance(policy_or_checkpoint, (str, bytes)) or hasattr(policy_or_checkpoint, "__fspath__"):
        return load_policy(policy_or_checkpoint, task=task, num_obs=num_obs)
    if not isinstance(policy_or_checkpoint, Policy):
        raise TypeError(f"export takes a course_lib Policy (course_lib.load_policy(...)) or a checkpoint path, "
                        f"got {type(policy_or_checkpoint).__name__}")
    policy = policy_or_checkpoint
    ref = policy.metadata.get("reference_task")
    if task is not None and policy.task is not None and task not in (policy.task, ref):
        raise CheckpointError(f"the policy was trained for task {policy.task!r}, not {task!r}: export the "
                              f"checkpoint of a {task} run")
    if num_obs is not None and int(num_obs) != policy.num_obs:
        raise CheckpointError(f"the policy takes {policy.num_obs} observations"
                              f"{f' ({policy.task})' if policy.task else ''}, not {num_obs}")
    return policy


def export_metadata(policy: Policy) -> dict:
    """JSON-able description of ``policy`` written into the exported file."""
    meta = policy.metadata
    task = policy.task or meta.get("reference_task")
    ref = meta.get("reference_task") or task
    from .._version import __version__

    return {
        "format": EXPORT_FORMAT, "task": task, "reference_task": ref,
        "num_obs": policy.num_obs, "num_actions": policy.num_actions,
        "input": "obs", "output": "actions", "dtype": "float32",
        "obs_layout": OBS_LAYOUT.get(ref), "actions": ACTION_MEANING.get(ref),
        "normalize_input": policy.normalize_input,
        "network": meta.get("network"), "task_cfg": meta.get("task_cfg"), "seed": meta.get("seed"),
        "checkpoint": meta.get("checkpoint"), "course_lib": __version__, "torch": torch.__version__,
    }


def _prepare(policy_or_checkpoint, path, task, num_obs):
    policy = _resolve_policy(policy_or_checkpoint, task, num_obs)
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot write {path}: the folder {parent} does not exist")
    return policy, path, DeployablePolicy(policy)


def export_onnx(policy_or_checkpoint, path, *, task: str | None = None, num_obs: int | None = None,
                opset: int = ONNX_OPSET) -> str:
    """Write ``policy_or_checkpoint`` (a :class:`Policy`, checkpoint file or run folder) as ONNX to ``path``.

    ``task`` / ``num_obs``, when given, must match what the policy was
    trained for, else :class:`CheckpointError` says what it is. The graph
    takes ``obs`` float32 (N, num_obs), any N, and returns ``actions`` float32
    (N, num_actions). Returns ``path``.
    """
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("ONNX export needs the onnx package: pip install onnx==1.23.2 onnxruntime==1.31.1 "
                          "(or pip install -e '.[lab]')") from e
    policy, path, module = _prepare(policy_or_checkpoint, path, task, num_obs)
    example = torch.zeros(2, policy.num_obs)
    with warnings.catch_warnings():
        # torch 2.13 calls the TorchScript-based exporter "legacy" (see the module docstring)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(module, (example,), path, dynamo=False, input_names=["obs"], output_names=["actions"],
                          dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}}, opset_version=opset)
    model = onnx.load(path)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(export_metadata(policy))
    model.producer_name = "course_lib"
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def export_torchscript(policy_or_checkpoint, path, *, task: str | None = None, num_obs: int | None = None) -> str:
    """Write ``policy_or_checkpoint`` as a TorchScript module to ``path`` (loads with ``torch.jit.load``).

    Same arguments and checks as :func:`export_onnx`. Returns ``path``.
    """
    policy, path, module = _prepare(policy_or_checkpoint, path, task, num_obs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.jit in torch 2.13
        scripted = torch.jit.script(module)
        scripted.save(path, _extra_files={_TS_EXTRA: json.dumps(export_metadata(policy))})
    return path


def _kind(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(4)
    # TorchScript archives are zip files; anything else is read as an ONNX protobuf (and fails clearly if not)
    return "torchscript" if head[:2] == b"PK" else "onnx"


def read_metadata(path) -> dict:
    """The metadata an exported file carries (see :func:`export_metadata`)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"exported policy not found: {path}")
    kind = _kind(path)
    try:
        if kind == "torchscript":
            extra = {_TS_EXTRA: ""}
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                torch.jit.load(path, map_location="cpu", _extra_files=extra)
            raw = extra[_TS_EXTRA]
        else:
            import onnx

            model = onnx.load(path, load_external_data=False)
            raw = next((p.value for p in model.metadata_props if p.key == METADATA_KEY), "")
    except CheckpointError:
        raise
    except Exception as e:  # corrupt file: say which and what
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{path} is not a readable exported {kind} policy (corrupt or truncated?): "
                              f"{first[:200]}") from None
    if not raw:
        raise CheckpointError(f"{path} has no course_lib metadata: export it with course_lib.rl.export")
    return json.loads(raw)


class ExportedPolicy:
    """An exported file, loaded for deployment: ``obs (N, num_obs) -> actions (N, num_actions)``, numpy.

    Runs the ONNX file with onnxruntime (CPU, ``threads`` intra-op threads)
    or the TorchScript file with ``torch.jit.load``; checks the observation's
    shape and finiteness first. Attributes: ``path``, ``kind`` ("onnx" |
    "torchscript"), ``metadata``, ``task``, ``num_obs``, ``num_actions``.
    """

    def __init__(self, path, threads: int = 1):
        self.path = os.fspath(path)
        self.metadata = read_metadata(self.path)
        self.kind = _kind(self.path)
        self.task = self.metadata.get("reference_task") or self.metadata.get("task")
        self.num_obs = int(self.metadata["num_obs"])
        self.num_actions = int(self.metadata["num_actions"])
        if self.kind == "onnx":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
            self._session = ort.InferenceSession(self.path, opts, providers=["CPUExecutionProvider"])
            self._module = None
        else:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                self._module = torch.jit.load(self.path, map_location="cpu")
            self._session = None

    def check(self, obs) -> np.ndarray:
        """``obs`` as a C-contiguous float32 (N, num_obs) array, or a ValueError saying what is wrong."""
        if torch.is_tensor(obs):
            obs = obs.detach().cpu().numpy()
        obs = np.asarray(obs)
        if obs.ndim == 1:
            obs = obs[None]
        if obs.ndim != 2 or obs.shape[1] != self.num_obs:
            raise ValueError(f"{os.path.basename(self.path)} takes observations of shape (N, {self.num_obs})"
                             f"{f' ({self.task})' if self.task else ''}, got {tuple(obs.shape)}")
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        if not np.isfinite(obs).all():
            raise ValueError(f"observation has NaN or inf at {np.argwhere(~np.isfinite(obs))[:5].tolist()}: "
                             f"check the state estimate before querying the policy")
        return obs

    def raw(self, obs: np.ndarray) -> np.ndarray:
        """Run the graph on an already checked float32 (N, num_obs) array (no checks: for timing)."""
        if self._session is not None:
            return self._session.run(None, {"obs": obs})[0]
        with torch.no_grad():
            return self._module(torch.from_numpy(obs)).numpy()

    def __call__(self, obs) -> np.ndarray:
        return self.raw(self.check(obs))

    def __repr__(self) -> str:
        return f"ExportedPolicy({self.path!r}, kind={self.kind!r}, task={self.task!r}, num_obs={self.num_obs})"


def load_exported(path, task: str | None = None, num_obs: int | None = None, threads: int = 1) -> ExportedPolicy:
    """Load an exported ONNX / TorchScript file; ``task`` / ``num_obs``, when given, must match it."""
    policy = ExportedPolicy(path, threads=threads)
    if task is not None and task not in (policy.task, policy.metadata.get("task")):
        raise CheckpointError(f"{path} is a policy for task {policy.metadata.get('task')!r}, not {task!r}")
    if num_obs is not None and int(num_obs) != policy.num_obs:
        raise CheckpointError(f"{path} takes {policy.num_obs} observations, not {num_obs}")
    return policy


def standalone_onnx_script(onnx_path: str, obs_path: str, out_path: str, site_dirs) -> str:
    """The Python program :func:`run_onnx_standalone` runs: onnxruntime and numpy only, course_lib refused."""
    return f"""import sys
sys.path.extend({list(site_dirs)!r})  # numpy and onnxruntime only: -S left site-packages out


class NoCourseLib:  # and course_lib may not come in by any other way
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "course_lib":
            raise ImportError("course_lib is not importable here")


sys.meta_path.insert(0, NoCourseLib())
try:
    import course_lib
except ImportError:
    print("import course_lib: ImportError (as intended)")
else:
    sys.exit("course_lib is importable: this proves nothing")
import json

import numpy as np
import onnxruntime as ort

sess = ort.InferenceSession({os.fspath(onnx_path)!r}, providers=["CPUExecutionProvider"])
inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
print(f"input {{inp.name}} {{inp.shape}} {{inp.type}} -> output {{out.name}} {{out.shape}} {{out.type}}")
obs = np.load({os.fspath(obs_path)!r}).astype(np.float32)
actions = sess.run([out.name], {{inp.name: obs}})[0]
np.save({os.fspath(out_path)!r}, actions)
meta = sess.get_modelmeta().custom_metadata_map.get("course")
print("task:", json.loads(meta)["task"] if meta else None, "| actions:", actions.shape, actions.dtype)
print("course_lib modules loaded:", sorted(m for m in sys.modules if m.startswith("course_lib")))
"""


def run_onnx_standalone(onnx_path, obs, timeout: float = 120.0) -> dict:
    """Run the ONNX file on ``obs`` (N, num_obs) in a fresh ``python -I -S`` that cannot import course_lib.

    ``-I``: no PYTHONPATH, user site or current folder; ``-S``: no site-packages (an editable install's
    finder lives there), so only numpy's and onnxruntime's folders are put on the path, and a finder that
    refuses course_lib comes first. Runs in an empty temporary folder. Returns ``{"ok", "actions" (N,
    num_actions) float32 or None, "stdout", "stderr", "script", "command"}``; never raises for a bad file.
    """
    import subprocess
    import sys
    import tempfile

    import onnxruntime

    obs = obs.detach().cpu().numpy() if torch.is_tensor(obs) else np.asarray(obs)
    site_dirs = sorted({os.path.dirname(os.path.dirname(m.__file__)) for m in (np, onnxruntime)})
    with tempfile.TemporaryDirectory(prefix="standalone_onnx_") as d:
        obs_path, out_path = os.path.join(d, "obs.npy"), os.path.join(d, "actions.npy")
        np.save(obs_path, np.ascontiguousarray(obs, dtype=np.float32))
        script = standalone_onnx_script(os.path.abspath(os.fspath(onnx_path)), obs_path, out_path, site_dirs)
        env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LANG", "SYSTEMROOT") if k in os.environ}
        env["OMP_NUM_THREADS"] = "1"
        cmd = [sys.executable, "-I", "-S", "-c", script]
        try:
            r = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "actions": None, "stdout": "", "stderr": f"timed out after {timeout:.0f} s",
                    "script": script, "command": "python -I -S -c SCRIPT"}
        actions = np.load(out_path) if r.returncode == 0 and os.path.exists(out_path) else None
        return {"ok": actions is not None, "actions": actions, "stdout": r.stdout, "stderr": r.stderr,
                "script": script, "command": "python -I -S -c SCRIPT"}
