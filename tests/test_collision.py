"""Capsule collision checks (course_lib.sim.collision)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.sim import asset_path, load_urdf
from course_lib.sim.collision import (
    PANDA_CAPSULES,
    PANDA_EXCLUDED_PAIRS,
    PANDA_HOME,
    Capsule,
    CapsuleCollider,
    capsule_plane_distance,
    panda_capsules,
    segment_segment_distance,
)

# A pose that folds the arm into itself: elbow (joint 4) at its lower limit,
# wrist (joint 6) bent so that the hand comes down onto link 2 (the shoulder).
FOLDED = (0.0, 0.0, 0.0, -3.0718, 0.0, 0.5, -0.7853)
# Leaning forward with the wrist pointing down: the hand goes 0.18 m below the table.
BELOW_TABLE = (0.0, 1.5, 0.0, -1.0, 0.0, 1.5708, -0.7853)


def panda(n, dtype=torch.float64):
    return load_urdf(asset_path("franka_panda.urdf"), num_envs=n, dtype=dtype)


def random_q(arm, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, arm.num_dofs, generator=g, dtype=torch.float64).to(dtype=arm.dtype, device=arm.device)
    return arm.lower + u * (arm.upper - arm.lower)


# ------------------------------------------------------------ reference maths
def point_segment_distance(x, p, q):
    """Exact distance from points x (..., 3) to segment [p, q] (3,), numpy float64."""
    d = q - p
    dd = d @ d
    t = np.clip(((x - p) @ d) / dd, 0.0, 1.0) if dd > 0 else np.zeros(x.shape[:-1])
    return np.linalg.norm(x - (p + t[..., None] * d), axis=-1)


def brute_segment_distance(p1, q1, p2, q2, n=20001):
    """Dense sampling of each segment, exact distance to the other, min of both ways."""
    s = np.linspace(0.0, 1.0, n)[:, None]
    a = point_segment_distance(p1 + s * (q1 - p1), p2, q2).min()
    b = point_segment_distance(p2 + s * (q2 - p2), p1, q1).min()
    return min(a, b)


def brute_grid_distance(p1, q1, p2, q2, n=801):
    """Plain brute force: every pair of n x n sample points."""
    s = np.linspace(0.0, 1.0, n)
    x = p1 + s[:, None] * (q1 - p1)
    y = p2 + s[:, None] * (q2 - p2)
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)).min()


def random_segment_cases(seed=0):
    """(M, 4, 3) float64: general, parallel, collinear, intersecting, degenerate, near-parallel."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(60):  # general position
        cases.append(rng.normal(size=(4, 3)))
    for _ in range(20):  # parallel (same or opposite direction, any length, offset)
        p1, d, off = rng.normal(size=(3, 3))
        k = rng.uniform(-2, 2)
        p2 = p1 + off
        cases.append(np.stack([p1, p1 + d, p2, p2 + k * d]))
    for _ in range(10):  # collinear (overlapping or not)
        p1, d = rng.normal(size=(2, 3))
        a, b, c = rng.uniform(-2, 2, size=3)
        cases.append(np.stack([p1, p1 + d, p1 + a * d, p1 + (a + b + c) * d]))
    for _ in range(20):  # intersecting: both segments pass through x
        x, d1, d2 = rng.normal(size=(3, 3))
        s, t = rng.uniform(0.05, 0.95, size=2)
        cases.append(np.stack([x - s * d1, x + (1 - s) * d1, x - t * d2, x + (1 - t) * d2]))
    for _ in range(10):  # first segment a point
        p, q2, p2 = rng.normal(size=(3, 3))
        cases.append(np.stack([p, p, p2, q2]))
    for _ in range(10):  # second segment a point
        p1, q1, p = rng.normal(size=(3, 3))
        cases.append(np.stack([p1, q1, p, p]))
    for _ in range(5):  # both points
        p, q = rng.normal(size=(2, 3))
        cases.append(np.stack([p, p, q, q]))
    for _ in range(10):  # nearly parallel
        p1, d, off = rng.normal(size=(3, 3))
        cases.append(np.stack([p1, p1 + d, p1 + off, p1 + off + d + 1e-7 * rng.normal(size=3)]))
    cases.append(np.zeros((4, 3)))  # everything at one point
    seg = np.array([[0.0, 0, 0], [1, 0, 0]])
    cases.append(np.concatenate([seg, seg]))  # identical segments
    cases.append(np.concatenate([seg, seg[::-1]]))  # identical, reversed
    return np.stack(cases)


