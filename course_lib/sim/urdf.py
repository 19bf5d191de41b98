"""A reader for the subset of URDF the course needs.

Supported: ``<link>`` with ``<inertial>`` (origin, mass, full inertia) and
primitive ``<visual>`` geometry (box, cylinder, sphere; kept for drawing);
``<joint>`` of type revolute, continuous, prismatic or fixed, with origin,
axis, limit and dynamics. Meshes, transmissions, gazebo tags and the
``<mujoco>`` extension are ignored. Anything else that matters for physics
(a floating joint, a closed loop, a link with two parents) is an error.

The result is plain Python data (:class:`RobotSpec`); turning it into batched
tensors is :mod:`course_lib.sim.articulation`'s job.
"""
from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LinkSpec", "JointSpec", "RobotSpec", "parse_urdf", "rpy_to_matrix"]


@dataclass
class LinkSpec:
    name: str
    mass: float = 0.0  # kg
    com: np.ndarray = field(default_factory=lambda: np.zeros(3))  # m, link frame
    inertia: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))  # kg m^2, about the com, link axes
    visuals: list = field(default_factory=list)  # [(kind, size tuple, 4x4 pose in link frame)]


@dataclass
class JointSpec:
    name: str
    type: str  # "revolute" | "continuous" | "prismatic" | "fixed"
    parent: str
    child: str
    origin: np.ndarray  # 4x4 transform of the joint frame in the parent link frame
    axis: np.ndarray  # unit vector, joint (= child) frame
    lower: float = -math.inf  # rad or m
    upper: float = math.inf
    effort: float = math.inf  # N m or N
    velocity: float = math.inf  # rad/s or m/s
    damping: float = 0.0  # N m s/rad
    friction: float = 0.0  # N m (Coulomb)


@dataclass
class RobotSpec:
    name: str
    root: str
    links: dict  # name -> LinkSpec, in document order
    joints: list  # JointSpec in topological order (parents before children)


def rpy_to_matrix(rpy) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes x, y, z) to a rotation matrix: Rz(y) Ry(p) Rx(r)."""
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return np.array([
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ])


def _floats(text: str | None, n: int, default: float, what: str) -> np.ndarray:
    if text is None:
        return np.full(n, default, dtype=float)
    vals = text.split()
    if len(vals) != n:
        raise ValueError(f"URDF: {what} needs {n} numbers, got {text!r}")
    return np.array([float(v) for v in vals])


def _pose(elem) -> np.ndarray:
    T = np.eye(4)
    if elem is not None:
        T[:3, :3] = rpy_to_matrix(_floats(elem.get("rpy"), 3, 0.0, "origin rpy"))
        T[:3, 3] = _floats(elem.get("xyz"), 3, 0.0, "origin xyz")
    return T


def _parse_link(el) -> LinkSpec:
    link = LinkSpec(name=el.get("name"))
    inertial = el.find("inertial")
    if inertial is not None:
        T = _pose(inertial.find("origin"))
        mass_el = inertial.find("mass")
        link.mass = float(mass_el.get("value")) if mass_el is not None else 0.0
        I = np.zeros((3, 3))
        ie = inertial.find("inertia")
        if ie is not None:
            g = lambda k: float(ie.get(k, 0.0))  # noqa: E731
            I = np.array([[g("ixx"), g("ixy"), g("ixz")],
                          [g("ixy"), g("iyy"), g("iyz")],
                          [g("ixz"), g("iyz"), g("izz")]])
        # The inertial frame may be rotated: express the inertia in link axes.
        R = T[:3, :3]
        link.inertia = R @ I @ R.T
        link.com = T[:3, 3].copy()
    for vis in el.findall("visual"):
        geom = vis.find("geometry")
        if geom is None or len(geom) == 0:
            continue
        g = geom[0]
        if g.tag == "box":
            size = tuple(_floats(g.get("size"), 3, 0.0, "box size"))
        elif g.tag == "cylinder":
            size = (float(g.get("radius")), float(g.get("length")))
        elif g.tag == "sphere":
            size = (float(g.get("radius")),)
        else:  # meshes are not drawn
            continue
        link.visuals.append((g.tag, size, _pose(vis.find("origin"))))
    return link


def parse_urdf(path_or_xml: str) -> RobotSpec:
    """Read a URDF file (or an XML string starting with '<') into a :class:`RobotSpec`."""
    if path_or_xml.lstrip().startswith("<"):
        root = ET.fromstring(path_or_xml)
    else:
        if not os.path.exists(path_or_xml):
            raise FileNotFoundError(f"URDF file not found: {path_or_xml}")
        root = ET.parse(path_or_xml).getroot()
    if root.tag != "robot":
        raise ValueError(f"URDF: the root element must be <robot>, found <{root.tag}>")
    links = {}
    for el in root.findall("link"):
        link = _parse_link(el)
        if link.name in links:
            raise ValueError(f"URDF: link {link.name!r} is defined twice")
        links[link.name] = link

    joints = []
    children = set()
    for el in root.findall("joint"):
        jtype = el.get("type")
        name = el.get("name")
        if jtype not in ("revolute", "continuous", "prismatic", "fixed"):
            raise ValueError(f"URDF: joint {name!r} has type {jtype!r}; supported: revolute, continuous, prismatic, fixed")
        parent = el.find("parent").get("link")
        child = el.find("child").get("link")
        for ln in (parent, child):
            if ln not in links:
                raise ValueError(f"URDF: joint {name!r} names unknown link {ln!r}")
        if child in children:
            raise ValueError(f"URDF: link {child!r} has two parents (closed loops are not supported)")
        children.add(child)
        axis = _floats(el.find("axis").get("xyz") if el.find("axis") is not None else None, 3, 0.0, "axis")
        if el.find("axis") is None:
            axis = np.array([1.0, 0.0, 0.0])  # the URDF default
        if jtype != "fixed":
            n = np.linalg.norm(axis)
            if n < 1e-12:
                raise ValueError(f"URDF: joint {name!r} has a zero axis")
            axis = axis / n
        j = JointSpec(name=name, type=jtype, parent=parent, child=child,
                      origin=_pose(el.find("origin")), axis=axis)
        lim = el.find("limit")
        if lim is not None:
            j.effort = float(lim.get("effort", math.inf))
            j.velocity = float(lim.get("velocity", math.inf))
            if jtype in ("revolute", "prismatic"):
                j.lower = float(lim.get("lower", 0.0))
                j.upper = float(lim.get("upper", 0.0))
        elif jtype in ("revolute", "prismatic"):
            raise ValueError(f"URDF: {jtype} joint {name!r} needs a <limit>")
        dyn = el.find("dynamics")
        if dyn is not None:
            j.damping = float(dyn.get("damping", 0.0))
            j.friction = float(dyn.get("friction", 0.0))
        joints.append(j)

    roots = [n for n in links if n not in children]
    if len(roots) != 1:
        raise ValueError(f"URDF: expected exactly one root link, found {roots}")
    # Topological order: breadth first from the root.
    by_parent: dict = {}
    for j in joints:
        by_parent.setdefault(j.parent, []).append(j)
    ordered, frontier = [], [roots[0]]
    while frontier:
        nxt = []
        for ln in frontier:
            for j in by_parent.get(ln, []):
                ordered.append(j)
                nxt.append(j.child)
        frontier = nxt
    if len(ordered) != len(joints):
        raise ValueError("URDF: some joints are not connected to the root link")
    return RobotSpec(name=root.get("name", "robot"), root=roots[0], links=links, joints=ordered)
