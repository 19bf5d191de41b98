"""Capsule collision checks: self-collision and the table plane, batched over envs.

Enough for penalties and resets in reward shaping, not contact dynamics
(DESIGN.md, simulator section). Every link carries zero or more capsules (a
segment swept by a sphere); two capsules touch when the distance between
their segments is below the sum of their radii, and a capsule touches the
table when its lowest point is below the table plane.

    >>> from course_lib.sim import asset_path, load_urdf
    >>> from course_lib.sim.collision import CapsuleCollider
    >>> arm = load_urdf(asset_path("franka_panda.urdf"), num_envs=4096)
    >>> collider = CapsuleCollider(arm)                 # Panda capsules, table at z = 0
    >>> pos, rot = arm.forward_kinematics(arm.q)
    >>> colliding, min_distance = collider.check(pos, rot)   # (N,) bool, (N,) metres

Everything in :meth:`CapsuleCollider.check` is a fixed sequence of tensor
operations on index tensors prepared in the constructor: no loop over
environments or pairs, no ``.item()``, no data-dependent Python branch. It can
therefore be compiled or captured in a CUDA graph together with the physics
step.

Shapes: N environments, L links, C capsules, P checked capsule pairs, T
capsules checked against the table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from .panda import PANDA_HOME
from .urdf import RobotSpec, rpy_to_matrix

__all__ = [
    "Capsule",
    "PANDA_CAPSULES",
    "PANDA_HOME",
    "PANDA_NO_TABLE_LINKS",
    "PANDA_EXCLUDED_PAIRS",
    "adjacent_link_pairs",
    "panda_capsules",
    "CapsuleCollider",
    "segment_segment_distance",
    "capsule_plane_distance",
]

_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0),
         "-x": (-1.0, 0.0, 0.0), "-y": (0.0, -1.0, 0.0), "-z": (0.0, 0.0, -1.0)}


@dataclass(frozen=True)
class Capsule:
    """A capsule rigidly attached to a link.

    - ``link``: link name (as in ``Articulation.link_names``)
    - ``center``: centre of the capsule (midpoint of its segment), m, in the
      capsule frame
    - ``axis``: direction of the segment in the capsule frame: ``"x"``,
      ``"y"``, ``"z"`` (or ``"-x"`` ...) or a 3-vector (normalised here)
    - ``radius``: m
    - ``length``: distance between the two sphere centres, m (franka_ros's
      convention: NOT the overall length, which is ``length + 2 radius``)
    - ``frame_rpy``: orientation of the capsule frame in the link frame
      (URDF roll-pitch-yaw, rad). franka_ros puts each link's self-collision
      capsules on a ``<link>_sc`` child frame; it is the link frame itself
      except for link7, turned pi/4 about z.
    """

    link: str
    center: tuple
    axis: object
    radius: float
    length: float
    frame_rpy: tuple = (0.0, 0.0, 0.0)

    def axis_vector(self) -> np.ndarray:
        """Unit segment direction in the capsule frame, (3,)."""
        if isinstance(self.axis, str):
            try:
                v = np.array(_AXES[self.axis], dtype=float)
            except KeyError:
                raise ValueError(f"capsule axis must be one of {sorted(_AXES)} or a 3-vector, "
                                 f"got {self.axis!r}") from None
        else:
            v = np.asarray(self.axis, dtype=float).reshape(3)
        n = np.linalg.norm(v)
        if not n > 0:
            raise ValueError(f"capsule axis must be nonzero, got {self.axis!r}")
        return v / n

    def endpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """The two sphere centres in the *link* frame, each (3,)."""
        R = rpy_to_matrix(self.frame_rpy)
        c = np.asarray(self.center, dtype=float).reshape(3)
        h = 0.5 * float(self.length) * self.axis_vector()
        return R @ (c - h), R @ (c + h)


def panda_capsules(safety_distance: float = 0.0, prefix: str = "panda_") -> tuple[Capsule, ...]:
    """franka_ros's self-collision capsules of the Panda arm and hand (DESIGN.md).

    ``franka_description/robots/common/franka_arm.xacro`` and
    ``franka_hand.xacro``; ``safety_distance`` inflates every radius, as the
    xacro argument of the same name does (DESIGN.md: 0.03 for margins).
    """
    s = float(safety_distance)
    # link7's capsules live on franka_ros's panda_link7_sc frame, which is
    # link7 turned by +pi/4 about its z axis (link_with_sc rpy="0 0 ${pi/4}").
    # The centres/axes below are the xacro's numbers in that turned frame; the
    # rotation into link7's own frame is applied by Capsule.endpoints().
    link7_sc = (0.0, 0.0, math.pi / 4)
    p = prefix
    return (
        Capsule(p + "link0", (-0.075, 0.0, 0.06), "x", 0.06 + s, 0.03),
        Capsule(p + "link1", (0.0, 0.0, -0.1915), "z", 0.06 + s, 0.283),
        Capsule(p + "link2", (0.0, 0.0, 0.0), "z", 0.06 + s, 0.12),
        Capsule(p + "link3", (0.0, 0.0, -0.145), "z", 0.06 + s, 0.15),
        Capsule(p + "link4", (0.0, 0.0, 0.0), "z", 0.06 + s, 0.12),
        Capsule(p + "link5", (0.0, 0.0, -0.26), "z", 0.06 + s, 0.10),
        Capsule(p + "link5", (0.0, 0.08, -0.13), "z", 0.025 + s, 0.14),
        Capsule(p + "link6", (0.0, 0.0, -0.03), "z", 0.05 + s, 0.08),
        Capsule(p + "link7", (0.0, 0.0, 0.01), "z", 0.04 + s, 0.14, link7_sc),
        Capsule(p + "link7", (0.06, 0.0, 0.082), "x", 0.03 + s, 0.01, link7_sc),
        # The hand capsules are in the panda_hand frame, which (in our URDF as
        # in franka_ros) is already turned -pi/4 about z from link8/flange.
        Capsule(p + "hand", (0.0, 0.0, 0.04), "y", 0.04 + s, 0.1),
        Capsule(p + "hand", (0.0, 0.0, 0.10), "y", 0.02 + s, 0.1),
    )


PANDA_CAPSULES = panda_capsules()
"""The Panda's self-collision capsules, no safety distance (12 capsules)."""