# ------------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_segment_distance_matches_brute_force(dtype):
    cases = random_segment_cases()
    ref = np.array([brute_segment_distance(*c) for c in cases])
    t = torch.as_tensor(cases, dtype=dtype)
    got = segment_segment_distance(t[:, 0], t[:, 1], t[:, 2], t[:, 3])
    assert got.dtype == dtype and got.shape == (len(cases),)
    assert torch.isfinite(got).all()
    got = got.double().numpy()
    # The sampled reference is an upper bound within ~ |segment| / n of the truth.
    tol = 1e-4 if dtype == torch.float64 else 2e-4
    assert np.all(got <= ref + 1e-9 + (0 if dtype == torch.float64 else 1e-5))
    np.testing.assert_allclose(got, ref, atol=tol, rtol=0)


def test_segment_distance_nearly_parallel_float32():
    """float32 agrees with float64 on the same inputs, at every angle down to exactly parallel."""
    rng = np.random.default_rng(5)
    m = 20000
    p1, d, off = rng.normal(size=(3, m, 3))
    for angle in (1e-2, 1e-4, 1e-6, 0.0):
        tilt = angle * rng.normal(size=(m, 3)) * np.linalg.norm(d, axis=-1, keepdims=True)
        d2 = (d + tilt) * rng.uniform(-2, 2, (m, 1))
        x = torch.as_tensor(np.stack([p1, p1 + d, p1 + off, p1 + off + d2], 1), dtype=torch.float32)
        got = segment_segment_distance(*x.unbind(1))
        ref = segment_segment_distance(*x.double().unbind(1))
        assert torch.isfinite(got).all()
        assert float((got.double() - ref).abs().max()) < 5e-6


def test_segment_distance_plain_grid_brute_force():
    cases = random_segment_cases(seed=1)[::7]
    t = torch.as_tensor(cases)
    got = segment_segment_distance(t[:, 0], t[:, 1], t[:, 2], t[:, 3]).numpy()
    for c, g in zip(cases, got):
        ref = brute_grid_distance(*c)
        span = np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[3] - c[2])
        assert g <= ref + 1e-12
        assert ref - g <= span / 800 + 1e-12


def test_segment_distance_special_cases_exact():
    f = lambda *pts: float(segment_segment_distance(*[torch.tensor(p, dtype=torch.float64) for p in pts]))  # noqa: E731
    # Crossing at right angles, offset 0.3 in z.
    assert f([-1, 0, 0], [1, 0, 0], [0, -1, 0.3], [0, 1, 0.3]) == pytest.approx(0.3, abs=1e-15)
    # Intersecting.
    assert f([-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0]) == pytest.approx(0.0, abs=1e-15)
    # Parallel, overlapping in x, 0.5 apart; parallel and disjoint: end to end.
    assert f([0, 0, 0], [1, 0, 0], [0.5, 0.5, 0], [2, 0.5, 0]) == pytest.approx(0.5, abs=1e-15)
    assert f([0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]) == pytest.approx(1.0, abs=1e-15)
    assert f([0, 0, 0], [1, 0, 0], [3, 0, 0], [2, 0, 0]) == pytest.approx(1.0, abs=1e-15)
    # Point to segment, point to point.
    assert f([0.5, 2, 0], [0.5, 2, 0], [0, 0, 0], [1, 0, 0]) == pytest.approx(2.0, abs=1e-15)
    assert f([0, 0, 0], [0, 0, 0], [3, 4, 0], [3, 4, 0]) == pytest.approx(5.0, abs=1e-15)


