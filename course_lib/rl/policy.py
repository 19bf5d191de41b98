"""Trained policies without rl-games' player: checkpoints in, a plain ``torch.nn.Module`` out.

    >>> policy = course_lib.load_policy("runs/franka_reach_20260101-120000")   # or .../nn/last.pth
    >>> actions = policy(obs)            # (N, 17) -> (N, 7), deterministic, in [-1, 1]

The module does what rl-games' ``PpoPlayerContinuous.get_action(obs,
is_deterministic=True)`` does, with nothing else: normalise the observation
with the running mean/std saved in the checkpoint (``(obs - mean) /
sqrt(var + 1e-5)``, clamped to [-5, 5], as ``RunningMeanStd`` does), run the
actor MLP, take the Gaussian's mean and clip it to [-1, 1].
"""
from __future__ import annotations

import os
import pickle
import zipfile

import torch
from torch import nn

__all__ = ["Policy", "CheckpointError", "load_policy", "load_checkpoint", "resolve_checkpoint",
           "CHECKPOINT_FORMAT"]

#: version of the ``course`` metadata that course_lib writes into rl-games' checkpoints
CHECKPOINT_FORMAT = 1

_ACTIVATIONS = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU, "selu": nn.SELU,
    "swish": nn.SiLU, "gelu": nn.GELU, "softplus": nn.Softplus, "None": nn.Identity,
}


class CheckpointError(ValueError):
    """A checkpoint is corrupt, not course_lib's, or for another task / observation size."""


class Policy(nn.Module):
    """Deterministic actor: observation tensor (N, num_obs) -> action tensor (N, num_actions) in [-1, 1].

    Attributes: ``task`` (registered task name), ``num_obs``, ``num_actions``,
    ``metadata`` (what the checkpoint says about its training run).
    """

    def __init__(self, num_obs: int, num_actions: int, units, activation: str = "elu",
                 normalize_input: bool = True, epsilon: float = 1e-5, task: str | None = None,
                 metadata: dict | None = None):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise CheckpointError(f"unknown activation {activation!r}; known: {sorted(_ACTIVATIONS)}")
        self.num_obs, self.num_actions = int(num_obs), int(num_actions)
        self.task = task
        self.metadata = dict(metadata or {})
        self.normalize_input = bool(normalize_input)
        self.epsilon = float(epsilon)
        # Same dtypes as rl-games' RunningMeanStd: float64 statistics, cast to float32 when used.
        self.register_buffer("obs_mean", torch.zeros(self.num_obs, dtype=torch.float64))
        self.register_buffer("obs_var", torch.ones(self.num_obs, dtype=torch.float64))
        layers, size = [], self.num_obs
        for u in units:
            layers += [nn.Linear(size, int(u)), _ACTIVATIONS[activation]()]
            size = int(u)
        self.mlp = nn.Sequential(*layers)
        self.mu = nn.Linear(size, self.num_actions)
        self.eval()

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(obs):
            raise ValueError(f"the policy takes a torch.Tensor of shape (N, {self.num_obs}), got {type(obs).__name__}")
        if obs.shape[-1] != self.num_obs:
            raise ValueError(f"the policy was trained on {self.num_obs} observations"
                             f"{f' ({self.task})' if self.task else ''} but got a tensor of shape {tuple(obs.shape)}")
        x = obs.to(self.mu.weight.device, torch.float32)
        if self.normalize_input:
            x = (x - self.obs_mean.float()) / torch.sqrt(self.obs_var.float() + self.epsilon)
            x = torch.clamp(x, min=-5.0, max=5.0)
        return self.mu(self.mlp(x)).clamp(-1.0, 1.0)

    @property
    def device(self) -> torch.device:
        return self.mu.weight.device

    def extra_repr(self) -> str:
        return f"task={self.task!r}, num_obs={self.num_obs}, num_actions={self.num_actions}"

    @classmethod
    def from_state(cls, model_state: dict, meta: dict, source: str = "checkpoint") -> "Policy":
        """Build from rl-games' model ``state_dict`` and course_lib's metadata."""
        net = meta["network"]
        units = list(net["units"])
        state = {k[len("_orig_mod."):] if k.startswith("_orig_mod.") else k: v for k, v in model_state.items()}
        policy = cls(meta["num_obs"], meta["num_actions"], units, net["activation"],
                     normalize_input=meta.get("normalize_input", True), task=meta.get("task"), metadata=meta)
        mapping = {}
        for i in range(len(units)):
            for p in ("weight", "bias"):
                mapping[f"mlp.{2 * i}.{p}"] = f"a2c_network.actor_mlp.{2 * i}.{p}"
        for p in ("weight", "bias"):
            mapping[f"mu.{p}"] = f"a2c_network.mu.{p}"
        if policy.normalize_input:
            mapping["obs_mean"] = "running_mean_std.running_mean"
            mapping["obs_var"] = "running_mean_std.running_var"
        new_state = {}
        for ours, theirs in mapping.items():
            if theirs not in state:
                raise CheckpointError(f"{source}: the model has no {theirs!r}: it does not match the network "
                                      f"it says it has ({units}, {net['activation']})")
            want = dict(policy.state_dict())[ours].shape
            if tuple(state[theirs].shape) != tuple(want):
                raise CheckpointError(f"{source}: {theirs} has shape {tuple(state[theirs].shape)}, expected "
                                      f"{tuple(want)} for {meta['num_obs']} observations, {meta['num_actions']} "
                                      f"actions and layers {units}")
            new_state[ours] = state[theirs]
        policy.load_state_dict(new_state)
        return policy