PANDA_NO_TABLE_LINKS = ("panda_link0", "panda_link1")
"""Links bolted onto the table (the base and the shoulder): not checked against it."""

PANDA_EXCLUDED_PAIRS = (
    # (1) kinematically adjacent: same rigid body or parent/child through one joint
    ("panda_link0", "panda_link1"),
    ("panda_link1", "panda_link2"),
    ("panda_link2", "panda_link3"),
    ("panda_link3", "panda_link4"),
    ("panda_link4", "panda_link5"),
    ("panda_link5", "panda_link6"),
    ("panda_link6", "panda_link7"),
    ("panda_hand", "panda_link6"),  # the hand is bolted to link7 (through link8): link6 is its parent body
    ("panda_hand", "panda_link7"),  # same rigid body
    # (2) in contact by construction: within 0.03 m at the home pose
    ("panda_link1", "panda_link3"),
)
"""Link pairs the Panda collider never checks: what :class:`CapsuleCollider` computes for it.

link1-link3 is in contact by construction: link3's capsule reaches down into
the shoulder, 0.026 m above link1's at joint 2 = 0 (the home pose) and
overlapping it once the upper arm leans more than 74 degrees (|q2| > 1.29
rad; about 27 % of uniformly random poses within the limits), although the
real links never touch there.
MoveIt's panda SRDF disables it too ("Never"). Every other non-adjacent pair
is at least 0.098 m apart at the home pose.
"""

