"""Small batched geometry and spatial-algebra helpers, environment axis last.

Layout: every quantity keeps its small axes first and the environment axis
last, contiguous: a 3-vector per body is ``(D, 3, N)``, a rotation
``(D, 3, 3, N)``. Each operation is then a few elementwise kernels over long
contiguous rows of N values, which vectorise on a CPU and coalesce on a GPU,
instead of many tiny 3x3 products.

Spatial vectors are 6-vectors ``[angular; linear]`` (axis ``-2``) in *world*
coordinates, expressed at the world origin (Featherstone's Plücker
coordinates with the frame fixed in the world). In one fixed frame the
recursions of RNEA and CRBA become sums over ancestors or descendants.

A rigid body's spatial inertia about the world origin is kept as three parts
that simply add when bodies are lumped together:

- ``m``: mass, ``(..., N)``
- ``h``: first moment ``m * c`` (c: centre of mass), ``(..., 3, N)``
- ``Ibar``: second moment about the origin ``I_c + m (|c|^2 E - c c^T)``,
  ``(..., 3, 3, N)``
"""
from __future__ import annotations

import torch

__all__ = ["cross", "matvec", "matmul", "crm", "crf", "inertia_apply", "cholesky_solve"]


def cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product over axis -2 (vectors (..., 3, N)); written out, 3x faster than linalg.cross here."""
    a0, a1, a2 = a.unbind(-2)
    b0, b1, b2 = b.unbind(-2)
    return torch.stack((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0), dim=-2)


def matvec(M: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3, N) times (..., 3, N) -> (..., 3, N)."""
    return (M * v.unsqueeze(-3)).sum(-2)


def matmul(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3, N) times (..., 3, K, N) -> (..., 3, K, N)."""
    return (A.unsqueeze(-2) * B.unsqueeze(-4)).sum(-3)


def crm(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Spatial motion cross product v x m, both (..., 6, N)."""
    w, u = v[..., :3, :], v[..., 3:, :]
    mw, mu = m[..., :3, :], m[..., 3:, :]
    return torch.cat((cross(w, mw), cross(w, mu) + cross(u, mw)), dim=-2)


def crf(v: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Spatial force cross product v x* f, both (..., 6, N)."""
    w, u = v[..., :3, :], v[..., 3:, :]
    fn, ff = f[..., :3, :], f[..., 3:, :]
    return torch.cat((cross(w, fn) + cross(u, ff), cross(w, ff)), dim=-2)


def inertia_apply(m: torch.Tensor, h: torch.Tensor, Ibar: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Spatial inertia (m, h, Ibar) times a spatial motion v (..., 6, N) -> force (..., 6, N).

    I v = [Ibar w + h x u ; m u - h x w]   for v = [w; u].
    """
    w, u = v[..., :3, :], v[..., 3:, :]
    h = h.expand_as(w)
    top = matvec(Ibar, w) + cross(h, u)
    bottom = m.unsqueeze(-2) * u - cross(h, w)
    return torch.cat((top, bottom), dim=-2)


def cholesky_solve(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve A x = b for small symmetric positive definite A (D, D, N) and b (D, N).

    Written out column by column with tensor ops over the environment axis,
    not with ``torch.linalg``: on CUDA that calls cuSOLVER/MAGMA, which
    synchronise with the host and cannot be captured in a CUDA graph, and on
    a CPU it is a LAPACK call per environment. O(D) steps of a few kernels.
    """
    n = A.shape[0]
    L = torch.zeros_like(A)
    for j in range(n):
        c = A[j:, j]
        if j:
            c = c - (L[j:, :j] * L[j, :j].unsqueeze(0)).sum(1)
        d = torch.sqrt(c[0])
        L[j:, j] = c / d
    y = torch.empty_like(b)
    for j in range(n):
        acc = b[j] - (L[j, :j] * y[:j]).sum(0) if j else b[j]
        y[j] = acc / L[j, j]
    x = torch.empty_like(b)
    for j in reversed(range(n)):
        acc = y[j] - (L[j + 1:, j] * x[j + 1:]).sum(0) if j < n - 1 else y[j]
        x[j] = acc / L[j, j]
    return x