def resolve_checkpoint(path) -> str:
    """A checkpoint file, or a run directory (``runs/<name>``: its ``nn/last.pth``)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        nn_dir = os.path.join(path, "nn") if os.path.isdir(os.path.join(path, "nn")) else path
        last = os.path.join(nn_dir, "last.pth")
        if os.path.exists(last):
            return last
        found = sorted(f for f in os.listdir(nn_dir) if f.endswith(".pth"))
        if not found:
            raise FileNotFoundError(f"no checkpoint in {path}: expected {last} (train with `course train TASK`)")
        return os.path.join(nn_dir, found[-1])
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return path


def load_checkpoint(path) -> tuple[dict, str]:
    """Read a course_lib checkpoint (rl-games' state plus ``course`` metadata). Returns ``(state, path)``.

    Loads with ``weights_only=True``: a checkpoint cannot run code on the
    machine that grades it.
    """
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, OSError, ValueError,
            AttributeError, TypeError, IndexError, KeyError, UnicodeDecodeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(f"{path} is not a course_lib checkpoint (it holds Python objects that "
                                  f"course_lib does not load: {first[:200]})") from None
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (corrupt or truncated?): {first[:200]}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not an rl-games checkpoint: no 'model' in it")
    meta = state.get("course")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} has no course_lib metadata (task, observation size): it was not "
                              f"written by course_lib.train / `course train`")
    for key in ("task", "num_obs", "num_actions", "network"):
        if key not in meta:
            raise CheckpointError(f"{path}: its course_lib metadata lacks {key!r}")
    if int(meta.get("format", 0)) > CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} was written by a newer course_lib (format {meta['format']}); upgrade course_lib")
    return state, path


def load_policy(checkpoint, device="cpu", task: str | None = None, num_obs: int | None = None) -> Policy:
    """Load a trained policy: a checkpoint ``.pth`` or a run directory -> :class:`Policy`.

    ``task`` / ``num_obs``, when given, must match the checkpoint, else a
    :class:`CheckpointError` says what it was trained for.
    """
    state, path = load_checkpoint(checkpoint)
    meta = dict(state["course"])
    meta["checkpoint"] = path
    if task is not None and task not in (meta["task"], meta.get("reference_task")):
        raise CheckpointError(f"{path} is a policy for task {meta['task']!r}, not {task!r}")
    if num_obs is not None and int(num_obs) != int(meta["num_obs"]):
        raise CheckpointError(f"{path} was trained on {meta['num_obs']} observations ({meta['task']}), "
                              f"not {num_obs}")
    policy = Policy.from_state(state["model"], meta, source=path)
    return policy.to(device)