_PANDA_LINKS = {f"panda_link{i}" for i in range(9)} | {"panda_hand", "panda_hand_tcp"}
_PANDA_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]


# --------------------------------------------------------------------- kernels
def _dot(u, v):
    """u . v for (x, y, z) tuples of tensors; one new tensor, updated in place."""
    return (u[0] * v[0]).addcmul_(u[1], v[1]).addcmul_(u[2], v[2])


def _segment_distance_sq(p1, d1, p2, d2, inv_a, inv_e, par_tol):
    """Squared closest distance between segments p1 + s d1 and p2 + t d2, s, t in [0, 1].

    Structure of arrays: p1, d1, p2, d2 are (x, y, z) tuples of tensors of
    one broadcast shape S; inv_a = 1 / |d1|^2 (0 for a zero-length segment),
    inv_e = 1 / |d2|^2 likewise, par_tol = eps^2 |d1|^2 |d2|^2 (the
    parallelism threshold on |d1 x d2|^2), all broadcastable to S. Returns a
    tensor of shape S. Branch-free Ericson (see :func:`segment_segment_distance`);
    written with in-place updates of fresh temporaries, because on the CPU
    the kernel is bound by memory traffic, not arithmetic.
    """
    r = (p1[0] - p2[0], p1[1] - p2[1], p1[2] - p2[2])
    b = _dot(d1, d2)
    c = _dot(d1, r)
    f = _dot(d2, r)
    # n = d1 x d2; |n|^2 = a e - b^2 without the cancellation of that form.
    n = ((d1[1] * d2[2]).addcmul_(d1[2], d2[1], value=-1.0),
         (d1[2] * d2[0]).addcmul_(d1[0], d2[2], value=-1.0),
         (d1[0] * d2[1]).addcmul_(d1[1], d2[0], value=-1.0))
    denom = _dot(n, n)
    # Line-line parameter of segment 1: s = ((d2 x r) . n) / |n|^2  (= (b f - c e) / |n|^2).
    num = (d2[1] * r[2]).addcmul_(d2[2], r[1], value=-1.0).mul_(n[0])
    num.addcmul_((d2[2] * r[0]).addcmul_(d2[0], r[2], value=-1.0), n[1])
    num.addcmul_((d2[0] * r[1]).addcmul_(d2[1], r[0], value=-1.0), n[2])
    parallel = denom <= par_tol  # parallel, or a zero-length segment: start from s = 0
    s = num.div_(denom.clamp_min_(torch.finfo(denom.dtype).tiny)).masked_fill_(parallel, 0.0).clamp_(0.0, 1.0)
    t = torch.addcmul(f, b, s).mul_(inv_e).clamp_(0.0, 1.0)  # closest on segment 2 to s (0 for a point)
    s = torch.mul(b, t).sub_(c).mul_(inv_a).clamp_(0.0, 1.0)  # closest on segment 1 to t (0 for a point)
    sq = None
    for k in range(3):
        dk = torch.addcmul(r[k], d1[k], s).addcmul_(d2[k], t, value=-1.0)
        sq = dk.mul_(dk) if sq is None else sq.addcmul_(dk, dk)
    return sq


def _inverse_or_zero(x: torch.Tensor) -> torch.Tensor:
    tiny = torch.finfo(x.dtype).tiny
    return torch.where(x > tiny, 1.0 / x.clamp_min(tiny), 0.0)