def test_segment_distance_broadcasts_over_points():
    p1 = torch.zeros(5, 1, 3)
    q1 = torch.zeros(5, 1, 3)  # degenerate
    p2 = torch.randn(1, 4, 3)
    q2 = p2.clone()  # degenerate
    d = segment_segment_distance(p1, q1, p2, q2)
    assert d.shape == (5, 4)
    torch.testing.assert_close(d, p2.norm(dim=-1).expand(5, 4))


def test_capsule_plane_distance_closed_form():
    rng = np.random.default_rng(3)
    pq = rng.normal(size=(200, 2, 3))
    r = rng.uniform(0.01, 0.2, size=200)
    h = 0.25
    t = torch.as_tensor(pq)
    got = capsule_plane_distance(t[:, 0], t[:, 1], torch.as_tensor(r), h).numpy()
    # Closed form: the lowest point of a capsule is its lower sphere centre minus r.
    np.testing.assert_allclose(got, np.minimum(pq[:, 0, 2], pq[:, 1, 2]) - r - h, atol=0, rtol=0)
    # And by sampling the surface: lowest sample over sphere centres along the segment.
    s = np.linspace(0, 1, 1001)[:, None, None]
    lowest = (pq[None, :, 0] + s * (pq[None, :, 1] - pq[None, :, 0]))[..., 2].min(0) - r - h
    np.testing.assert_allclose(got, lowest, atol=1e-12)
    # A horizontal capsule at height 0.5 with radius 0.1 over a table at 0.2: 0.2 m clearance.
    d = capsule_plane_distance(torch.tensor([0.0, 0, 0.5]), torch.tensor([1.0, 0, 0.5]), 0.1, 0.2)
    assert float(d) == pytest.approx(0.2)


# ------------------------------------------------------------- capsule data
def test_panda_capsules_match_design():
    by_link = {}
    for c in PANDA_CAPSULES:
        by_link.setdefault(c.link, []).append(c)
    assert len(PANDA_CAPSULES) == 12
    assert [len(by_link[f"panda_link{i}"]) for i in range(8)] == [1, 1, 1, 1, 1, 2, 1, 2]
    assert len(by_link["panda_hand"]) == 2
    (l0,) = by_link["panda_link0"]
    assert (l0.center, l0.axis, l0.radius, l0.length) == ((-0.075, 0.0, 0.06), "x", 0.06, 0.03)
    (l1,) = by_link["panda_link1"]
    assert (l1.center, l1.axis, l1.radius, l1.length) == ((0.0, 0.0, -0.1915), "z", 0.06, 0.283)
    small5 = by_link["panda_link5"][1]
    assert (small5.center, small5.axis, small5.radius, small5.length) == ((0.0, 0.08, -0.13), "z", 0.025, 0.14)
    (l6,) = by_link["panda_link6"]
    assert (l6.center, l6.radius, l6.length) == ((0.0, 0.0, -0.03), 0.05, 0.08)
    hand = by_link["panda_hand"]
    assert [(c.center, c.axis, c.radius, c.length) for c in hand] == [
        ((0.0, 0.0, 0.04), "y", 0.04, 0.1), ((0.0, 0.0, 0.10), "y", 0.02, 0.1)]
    # Only link7's capsules sit on a turned frame.
    assert all(c.frame_rpy == (0.0, 0.0, 0.0) for c in PANDA_CAPSULES if c.link != "panda_link7")


