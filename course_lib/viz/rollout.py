"""Record a policy's rollout in a few environments of a batched task, for drawing.

The whole batch is stepped at once (one ``policy`` call and one ``env.step``
per control step, never a loop over environments); only the environments
named in ``envs`` are recorded, by indexing with one tensor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["Rollout", "record_rollout", "rollout_from_paths"]


@dataclass
class Rollout:
    """A recorded rollout of E environments over T control steps (numpy arrays on the host).

    Frame t is the state *before* action t; frame t + 1 the state after it.
    An environment that finishes at step t (``dones[t]``) is reset inside
    ``env.step``, so frame t + 1 is already the first frame of its next
    episode (with a new target); frame t is its last one.
    """

    kind: str                 # "arm" (has a TCP), "cartpole" or "generic"
    env_ids: np.ndarray       # (E,) indices into the task's batch
    dt: float                 # s per control step
    link_names: list
    obs: np.ndarray           # (T+1, E, num_obs)
    q: np.ndarray             # (T+1, E, dof) joint positions
    link_pos: np.ndarray      # (T+1, E, L, 3) m, robot base frame
    link_rot: np.ndarray      # (T+1, E, L, 3, 3)
    actions: np.ndarray       # (T, E, num_actions)
    rewards: np.ndarray       # (T, E)
    dones: np.ndarray         # (T, E) bool: the episode ended at this step
    successes: np.ndarray     # (T, E) bool
    timeouts: np.ndarray      # (T, E) bool
    tcp: np.ndarray | None = None      # (T+1, E, 3) TCP position (arm tasks)
    targets: np.ndarray | None = None  # (T+1, E, 3) target of the episode shown in frame t
    terms: dict = field(default_factory=dict)  # reward term name -> (T, E)
    labels: list | None = None  # (E,) caption of each environment (default "env <id>")

    @property
    def num_steps(self) -> int:
        return self.actions.shape[0]

    @property
    def num_envs(self) -> int:
        return len(self.env_ids)

    def episode_start(self) -> np.ndarray:
        """(T+1, E) int: index of the first frame of the episode that frame t belongs to."""
        T1, E = self.q.shape[:2]
        starts = np.zeros((T1, E), dtype=bool)
        starts[0] = True
        starts[1:] = self.dones
        frame = np.where(starts, np.arange(T1)[:, None], 0)
        return np.maximum.accumulate(frame, axis=0)

    def returns(self) -> np.ndarray:
        """(E,) sum of rewards over the recording."""
        return self.rewards.sum(0)


@torch.no_grad()
def record_rollout(env, policy=None, steps: int = 150, envs=(0, 1, 2), reset: bool = False) -> Rollout:
    """Step ``env`` with ``policy`` for ``steps`` control steps and record the environments ``envs``.

    env: a course task (``VecEnvBase``). policy: callable ``obs (N, num_obs)
    -> actions (N, num_actions)`` on the task's device (None: zero actions).
    envs: indices of the environments to record (E of them). reset: call
    ``env.reset()`` first (else continue from the current state).
    Returns a :class:`Rollout`; its arrays are copied to the host once, at the end.
    """
    dev = env.device
    ids = torch.as_tensor(list(envs), dtype=torch.long, device=dev).reshape(-1)
    if ids.numel() == 0 or int(ids.min()) < 0 or int(ids.max()) >= env.num_envs:
        raise ValueError(f"envs must be indices in 0..{env.num_envs - 1}, got {list(envs)}")
    obs = env.reset() if reset else env.compute_observations()
    robot = env.robot
    has_tcp = getattr(env, "ee_link", None) is not None
    tcp_index = robot.link_index(env.ee_link) if has_tcp else None
    has_targets = torch.is_tensor(getattr(env, "targets", None))
    rec = {k: [] for k in ("obs", "q", "pos", "rot", "targets", "act", "rew", "done", "succ", "tout")}
    terms: dict = {}

    def snapshot(obs):
        # The task's cached forward kinematics of the whole batch (computed for
        # its observations anyway), then the recorded rows only.
        pos, rot = env._fk() if hasattr(env, "_fk") else robot.forward_kinematics(robot.q)
        rec["obs"].append(obs.index_select(0, ids))
        rec["q"].append(robot.q.index_select(0, ids))
        rec["pos"].append(pos.index_select(0, ids))
        rec["rot"].append(rot.index_select(0, ids))
        if has_targets:
            rec["targets"].append(env.targets.index_select(0, ids))

    snapshot(obs)
    for _ in range(int(steps)):
        actions = (policy(obs) if policy is not None
                   else torch.zeros(env.num_envs, env.num_actions, device=dev))
        obs, rew, done, extras = env.step(actions)
        rec["act"].append(actions.index_select(0, ids))
        rec["rew"].append(rew.index_select(0, ids))
        rec["done"].append(done.index_select(0, ids).bool())
        rec["succ"].append(extras.get("successes", torch.zeros_like(done, dtype=torch.bool)).index_select(0, ids))
        rec["tout"].append(extras.get("time_outs", torch.zeros_like(done, dtype=torch.bool)).index_select(0, ids))
        for name, value in getattr(env, "reward_terms", {}).items():
            terms.setdefault(name, []).append(value.index_select(0, ids))
        snapshot(obs)

    def host(xs, dtype=None):
        a = torch.stack(xs).cpu().numpy()
        return a.astype(dtype) if dtype is not None else a

    link_pos = host(rec["pos"])
    names = list(robot.link_names)
    kind = "arm" if has_tcp else ("cartpole" if names == ["slider", "cart", "pole"] else "generic")
    empty = np.zeros((0, len(ids)))
    return Rollout(
        kind=kind, env_ids=ids.cpu().numpy(), dt=float(env.sim_dt * env.decimation), link_names=names,
        obs=host(rec["obs"]), q=host(rec["q"]), link_pos=link_pos, link_rot=host(rec["rot"]),
        actions=host(rec["act"]) if steps else np.zeros((0, len(ids), env.num_actions)),
        rewards=host(rec["rew"]) if steps else empty,
        dones=host(rec["done"], bool) if steps else empty.astype(bool),
        successes=host(rec["succ"], bool) if steps else empty.astype(bool),
        timeouts=host(rec["tout"], bool) if steps else empty.astype(bool),
        tcp=link_pos[:, :, tcp_index] if has_tcp else None,
        targets=host(rec["targets"]) if has_targets else None,
        terms={k: host(v) for k, v in terms.items()},
    )


@torch.no_grad()
def rollout_from_paths(paths, targets, dt: float, labels=None, successes=None) -> Rollout:
    """A :class:`Rollout` of the Panda from joint paths recorded elsewhere (MuJoCo, a real robot's log).

    paths: E arrays (T_e + 1, 7) of joint positions, rad; each ends when its episode ends, and is held at its
    last frame to the longest one's length. targets: (E, 3) m, one per path. dt: s per frame. labels: E
    captions (e.g. "MuJoCo", "course sim"). successes: E bools, whether each path ended at the target (its last
    frame is then marked, as the task marks a success). Link poses come from the course's kinematics of the
    same URDF: this draws what the joints did, whichever engine moved them.
    """
    from ..sim import asset_path, load_urdf

    paths = [np.asarray(p, dtype=np.float64) for p in paths]
    E = len(paths)
    if E == 0 or any(p.ndim != 2 or p.shape[1] != 7 or len(p) < 1 for p in paths):
        raise ValueError(f"paths: expected E >= 1 arrays of shape (T + 1, 7), got {[p.shape for p in paths]}")
    targets = np.asarray(targets, dtype=np.float64).reshape(E, 3)
    T1 = max(len(p) for p in paths)
    q = np.stack([np.concatenate((p, np.repeat(p[-1:], T1 - len(p), 0))) for p in paths], axis=1)  # (T+1, E, 7)
    robot = load_urdf(asset_path("franka_panda.urdf"), T1 * E, dtype=torch.float64)  # every frame at once
    pos, rot = robot.forward_kinematics(torch.as_tensor(q.reshape(-1, 7), dtype=robot.dtype))
    L = pos.shape[1]
    link_pos = pos.reshape(T1, E, L, 3).numpy().astype(np.float64)
    link_rot = rot.reshape(T1, E, L, 3, 3).numpy().astype(np.float64)
    T = T1 - 1
    done = np.zeros((T, E), dtype=bool)
    succ = np.zeros((T, E), dtype=bool)
    for e, p in enumerate(paths):
        if 1 < len(p) <= T1:
            done[len(p) - 2, e] = True
            succ[len(p) - 2, e] = bool(successes[e]) if successes is not None else False
    tcp = link_pos[:, :, list(robot.link_names).index("panda_hand_tcp")]
    return Rollout(kind="arm", env_ids=np.arange(E), dt=float(dt), link_names=list(robot.link_names),
                   obs=np.zeros((T1, E, 0)), q=q, link_pos=link_pos, link_rot=link_rot, actions=np.zeros((T, E, 7)),
                   rewards=np.zeros((T, E)), dones=done, successes=succ, timeouts=np.zeros((T, E), dtype=bool),
                   tcp=tcp, targets=np.repeat(targets[None], T1, 0),
                   labels=list(labels) if labels is not None else None)