def segment_segment_distance(p1: torch.Tensor, q1: torch.Tensor, p2: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    """Closest distance between segments [p1, q1] and [p2, q2], batched.

    All inputs (..., 3) (broadcastable); returns (...,). Branch-free form of
    Ericson's algorithm (*Real-Time Collision Detection*, 5.1.9): the
    parameter s of the first segment is computed for the infinite lines and
    clamped to [0, 1], t follows from s and is clamped, then s is recomputed
    from the clamped t and clamped. The line-line step uses n = d1 x d2
    (s = ((d2 x r) . n) / |n|^2) rather than Ericson's (b f - c e) / (a e - b^2),
    whose cancellation ruins nearly parallel segments in float32.

    Robustness: parallel segments (|n|^2 <= eps^2 |d1|^2 |d2|^2, eps the
    dtype's machine epsilon) start from s = 0, which Ericson's later steps
    turn into the exact answer; zero-length segments are points (their
    parameter is 0). Every denominator is clamped away from zero, so no NaN
    or inf appears, and no value is read back to the host (CUDA-graph safe).
    """
    p1, q1, p2, q2 = torch.broadcast_tensors(p1, q1, p2, q2)
    d1, d2 = q1 - p1, q2 - p2
    a = (d1 * d1).sum(-1)
    e = (d2 * d2).sum(-1)
    eps = torch.finfo(a.dtype).eps
    sq = _segment_distance_sq(p1.unbind(-1), d1.unbind(-1), p2.unbind(-1), d2.unbind(-1),
                              _inverse_or_zero(a), _inverse_or_zero(e), (eps * eps) * (a * e))
    return torch.sqrt(sq)


def capsule_plane_distance(p: torch.Tensor, q: torch.Tensor, radius, height: float = 0.0) -> torch.Tensor:
    """Signed distance from a capsule (segment [p, q], (..., 3); radius (...,)) to the plane z = height.

    Returns (...,): the height of the capsule's lowest point above the plane
    (negative: below it), ``min(p_z, q_z) - radius - height``.
    """
    return torch.minimum(p[..., 2], q[..., 2]) - radius - height


# -------------------------------------------------------------------- collider
def _rigid_groups_and_parents(spec: RobotSpec):
    """For each link: its rigid body (links joined by fixed joints share one) and the parent body."""
    body = {spec.root: spec.root}
    parent_body = {spec.root: None}
    for j in spec.joints:  # topological order
        if j.type == "fixed":
            body[j.child] = body[j.parent]
        else:
            body[j.child] = j.child
            parent_body[j.child] = body[j.parent]
    return body, parent_body


def adjacent_link_pairs(spec: RobotSpec, links: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of ``links`` that are kinematically adjacent.

    Two links are adjacent when they are on the same rigid body (joined by
    fixed joints only, e.g. panda_link7, panda_link8 and panda_hand) or when
    their rigid bodies are joined by one movable joint (parent/child).
    """
    body, parent_body = _rigid_groups_and_parents(spec)
    links = sorted(set(links), key=lambda n: list(body).index(n))
    out = []
    for i, la in enumerate(links):
        for lb in links[i + 1:]:
            ba, bb = body[la], body[lb]
            if ba == bb or parent_body.get(ba) == bb or parent_body.get(bb) == ba:
                out.append((la, lb))
    return out


class CapsuleCollider:
    """Self-collision and table checks for capsules on an articulation's links.

    Parameters
    ----------
    source:
        An :class:`~course_lib.sim.Articulation`, a :class:`RobotSpec`, or a
        sequence of link names (``forward_kinematics`` order). With link names
        alone the kinematic tree is unknown: pass ``exclude_pairs``, or use
        capsules on Panda links, whose exclusion list is known
        (:data:`PANDA_EXCLUDED_PAIRS`).
    capsules:
        The capsules (default: :data:`PANDA_CAPSULES`).
    table_height:
        Height of the table plane z = table_height, m, world frame.
    margin:
        Safety margin, m: an env collides when its smallest signed distance
        (capsule-capsule or capsule-table) is below ``margin``. DESIGN.md
        suggests 0.03 when margins are wanted. (franka_ros's
        ``safety_distance`` s instead inflates every radius by s: that is a
        threshold of 2 s between capsules and s to the table; build the
        capsules with :func:`panda_capsules(s) <panda_capsules>` for it.)
    no_table_links:
        Links whose capsules are not checked against the table (those that
        sit on it): default the Panda's link0 and link1.
    exclude_pairs:
        Link pairs never checked against each other. ``None``: computed as
        (1) kinematically adjacent links (:func:`adjacent_link_pairs`: same
        rigid body, or parent/child through one movable joint) and
        (2) link pairs with a capsule pair closer than ``home_tolerance``
        (signed surface distance) at the home pose ``home_q``: in contact, or
        nearly, by construction. Pairs of capsules on the same link are never
        checked. For the Panda this gives :data:`PANDA_EXCLUDED_PAIRS`.
    home_q:
        Home pose for (2); default :data:`PANDA_HOME` when the robot's joints
        are panda_joint1..7, else none (only adjacency is excluded).
    home_tolerance:
        m, default 0.03 (DESIGN.md's safety distance): the home pose stays
        collision-free for every ``margin`` up to this value.
    device, dtype:
        Where the constant tensors live (default: the articulation's, else
        CPU float32). :meth:`check` converts them to the dtype of ``pos``.

    Attributes: ``pairs`` (list of capsule-index pairs checked),
    ``pair_names`` (their link names), ``excluded_link_pairs`` (sorted list of
    excluded link-name pairs), ``table_capsules`` (capsule indices checked
    against the table).
    """

    def __init__(self, source, capsules: Sequence[Capsule] = PANDA_CAPSULES, *, table_height: float = 0.0,
                 margin: float = 0.0, no_table_links: Iterable[str] = PANDA_NO_TABLE_LINKS,
                 exclude_pairs: Iterable[tuple[str, str]] | None = None, home_q=None,
                 home_tolerance: float = 0.03, device=None, dtype=None):
        from .articulation import Articulation  # local: avoid an import cycle

        arm = source if isinstance(source, Articulation) else None
        spec = arm.spec if arm is not None else (source if isinstance(source, RobotSpec) else None)
        if arm is not None:
            link_names = list(arm.link_names)
            device = arm.device if device is None else device
            dtype = arm.dtype if dtype is None else dtype
        elif spec is not None:
            link_names = [spec.root] + [j.child for j in spec.joints]
        else:
            link_names = [str(n) for n in source]
        self.device = torch.device("cpu" if device is None else device)
        self.dtype = torch.float32 if dtype is None else dtype
        self.link_names = link_names
        self.articulation = arm
        self.capsules = tuple(capsules)
        self.table_height = float(table_height)
        self.margin = float(margin)
        if not self.capsules:
            raise ValueError("CapsuleCollider needs at least one capsule")
        unknown = sorted({c.link for c in self.capsules} - set(link_names))
        if unknown:
            raise ValueError(f"capsules on unknown links {unknown}; links are {link_names}")
        C = len(self.capsules)
        cap_links = [c.link for c in self.capsules]

        # Constant per-capsule data: link index (C,); in the link frame, the first
        # sphere centre and the vector to the second (C, 2, 3); radius (C,).
        ends = np.stack([np.stack(c.endpoints()) for c in self.capsules])
        local = np.stack([ends[:, 0], ends[:, 1] - ends[:, 0]], axis=1)
        self._cap_link = torch.as_tensor([link_names.index(n) for n in cap_links], dtype=torch.long, device=self.device)
        self._local = torch.as_tensor(local, dtype=self.dtype, device=self.device)
        self._radius = torch.as_tensor([float(c.radius) for c in self.capsules], dtype=self.dtype, device=self.device)

        # Exclusions.
        if exclude_pairs is None:
            if spec is None:
                if set(cap_links) <= _PANDA_LINKS:
                    excluded = set(map(_key, PANDA_EXCLUDED_PAIRS))
                else:
                    raise ValueError("with link names only, the kinematic tree is unknown: pass exclude_pairs "
                                     "(or build the collider from the Articulation)")
            else:
                excluded = set(map(_key, adjacent_link_pairs(spec, cap_links)))
                if home_q is None and [j.name for j in spec.joints if j.type != "fixed"] == _PANDA_JOINTS:
                    home_q = PANDA_HOME
                if home_q is not None:
                    excluded |= self._home_contacts(spec, home_q, excluded, home_tolerance)
        else:
            excluded = set(map(_key, exclude_pairs))
        self.excluded_link_pairs = sorted(excluded)

        pairs = [(i, j) for i in range(C) for j in range(i + 1, C)
                 if cap_links[i] != cap_links[j] and _key((cap_links[i], cap_links[j])) not in excluded]
        self.pairs = pairs
        self.pair_names = [(cap_links[i], cap_links[j]) for i, j in pairs]
        self._pair_i = torch.as_tensor([i for i, _ in pairs], dtype=torch.long, device=self.device)
        self._pair_j = torch.as_tensor([j for _, j in pairs], dtype=torch.long, device=self.device)
        # Per-pair constants (4, P, 1): radius sum, 1/|d1|^2, 1/|d2|^2 (0 for a
        # zero-length capsule), |d1|^2 |d2|^2: rotations keep lengths.
        sq_len = (local[:, 1] ** 2).sum(-1)
        inv = np.divide(1.0, sq_len, out=np.zeros_like(sq_len), where=sq_len > 0)
        radius = np.array([float(c.radius) for c in self.capsules])
        pi = np.array([i for i, _ in pairs], dtype=np.int64)
        pj = np.array([j for _, j in pairs], dtype=np.int64)
        consts = np.stack([radius[pi] + radius[pj], inv[pi], inv[pj], sq_len[pi] * sq_len[pj]])
        self._pair_consts = torch.as_tensor(consts, dtype=self.dtype, device=self.device).reshape(4, len(pairs), 1)
        no_table = set(no_table_links)
        self.table_capsules = [k for k, n in enumerate(cap_links) if n not in no_table]
        self._table_idx = torch.as_tensor(self.table_capsules, dtype=torch.long, device=self.device)
        self._table_radius = self._radius[self._table_idx].reshape(-1, 1)  # (T, 1)

    # ------------------------------------------------------------ internals
    def _home_contacts(self, spec, home_q, excluded, tol) -> set:
        """Link pairs (not yet excluded) with a capsule pair overlapping at ``home_q``."""
        from .articulation import Articulation

        probe = Articulation(spec, num_envs=1, device="cpu", dtype=torch.float64)
        q = torch.as_tensor(home_q, dtype=torch.float64).reshape(1, -1)
        pos, rot = probe.forward_kinematics(q)
        ends = torch.as_tensor(np.stack([np.stack(c.endpoints()) for c in self.capsules]), dtype=torch.float64)
        li = [probe.link_names.index(c.link) for c in self.capsules]
        w = pos[0, li, None, :] + torch.einsum("cij,ckj->cki", rot[0, li], ends)  # (C, 2, 3)
        out = set()
        C = len(self.capsules)
        for i in range(C):
            for j in range(i + 1, C):
                k = _key((self.capsules[i].link, self.capsules[j].link))
                if self.capsules[i].link == self.capsules[j].link or k in excluded:
                    continue
                d = segment_segment_distance(w[i, 0], w[i, 1], w[j, 0], w[j, 1])
                if float(d) - self.capsules[i].radius - self.capsules[j].radius <= tol:
                    out.add(k)
        return out

    def _segments(self, pos: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
        """World segments of all capsules, structure of arrays: (6, C, N).

        Rows 0-2: x, y, z of the first sphere centre; rows 3-5: the vector
        to the second. Component-major with envs last, so that gathering
        pairs (index_select on C) and the elementwise kernel run on
        contiguous (P, N) rows.
        """
        local = self._local.to(dtype=pos.dtype, device=pos.device)
        R = rot.index_select(1, self._cap_link)  # (N, C, 3, 3)
        p = pos.index_select(1, self._cap_link)  # (N, C, 3)
        w = torch.einsum("ncij,ckj->kicn", R, local)  # (2, 3, C, N): R a, R (b - a)
        return torch.cat((w[0] + p.permute(2, 1, 0), w[1]), dim=0)

    def _distances_pn(self, pos: torch.Tensor, rot: torch.Tensor):
        """(pair distances (P, N), table distances (T, N)): envs last."""
        seg = self._segments(pos, rot)  # (6, C, N)
        k = self._pair_consts.to(dtype=pos.dtype, device=pos.device)  # (4, P, 1)
        gi = seg.index_select(1, self._pair_i).unbind(0)  # 6 x (P, N)
        gj = seg.index_select(1, self._pair_j).unbind(0)
        eps = torch.finfo(pos.dtype).eps
        sq = _segment_distance_sq(gi[:3], gi[3:], gj[:3], gj[3:], k[1], k[2], (eps * eps) * k[3])
        pair_d = sq.sqrt_().sub_(k[0])
        # Lowest point of a capsule: the lower sphere centre minus the radius.
        z = seg[2].index_select(0, self._table_idx)  # (T, N)
        dz = seg[5].index_select(0, self._table_idx)
        r = self._table_radius.to(dtype=pos.dtype, device=pos.device)
        table_d = z + dz.clamp_max(0.0) - r - self.table_height
        return pair_d, table_d

    # --------------------------------------------------------------- public
    @property
    def num_pairs(self) -> int:
        return len(self.pairs)

    def world_capsules(self, pos: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
        """Both sphere centres of every capsule in the world, (N, C, 2, 3) (for drawing and tests)."""
        seg = self._segments(pos, rot)  # (6, C, N)
        a, d = seg[:3].permute(2, 1, 0), seg[3:].permute(2, 1, 0)
        return torch.stack((a, a + d), dim=2)

    def distances(self, pos: torch.Tensor, rot: torch.Tensor):
        """Signed surface distances, m (negative: penetration).

        pos (N, L, 3), rot (N, L, 3, 3): link poses from ``forward_kinematics``.
        Returns ``(pair_distance (N, P), table_distance (N, T))`` in the order
        of :attr:`pairs` and :attr:`table_capsules` (transposed views of
        envs-last arrays).
        """
        pair_d, table_d = self._distances_pn(pos, rot)
        return pair_d.T, table_d.T

    def check(self, pos: torch.Tensor, rot: torch.Tensor):
        """Collision flags and the smallest signed distance of each env.

        pos (N, L, 3), rot (N, L, 3, 3) from ``forward_kinematics``. Returns
        ``(colliding (N,) bool, min_distance (N,) float)``, where
        min_distance is the smallest of all checked capsule-capsule and
        capsule-table signed surface distances, m, and ``colliding =
        min_distance < margin``.
        """
        pair_d, table_d = self._distances_pn(pos, rot)
        parts = [d.amin(dim=0) for d in (pair_d, table_d) if d.shape[0] > 0]  # static shapes, not data
        if not parts:
            parts = [torch.full(pos.shape[:1], math.inf, dtype=pos.dtype, device=pos.device)]
        min_d = parts[0] if len(parts) == 1 else torch.minimum(parts[0], parts[1])
        return min_d < self.margin, min_d

    def check_q(self, q: torch.Tensor):
        """:meth:`check` at joint positions q (num_envs, D) of the articulation it was built from."""
        if self.articulation is None:
            raise ValueError("check_q needs a collider built from an Articulation; use check(pos, rot)")
        return self.check(*self.articulation.forward_kinematics(q))

    __call__ = check

    def __repr__(self) -> str:
        return (f"CapsuleCollider({len(self.capsules)} capsules, {self.num_pairs} pairs, "
                f"{len(self.table_capsules)} vs table at z={self.table_height}, margin={self.margin})")


def _key(pair) -> tuple[str, str]:
    a, b = pair
    return (a, b) if a <= b else (b, a)