def test_link7_capsule_frame_is_turned_pi_over_4():
    big, small = [c for c in PANDA_CAPSULES if c.link == "panda_link7"]
    assert (small.center, small.axis, small.radius, small.length) == ((0.06, 0.0, 0.082), "x", 0.03, 0.01)
    assert small.frame_rpy == (0.0, 0.0, pytest.approx(math.pi / 4))
    a, b = small.endpoints()
    c45 = math.sqrt(0.5)
    np.testing.assert_allclose((a + b) / 2, [0.06 * c45, 0.06 * c45, 0.082], atol=1e-15)
    np.testing.assert_allclose((b - a) / np.linalg.norm(b - a), [c45, c45, 0.0], atol=1e-15)
    # The z capsule does not move under a turn about z.
    a, b = big.endpoints()
    np.testing.assert_allclose([a, b], [[0, 0, 0.01 - 0.07], [0, 0, 0.01 + 0.07]], atol=1e-15)


def test_safety_distance_inflates_radii():
    inflated = panda_capsules(0.03)
    for c0, c1 in zip(PANDA_CAPSULES, inflated):
        assert c1.radius == pytest.approx(c0.radius + 0.03)
        assert (c1.center, c1.length, c1.link) == (c0.center, c0.length, c0.link)


def test_capsule_axis_vector_and_errors():
    assert np.allclose(Capsule("l", (0, 0, 0), (0, 0, 2.0), 0.1, 0.2).axis_vector(), [0, 0, 1])
    with pytest.raises(ValueError):
        Capsule("l", (0, 0, 0), "w", 0.1, 0.2).axis_vector()
    with pytest.raises(ValueError):
        CapsuleCollider(panda(1), [Capsule("nope", (0, 0, 0), "z", 0.1, 0.2)])


# ----------------------------------------------------------- exclusion list
def test_exclusion_list_is_adjacency_plus_home_contacts():
    col = CapsuleCollider(panda(1))
    expected = sorted(tuple(sorted(p)) for p in PANDA_EXCLUDED_PAIRS)
    assert col.excluded_link_pairs == expected
    # Same-link pairs and excluded link pairs are absent; everything else is checked.
    excluded = set(expected)
    links = [c.link for c in PANDA_CAPSULES]
    want = [(i, j) for i in range(12) for j in range(i + 1, 12)
            if links[i] != links[j] and tuple(sorted((links[i], links[j]))) not in excluded]
    assert col.pairs == want
    assert col.num_pairs == 46
    # The same collider from link names only (known Panda exclusion list).
    assert CapsuleCollider(panda(1).link_names).pairs == col.pairs
    # Table: every capsule except link0's and link1's.
    assert [links[k] for k in col.table_capsules] == links[2:]


def test_home_pose_overlaps_only_excluded_pairs():
    """Without exclusions the home pose collides; every overlapping pair is excluded."""
    arm = panda(1)
    raw = CapsuleCollider(arm, exclude_pairs=[])
    pos, rot = arm.forward_kinematics(torch.tensor([PANDA_HOME], dtype=torch.float64))
    pair_d, _ = raw.distances(pos, rot)
    close = {tuple(sorted(n)) for n, d in zip(raw.pair_names, pair_d[0].tolist()) if d < 0.03}
    assert close and close <= set(tuple(sorted(p)) for p in PANDA_EXCLUDED_PAIRS)
    assert bool(raw.check(pos, rot)[0][0])


def test_link_names_only_needs_exclusions_for_other_robots():
    with pytest.raises(ValueError):
        CapsuleCollider(["a", "b"], [Capsule("a", (0, 0, 0), "z", 0.1, 0.1), Capsule("b", (0, 0, 0), "z", 0.1, 0.1)])
    col = CapsuleCollider(["a", "b"], [Capsule("a", (0, 0, 0), "z", 0.1, 0.1), Capsule("b", (0, 0, 0), "z", 0.1, 0.1)],
                          exclude_pairs=[], no_table_links=())
    pos = torch.tensor([[[0.0, 0, 1], [0.5, 0, 1]]])
    rot = torch.eye(3).expand(1, 2, 3, 3)
    ok, d = col.check(pos, rot)
    assert not bool(ok[0]) and float(d[0]) == pytest.approx(0.3)


