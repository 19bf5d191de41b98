"""Load the course's URDF files into MuJoCo, the reference physics engine.

Two uses:

- the tests (``tests/test_sim_mujoco.py``) compare :mod:`course_lib.sim`
  with MuJoCo on the very same URDF file: link poses, mass matrix, bias
  forces, forward and inverse dynamics;
- chapter 6 deploys a trained policy to MuJoCo (sim-to-sim transfer) and
  builds its model from the same file, so both simulators see one robot.

MuJoCo is optional (``pip install mujoco``, or the ``test`` extra): it is
imported inside the functions, never when :mod:`course_lib.sim` is imported.

    >>> from course_lib.sim import asset_path
    >>> from course_lib.sim.mujoco_bridge import mujoco_model_from_urdf
    >>> m = mujoco_model_from_urdf(asset_path("franka_panda.urdf"))
    >>> [m.body(i).name for i in range(m.nbody)][-3:]
    ['panda_link8', 'panda_hand', 'panda_hand_tcp']

How MuJoCo reads a URDF (what the compiler options below change):

- every link becomes a body whose frame is the link frame; the root link
  hangs on MuJoCo's ``world`` body with no joint;
- ``fusestatic="false"`` keeps the links on fixed joints (flange, hand, TCP)
  as bodies of their own, so their poses can be read from ``d.xpos`` /
  ``d.xmat`` (MuJoCo's default for URDF would merge them into their parent);
- ``discardvisual="true"`` drops ``<visual>`` geometry (MuJoCo would
  otherwise turn it into geoms that collide);
- ``balanceinertia="false"`` keeps the inertias exactly as written (MuJoCo
  could otherwise change an inertia that violates the triangle inequality);
- revolute joints become limited hinges, continuous joints unlimited hinges,
  prismatic joints slides; ``<dynamics damping>`` becomes joint damping.
  MuJoCo's gravity is (0, 0, -9.81), as :data:`course_lib.sim.GRAVITY`.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np

__all__ = ["import_mujoco", "urdf_for_mujoco", "mujoco_model_from_urdf", "mujoco_full_mass_matrix"]


def import_mujoco():
    """Return the ``mujoco`` module, or raise an ImportError that says how to install it."""
    try:
        import mujoco
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "MuJoCo is needed for this (it is an optional dependency of course_lib): "
            "install it with `pip install mujoco` (or `pip install -e '.[test]'`)"
        ) from e
    return mujoco


def urdf_for_mujoco(path_or_xml: str, fusestatic: bool = False) -> str:
    """URDF text with a ``<mujoco><compiler .../></mujoco>`` element set for faithful loading.

    ``path_or_xml`` is a file path or URDF text starting with ``<``. An
    existing ``<mujoco>`` element is kept; its ``<compiler>`` gets the
    attributes ``fusestatic``, ``discardvisual="true"`` and
    ``balanceinertia="false"`` (others, such as ``meshdir``, are left alone).
    """
    if path_or_xml.lstrip().startswith("<"):
        root = ET.fromstring(path_or_xml)
        base_dir = None
    else:
        if not os.path.exists(path_or_xml):
            raise FileNotFoundError(f"URDF file not found: {path_or_xml}")
        root = ET.parse(path_or_xml).getroot()
        base_dir = os.path.dirname(os.path.abspath(path_or_xml))
    if root.tag != "robot":
        raise ValueError(f"URDF: the root element must be <robot>, found <{root.tag}>")
    ext = root.find("mujoco")
    if ext is None:
        ext = ET.Element("mujoco")
        root.insert(0, ext)
    compiler = ext.find("compiler")
    if compiler is None:
        compiler = ET.SubElement(ext, "compiler")
    compiler.set("fusestatic", "true" if fusestatic else "false")
    compiler.set("discardvisual", "true")
    compiler.set("balanceinertia", "false")
    if base_dir is not None and compiler.get("meshdir") is None:
        # Relative mesh paths (if a URDF has collision meshes) resolve beside the file.
        compiler.set("meshdir", base_dir)
    return ET.tostring(root, encoding="unicode")


def mujoco_model_from_urdf(path: str, fusestatic: bool = False):
    """Load a URDF file (or URDF text) into a ``mujoco.MjModel``.

    Args:
        path: URDF file, e.g. ``course_lib.sim.asset_path("franka_panda.urdf")``,
            or URDF text starting with ``<``.
        fusestatic: merge links on fixed joints into their parent body
            (MuJoCo's URDF default). False keeps one MuJoCo body per URDF
            link, named as the link, so poses compare link by link.

    Returns:
        ``mujoco.MjModel`` with body names equal to the URDF link names (plus
        ``"world"``) and joint names equal to the URDF joint names.

    Raises:
        ImportError: MuJoCo is not installed (``pip install mujoco``).
        FileNotFoundError: ``path`` does not exist.
    """
    mujoco = import_mujoco()
    return mujoco.MjModel.from_xml_string(urdf_for_mujoco(path, fusestatic=fusestatic))


def mujoco_full_mass_matrix(m, d) -> np.ndarray:
    """Dense joint-space inertia matrix (nv, nv) of ``d``'s current state.

    Call after ``mj_forward`` (or at least ``mj_crb``). Works with MuJoCo 3.x,
    where the call is ``mj_fullM(m, dst, d.qM)``, and with MuJoCo 4.x, where
    it is ``mj_fullM(m, d, dst)``. Includes armature (``m.dof_armature``).
    """
    mujoco = import_mujoco()
    dst = np.zeros((m.nv, m.nv))
    try:
        mujoco.mj_fullM(m, d, dst)  # MuJoCo >= 4
    except TypeError:
        mujoco.mj_fullM(m, dst, d.qM)  # MuJoCo 3.x
    return dst
