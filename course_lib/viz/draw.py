"""Draw the Panda (3D) and the cart-pole (2D) into matplotlib axes.

Every ``draw_*`` function returns a small artist object whose ``update``
method moves the drawing to a new state, so an animation redraws nothing
from scratch. Positions are metres in the robot's base frame.

Style (a dict; every key optional, see :data:`DEFAULT_STYLE`) is also the
visual-randomization hook of the domain-randomization chapter: colours, a
``light`` factor (0 = black, 1 = as given, 2 = washed out to white) and a
``camera_offset`` (dx, dy, dz) in metres that shifts the view, as the
chapter's ``set_light_intensity`` / ``set_object_color`` /
``set_camera_offset`` would. :func:`random_style` draws one at random.
"""
from __future__ import annotations

import functools

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

__all__ = ["DEFAULT_STYLE", "PANDA_LINKS", "draw_arm", "draw_cartpole", "random_style", "env_styles", "ArmArtists",
           "CartpoleArtists", "arm_view"]

#: link order of ``FrankaReachTask.robot`` (forward_kinematics order)
PANDA_LINKS = ("panda_link0", "panda_link1", "panda_link2", "panda_link3", "panda_link4", "panda_link5",
               "panda_link6", "panda_link7", "panda_link8", "panda_hand", "panda_hand_tcp")

DEFAULT_STYLE = dict(
    link_color="#d9dde3",     # Panda white-grey
    joint_color="#2b2b2b",
    background="white",
    table_color="#c9a36b",
    target_color="#d62728",
    ball_color="#2ca02c",     # the 5 cm success ball
    path_color="#1f77b4",     # TCP trail
    cart_color="#4c72b0",
    pole_color="#c44e52",
    light=1.0,                # brightness factor, 0..2
    camera_offset=(0.0, 0.0, 0.0),  # m, shifts the view box
    view=(22.0, -55.0),       # 3D camera elevation, azimuth (degrees)
)


def _style(style):
    s = dict(DEFAULT_STYLE)
    if style:
        unknown = set(style) - set(DEFAULT_STYLE)
        if unknown:
            raise ValueError(f"unknown style key(s) {sorted(unknown)}; known: {sorted(DEFAULT_STYLE)}")
        s.update(style)
    return s


def _lit(color, light: float):
    """``color`` under a light of relative intensity ``light`` (0 black, 1 unchanged, 2 white)."""
    rgba = np.array(mcolors.to_rgba(color))
    light = float(np.clip(light, 0.0, 2.0))
    rgb = rgba[:3] * light if light <= 1.0 else rgba[:3] + (1.0 - rgba[:3]) * (light - 1.0)
    return (*np.clip(rgb, 0.0, 1.0), rgba[3])


def random_style(rng=None) -> dict:
    """A random style, ranges as the chapter's ``randomize_visuals``.

    Light intensity 1000..3000 (relative 0.5..1.5), random RGB link and
    table colours, camera offset uniform in +-5 cm per axis.
    ``rng``: a ``numpy.random.Generator`` or a seed.
    """
    rng = np.random.default_rng(rng)
    return dict(light=float(rng.uniform(0.5, 1.5)), link_color=tuple(rng.uniform(0, 1, 3)),
                table_color=tuple(rng.uniform(0, 1, 3)), background=tuple(rng.uniform(0.6, 1.0, 3)),
                camera_offset=tuple(rng.uniform(-0.05, 0.05, 3)))


def env_styles(env, envs=(0, 1, 2)) -> list:
    """One style per environment in ``envs``, from a task's per-environment visual values.

    A task randomized with ``visuals`` / ``color`` (the chapter's
    ``randomize_visuals``, :data:`course_lib.envs.randomization.CHAPTER_VISUALS`)
    holds ``light_intensity`` (N,), ``object_color`` (N, 3), ``camera_offset``
    (N, 3, m) and ``robot_color`` (N, num_links, 3). Each style has ``light`` =
    intensity / the nominal 2000, ``target_color`` = the object's colour,
    ``camera_offset``, and ``link_color`` = the colour of the robot's first
    link (the drawing has one colour for the arm). A task that was never
    randomized gives the nominal look. Pass the list to
    ``animate_rollout(rollout, style=...)`` for the environments recorded.
    """
    from ..envs.randomization import ensure_visual_buffers, NOMINAL_LIGHT_INTENSITY

    ensure_visual_buffers(env)
    ids = [int(i) for i in envs]
    bad = [i for i in ids if not 0 <= i < env.num_envs]
    if bad:
        raise ValueError(f"envs must be indices in 0..{env.num_envs - 1}, got {bad}")
    light = _np(env.light_intensity)[ids] / NOMINAL_LIGHT_INTENSITY
    target, offset, links = _np(env.object_color)[ids], _np(env.camera_offset)[ids], _np(env.robot_color)[ids]
    return [dict(light=float(light[k]), target_color=tuple(map(float, target[k])),
                 camera_offset=tuple(map(float, offset[k])), link_color=tuple(map(float, links[k, 0])))
            for k in range(len(ids))]