# ------------------------------------------------------------- Panda checks
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_home_pose_is_collision_free(dtype):
    arm = panda(2, dtype)
    q = torch.tensor([PANDA_HOME, PANDA_HOME], dtype=dtype)
    for margin in (0.0, 0.03):
        col = CapsuleCollider(arm, margin=margin)
        colliding, dmin = col.check(*arm.forward_kinematics(q))
        assert colliding.dtype == torch.bool and colliding.shape == (2,)
        assert dmin.dtype == dtype and dmin.shape == (2,)
        assert not colliding.any()
        assert float(dmin[0]) > 0.09  # link3 vs link5's big capsule, 0.0985 m
        assert float(dmin[0]) == pytest.approx(0.0985, abs=5e-4)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_folded_pose_self_collides(dtype):
    arm = panda(1, dtype)
    col = CapsuleCollider(arm)
    pos, rot = arm.forward_kinematics(torch.tensor([FOLDED], dtype=dtype))
    colliding, dmin = col.check(pos, rot)
    assert bool(colliding[0]) and float(dmin[0]) < -0.05
    pair_d, table_d = col.distances(pos, rot)
    assert (table_d > 0).all()  # a self-collision, not the table
    worst = col.pair_names[int(pair_d[0].argmin())]
    assert set(worst) == {"panda_hand", "panda_link2"}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_hand_below_table_is_detected(dtype):
    arm = panda(1, dtype)
    col = CapsuleCollider(arm)
    pos, rot = arm.forward_kinematics(torch.tensor([BELOW_TABLE], dtype=dtype))
    pair_d, table_d = col.distances(pos, rot)
    assert (pair_d > 0).all()  # no self-collision
    assert float(pos[0, arm.link_index("panda_hand_tcp"), 2]) < -0.1
    names = [col.capsules[k].link for k in col.table_capsules]
    hand = [k for k, n in enumerate(names) if n == "panda_hand"]
    # The lowest point of each hand capsule is its lower sphere centre minus the radius.
    ends = col.world_capsules(pos, rot)[0, col.table_capsules]  # (T, 2, 3)
    radius = torch.tensor([col.capsules[k].radius for k in col.table_capsules], dtype=dtype)
    expect = ends[..., 2].amin(-1) - radius
    torch.testing.assert_close(table_d[0], expect)
    assert (table_d[0, hand] < -0.2).all()
    colliding, dmin = col.check(pos, rot)
    assert bool(colliding[0]) and float(dmin[0]) == pytest.approx(float(table_d.min()))
    # Lower the table far enough and the same pose is fine.
    low = CapsuleCollider(arm, table_height=-0.5)
    assert not bool(low.check(pos, rot)[0][0])


def test_margin_threshold():
    arm = panda(1)
    pos, rot = arm.forward_kinematics(torch.tensor([PANDA_HOME], dtype=torch.float64))
    d = float(CapsuleCollider(arm).check(pos, rot)[1][0])
    assert not bool(CapsuleCollider(arm, margin=d - 1e-6).check(pos, rot)[0][0])
    assert bool(CapsuleCollider(arm, margin=d + 1e-6).check(pos, rot)[0][0])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_random_poses_finite_and_float32_matches_float64(dtype):
    n = 1000
    arm64 = panda(n)
    q64 = random_q(arm64, n, seed=1)
    c64, d64 = CapsuleCollider(arm64).check(*arm64.forward_kinematics(q64))
    arm = panda(n, dtype)
    col = CapsuleCollider(arm)
    pos, rot = arm.forward_kinematics(q64.to(dtype))
    colliding, dmin = col.check(pos, rot)
    pair_d, table_d = col.distances(pos, rot)
    assert torch.isfinite(pair_d).all() and torch.isfinite(table_d).all() and torch.isfinite(dmin).all()
    assert pair_d.shape == (n, col.num_pairs) and table_d.shape == (n, len(col.table_capsules))
    torch.testing.assert_close(dmin.double(), d64, atol=1e-5, rtol=0)
    sure = (d64.abs() > 1e-4)
    assert torch.equal(colliding[sure], c64[sure])
    # The (N, C, 2, 3) sphere centres agree with the capsule lengths.
    ends = col.world_capsules(pos, rot)
    lengths = torch.tensor([c.length for c in PANDA_CAPSULES], dtype=dtype)
    torch.testing.assert_close((ends[:, :, 1] - ends[:, :, 0]).norm(dim=-1), lengths.expand(n, -1), atol=1e-5, rtol=0)
    # Sanity: random poses do both (about a third collide).
    assert 0.1 < colliding.double().mean() < 0.7


