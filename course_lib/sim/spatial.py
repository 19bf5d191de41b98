"""Small batched geometry and spatial-algebra helpers.

Spatial vectors are 6-vectors ``[angular; linear]`` in *world* coordinates,
expressed at the world origin (Featherstone's Plücker coordinates with the
frame fixed in the world). Working in one fixed frame turns the recursions of
RNEA and CRBA into sums over ancestors or descendants, which are batched
matrix products instead of Python loops over bodies.

A rigid body's spatial inertia about the world origin is kept as three parts
that simply add when bodies are lumped together:

- ``m``: mass, shape ``(...,)``
- ``h``: first moment ``m * c`` (c: centre of mass in world), shape ``(..., 3)``
- ``Ibar``: second moment about the origin ``I_c + m (|c|^2 E - c c^T)``,
  shape ``(..., 3, 3)``
"""
from __future__ import annotations

import torch

__all__ = [
    "skew", "rodrigues", "cross", "crm", "crf", "inertia_apply", "cholesky_solve",
]


def cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product over the last axis (written out: cheaper than torch.cross for small batches)."""
    a0, a1, a2 = a.unbind(-1)
    b0, b1, b2 = b.unbind(-1)
    return torch.stack((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0), dim=-1)


def skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) with skew(v) @ u == cross(v, u)."""
    z = torch.zeros_like(v[..., 0])
    x, y, w = v.unbind(-1)
    return torch.stack((
        torch.stack((z, -w, y), -1),
        torch.stack((w, z, -x), -1),
        torch.stack((-y, x, z), -1),
    ), -2)


def rodrigues(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation by ``angle`` (...,) about unit ``axis`` (..., 3) -> (..., 3, 3)."""
    K = skew(axis)
    s = torch.sin(angle)[..., None, None]
    c = torch.cos(angle)[..., None, None]
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device)
    return eye + s * K + (1.0 - c) * (K @ K)


def crm(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Spatial motion cross product v x m, both (..., 6)."""
    w, u = v[..., :3], v[..., 3:]
    mw, mu = m[..., :3], m[..., 3:]
    return torch.cat((cross(w, mw), cross(w, mu) + cross(u, mw)), dim=-1)


def crf(v: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Spatial force cross product v x* f, both (..., 6)."""
    w, u = v[..., :3], v[..., 3:]
    fn, ff = f[..., :3], f[..., 3:]
    return torch.cat((cross(w, fn) + cross(u, ff), cross(w, ff)), dim=-1)


def inertia_apply(m: torch.Tensor, h: torch.Tensor, Ibar: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Spatial inertia (m, h, Ibar) times a spatial motion v (..., 6) -> force (..., 6).

    I v = [Ibar w + h x u ; m u - h x w]   for v = [w; u].
    """
    w, u = v[..., :3], v[..., 3:]
    top = (Ibar @ w.unsqueeze(-1)).squeeze(-1) + cross(h, u)
    bottom = m.unsqueeze(-1) * u - cross(h, w)
    return torch.cat((top, bottom), dim=-1)


def cholesky_solve(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve A x = b for a batch of small symmetric positive definite A (N, D, D), b (N, D).

    Written out column by column with batched tensor ops, not with
    ``torch.linalg``: on CUDA those call cuSOLVER/MAGMA, which synchronise
    with the host (an info check) and cannot be captured in a CUDA graph. The
    cost is O(D) batched operations, which for D <= 10 is what we want.
    """
    n = A.shape[-1]
    cols = []  # cols[j]: column j of L below and on the diagonal, (N, n - j)
    for j in range(n):
        c = A[..., j:, j]
        for k in range(j):
            lk = cols[k]  # column k, rows k..n-1
            c = c - lk[..., j - k:] * lk[..., j - k: j - k + 1]
        d = torch.sqrt(c[..., :1])
        cols.append(torch.cat((d, c[..., 1:] / d), dim=-1))
    # Forward substitution L y = b.
    y = []
    for j in range(n):
        acc = b[..., j]
        for k in range(j):
            acc = acc - cols[k][..., j - k] * y[k]
        y.append(acc / cols[j][..., 0])
    # Back substitution L^T x = y.
    x = [None] * n
    for j in reversed(range(n)):
        acc = y[j]
        for k in range(j + 1, n):
            acc = acc - cols[j][..., k - j] * x[k]
        x[j] = acc / cols[j][..., 0]
    return torch.stack(x, dim=-1)