def _np(x):
    """Tensor or array -> float numpy array (one host copy)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _pick(x, env, ndim):
    """Take environment ``env`` from an array with an optional leading env axis."""
    x = _np(x)
    return x[env] if x.ndim == ndim + 1 else x


@functools.lru_cache(maxsize=None)
def _capsules(link_names: tuple):
    """Panda capsules in link frames: link index (C,), endpoints (C, 2, 3), radius (C,)."""
    from ..sim.collision import PANDA_CAPSULES

    caps = [c for c in PANDA_CAPSULES if c.link in link_names]
    if not caps:
        return None
    idx = np.array([link_names.index(c.link) for c in caps])
    ends = np.stack([np.stack(c.endpoints()) for c in caps])
    return idx, ends, np.array([c.radius for c in caps])


def capsule_segments(pos, rot, link_names=PANDA_LINKS):
    """World sphere centres of the Panda's collision capsules.

    pos (..., L, 3), rot (..., L, 3, 3) -> (..., C, 2, 3); same numbers as
    ``CapsuleCollider.world_capsules``, in numpy for drawing.
    """
    idx, ends, _ = _capsules(tuple(link_names))
    p, R = _np(pos)[..., idx, :], _np(rot)[..., idx, :, :]
    return p[..., None, :] + np.einsum("...cij,ckj->...cki", R, ends)


_HALF = 0.55  # m, half-width of the view cube


def arm_view(ax, style=None, center=(0.35, 0.0, 0.5), half=_HALF):
    """Cube of half-width ``half`` m around ``center`` (moved by the camera offset), equal aspect, no axes."""
    s = _style(style)
    c = np.asarray(center) - np.asarray(s["camera_offset"], dtype=float)
    ax.set_xlim(c[0] - half, c[0] + half)
    ax.set_ylim(c[1] - half, c[1] + half)
    ax.set_zlim(c[2] - half, c[2] + half)
    ax.set_box_aspect((1, 1, 1), zoom=1.25)
    ax.view_init(*s["view"])
    ax.set_facecolor(_lit(s["background"], s["light"]))
    ax.set_axis_off()


def _points_per_metre(ax, half):
    """Rough scale of the 3D axes, used to make line widths match capsule diameters."""
    bbox = ax.get_position()
    w = min(bbox.width * ax.figure.get_figwidth(), bbox.height * ax.figure.get_figheight()) * 72.0
    return w * 1.25 / (2.0 * half * 1.7)


def _sphere(center, r, n=10):
    """Faces of a low-poly sphere, (F, 4, 3)."""
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, n + 1), np.linspace(0, np.pi, n // 2 + 1))
    pts = np.stack((np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)), -1) * r + np.asarray(center)
    return np.stack((pts[:-1, :-1], pts[:-1, 1:], pts[1:, 1:], pts[1:, :-1]), 2).reshape(-1, 4, 3)


class ArmArtists:
    """The artists of one drawn arm. ``update(pos, rot, env, target=..., path=...)`` moves them.

    Attributes: ``links`` (Line3D per capsule, or one skeleton line),
    ``joints`` (Line3D of dots), ``tcp_axes`` (3 Line3D: x red, y green, z
    blue), ``target`` (Line3D marker or None), ``ball`` (Poly3DCollection or
    None), ``path`` (Line3D or None), ``table`` (Poly3DCollection or None),
    ``text`` (a 2D text for captions).
    """

    def __init__(self, ax, link_names, capsules: bool, axis_length: float):
        self.ax, self.link_names, self.axis_length = ax, tuple(link_names), axis_length
        self.capsules = capsules
        self.links, self.tcp_axes = [], []
        self.joints = self.target = self.ball = self.path = self.table = None
        self.radius = 0.05
        self.text = ax.text2D(0.02, 0.95, "", transform=ax.transAxes, fontsize=8)

    def __iter__(self):
        return iter([a for a in (*self.links, self.joints, *self.tcp_axes, self.target, self.ball, self.path,
                                 self.table, self.text) if a is not None])

    def update(self, pos, rot, env: int = 0, target=None, path=None, success=None):
        """pos (N, L, 3) or (L, 3); rot (N, L, 3, 3) or (L, 3, 3); target (3,); path (M, 3); success: bool.

        Returns the list of artists (for ``FuncAnimation`` with ``blit``).
        """
        p, R = _pick(pos, env, 2), _pick(rot, env, 3)
        if self.capsules:
            for line, seg in zip(self.links, capsule_segments(p, R, self.link_names)):
                line.set_data_3d(seg[:, 0], seg[:, 1], seg[:, 2])
        else:
            self.links[0].set_data_3d(p[:, 0], p[:, 1], p[:, 2])
        j = p[1:-1] if len(p) > 2 else p
        self.joints.set_data_3d(j[:, 0], j[:, 1], j[:, 2])
        tcp, Rt = p[-1], R[-1]
        for k, line in enumerate(self.tcp_axes):
            e = tcp + self.axis_length * Rt[:, k]
            line.set_data_3d([tcp[0], e[0]], [tcp[1], e[1]], [tcp[2], e[2]])
        if target is not None and self.target is not None:
            t = _np(target).reshape(3)
            self.target.set_data_3d([t[0]], [t[1]], [t[2]])
            self.ball.set_verts(_sphere(t, self.radius))
            if success is not None:
                self.ball.set_alpha(0.6 if success else 0.25)
        if path is not None and self.path is not None:
            pa = _np(path).reshape(-1, 3)
            self.path.set_data_3d(pa[:, 0], pa[:, 1], pa[:, 2])
        return list(self)


def draw_arm(ax, pos, rot, env: int = 0, *, target=None, success_radius: float = 0.05, path=None,
             table: bool = True, capsules: bool = True, link_names=PANDA_LINKS, style=None,
             axis_length: float = 0.08, set_view: bool = True) -> ArmArtists:
    """Draw one arm from forward kinematics into a 3D ``ax`` (``fig.add_subplot(projection="3d")``).

    pos: (N, L, 3) or (L, 3) link positions, m; rot: (N, L, 3, 3) or (L, 3, 3)
    (``robot.forward_kinematics(q)``, ``link_names`` order; tensors or arrays).
    env: which environment of the batch. target: (3,) target, drawn as a dot
    with a translucent success ball of ``success_radius``. path: (M, 3) TCP
    trail. capsules: draw the Panda's collision capsules as thick round-capped
    lines (else a thin skeleton through the link origins). style: see
    :data:`DEFAULT_STYLE`. Returns :class:`ArmArtists`.
    """
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    s = _style(style)
    light = s["light"]
    if set_view:
        arm_view(ax, s)
    capsules = capsules and _capsules(tuple(link_names)) is not None
    art = ArmArtists(ax, link_names, capsules, axis_length)
    art.radius = success_radius
    if table:
        x0, x1, y0, y1 = -0.3, 1.0, -0.65, 0.65
        art.table = Poly3DCollection([[(x0, y0, 0), (x1, y0, 0), (x1, y1, 0), (x0, y1, 0)]],
                                     facecolor=_lit(s["table_color"], light), alpha=0.35, edgecolor="none")
        ax.add_collection3d(art.table)
    p, R = _pick(pos, env, 2), _pick(rot, env, 3)
    link_rgba = _lit(s["link_color"], light)
    if capsules:
        ppm = _points_per_metre(ax, _HALF)
        for r in _capsules(tuple(link_names))[2]:
            art.links.append(ax.plot([], [], [], color=link_rgba, lw=max(1.0, 2 * r * ppm),
                                     solid_capstyle="round")[0])
    else:
        art.links.append(ax.plot([], [], [], color=link_rgba, lw=4, solid_capstyle="round")[0])
    art.joints = ax.plot([], [], [], "o", color=_lit(s["joint_color"], light), ms=3)[0]
    art.tcp_axes = [ax.plot([], [], [], color=c, lw=1.5)[0] for c in ("r", "g", "b")]
    if path is not None:
        art.path = ax.plot([], [], [], color=_lit(s["path_color"], light), lw=1.2)[0]
    if target is not None:
        art.target = ax.plot([], [], [], "o", color=_lit(s["target_color"], light), ms=5)[0]
        art.ball = Poly3DCollection(_sphere(_np(target).reshape(3), success_radius),
                                    facecolor=_lit(s["ball_color"], light), edgecolor="none", alpha=0.25)
        ax.add_collection3d(art.ball)
    art.update(p, R, target=target, path=path)
    return art


# ------------------------------------------------------------------ cart-pole
@functools.lru_cache(maxsize=None)
def _cartpole_geometry():
    """(cart width, cart height, pole start, pole end, track half-length) from the URDF's visual boxes, m."""
    from ..sim import asset_path, parse_urdf

    links = parse_urdf(asset_path("cartpole.urdf")).links
    _, cart, _ = links["cart"].visuals[0]
    _, pole, pose = links["pole"].visuals[0]
    _, track, _ = links["slider"].visuals[0]
    zc = pose[2, 3]
    return float(cart[1]), float(cart[2]), zc - pole[2] / 2, zc + pole[2] / 2, float(track[1]) / 2