def test_batched_equals_per_env_and_independent_reference():
    n = 64
    arm = panda(n)
    col = CapsuleCollider(arm)
    q = random_q(arm, n, seed=2)
    q[0] = torch.tensor(FOLDED, dtype=torch.float64)
    q[1] = torch.tensor(BELOW_TABLE, dtype=torch.float64)
    pos, rot = arm.forward_kinematics(q)
    pair_d, table_d = col.distances(pos, rot)
    colliding, dmin = col.check(pos, rot)
    one = panda(1)
    col1 = CapsuleCollider(one)
    for i in range(n):
        p1, r1 = one.forward_kinematics(q[i:i + 1])
        pd1, td1 = col1.distances(p1, r1)
        c1, d1 = col1.check(p1, r1)
        torch.testing.assert_close(pd1[0], pair_d[i], atol=1e-12, rtol=0)
        torch.testing.assert_close(td1[0], table_d[i], atol=1e-12, rtol=0)
        assert bool(c1[0]) == bool(colliding[i])
        torch.testing.assert_close(d1[0], dmin[i], atol=1e-12, rtol=0)
    # Independent reference: numpy transforms and a loop over pairs.
    P, R = pos.numpy(), rot.numpy()
    world = []
    for c in PANDA_CAPSULES:
        li = arm.link_index(c.link)
        a, b = c.endpoints()
        world.append((P[:, li] + R[:, li] @ a, P[:, li] + R[:, li] @ b))
    for k, (i, j) in enumerate(col.pairs):
        for e in (0, 5, 17):
            ref = brute_segment_distance(world[i][0][e], world[i][1][e], world[j][0][e], world[j][1][e], n=4001)
            ref -= PANDA_CAPSULES[i].radius + PANDA_CAPSULES[j].radius
            assert abs(float(pair_d[e, k]) - ref) < 1e-4
    for k, c in enumerate(col.table_capsules):
        ref = np.minimum(world[c][0][:, 2], world[c][1][:, 2]) - PANDA_CAPSULES[c].radius
        np.testing.assert_allclose(table_d[:, k].numpy(), ref, atol=1e-12)


def test_check_q_and_call():
    arm = panda(3)
    col = CapsuleCollider(arm)
    q = torch.tensor([PANDA_HOME, FOLDED, BELOW_TABLE], dtype=torch.float64)
    c, d = col.check_q(q)
    assert c.tolist() == [False, True, True]
    c2, d2 = col(*arm.forward_kinematics(q))
    assert torch.equal(c, c2) and torch.equal(d, d2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_capture():
    n = 256
    dev = torch.device("cuda", torch.cuda.current_device())
    arm = load_urdf(asset_path("franka_panda.urdf"), num_envs=n, device=dev)
    col = CapsuleCollider(arm)
    q = random_q(arm, n, seed=3)
    static_q = q.clone()
    eager = col.check_q(static_q)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        col.check_q(static_q)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = col.check_q(static_q)
    g.replay()
    assert torch.equal(out[0], eager[0]) and torch.allclose(out[1], eager[1])
    static_q.copy_(torch.tensor(PANDA_HOME, device=dev).expand(n, 7))
    g.replay()
    assert not out[0].any()
    # Nothing in check reads a value back to the host.
    pos, rot = arm.forward_kinematics(static_q)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        col.check(pos, rot)
    finally:
        torch.cuda.set_sync_debug_mode(0)