class CartpoleArtists:
    """Artists of one drawn cart-pole: ``cart`` (Rectangle), ``pole``, ``track`` (Line2D), ``text``."""

    def __init__(self, ax, cart, pole, track):
        self.ax, self.cart, self.pole, self.track = ax, cart, pole, track
        self.text = ax.text(0.02, 0.92, "", transform=ax.transAxes, fontsize=8)

    def __iter__(self):
        return iter([self.track, self.cart, self.pole, self.text])

    def update(self, obs_or_q, env: int = 0):
        """obs (N, 4) ``[x, xdot, theta, thetadot]`` or q (N, 2) ``[x, theta]`` (or one row). Returns the artists."""
        row = _np(obs_or_q)
        row = row[env] if row.ndim == 2 else row
        x, theta = (row[0], row[2]) if row.shape[-1] == 4 else (row[0], row[1])
        w, h, p0, p1, _ = _cartpole_geometry()
        self.cart.set_xy((x - w / 2, -h / 2))
        # The hinge turns about +x: a positive angle tips the pole towards -y
        # (to the left, seen from +x with y to the right and z up).
        s, c = np.sin(theta), np.cos(theta)
        self.pole.set_data([x - p0 * s, x - p1 * s], [p0 * c, p1 * c])
        return list(self)


def draw_cartpole(ax, obs_or_q, env: int = 0, *, style=None, reset_dist: float = 3.0,
                  set_view: bool = True) -> CartpoleArtists:
    """Draw a cart-pole in 2D (seen from +x: cart position to the right, up is up).

    obs_or_q: (N, 4) observations ``[x, xdot, theta, thetadot]``, (N, 2) joint
    positions ``[x, theta]``, or a single row. Dashed marks at +-``reset_dist``
    show where the episode fails. Returns :class:`CartpoleArtists`.
    """
    s = _style(style)
    light = s["light"]
    w, h, p0, p1, half = _cartpole_geometry()
    if set_view:
        dx, _, dz = s["camera_offset"]
        ax.set_xlim(-reset_dist - 0.4 - dx, reset_dist + 0.4 - dx)
        ax.set_ylim(-0.45 - dz, 1.25 - dz)
        ax.set_aspect("equal")
        ax.set_facecolor(_lit(s["background"], light))
        ax.set_yticks([])
    track = Line2D([-half, half], [0, 0], color=_lit("0.4", light), lw=2, zorder=1)
    ax.add_line(track)
    for xr in (-reset_dist, reset_dist):
        ax.axvline(xr, color=_lit("0.6", light), ls="--", lw=0.8)
    cart = Rectangle((0, 0), w, h, facecolor=_lit(s["cart_color"], light), edgecolor="k", lw=0.8, zorder=2)
    ax.add_patch(cart)
    pole = Line2D([], [], color=_lit(s["pole_color"], light), lw=4, solid_capstyle="round", zorder=3)
    ax.add_line(pole)
    art = CartpoleArtists(ax, cart, pole, track)
    art.update(obs_or_q, env)
    return art
