"""What several chapters' checks share: seeded generators, tensors out of the student's task, the reset counters."""
from __future__ import annotations

import torch

from .core import CheckFailed

__all__ = ["generator", "host_tensor", "judge_reset_counters"]


def generator(seed: int) -> torch.Generator:
    """A CPU generator for a check's cases (cases never depend on the student's code)."""
    return torch.Generator().manual_seed(int(seed))


def host_tensor(x, name: str) -> torch.Tensor:
    """A detached CPU copy of a tensor the student's task holds, or CheckFailed naming ``name``."""
    if not torch.is_tensor(x):
        raise CheckFailed(f"{name} is not a tensor (got {type(x).__name__})")
    return x.detach().to("cpu").clone()


def judge_reset_counters(cases, out):
    """reset_idx(env_ids) zeroed progress_buf and reset_buf of env_ids, and left the others as they were.

    cases: ``env_ids`` (k,), ``progress`` (n,) before the reset (reset_buf was all ones);
    out: ``progress`` and ``reset`` (n,) after it.
    """
    ids, prog0 = cases["env_ids"], cases["progress"]
    n = len(prog0)
    sel = torch.zeros(n, dtype=torch.bool)
    sel[ids] = True
    prog, reset = out["progress"].reshape(-1), out["reset"].reshape(-1)
    if prog.numel() != n or reset.numel() != n:
        raise CheckFailed(f"progress_buf / reset_buf have {prog.numel()} / {reset.numel()} entries, expected {n}")
    if bool((prog[sel] != 0).any()):
        raise CheckFailed(f"reset_idx left progress_buf of {int((prog[sel] != 0).sum())} reset environment(s) "
                          f"non-zero: their new episodes would time out early. The chapter's listing forgets this: "
                          f"add self.progress_buf[env_ids] = 0")
    if bool((prog[~sel] != prog0[~sel]).any()):
        raise CheckFailed("reset_idx changed progress_buf of environments that were not in env_ids")
    if bool((reset[sel] != 0).any()):
        raise CheckFailed("reset_idx left reset_buf set for reset environments (add self.reset_buf[env_ids] = 0)")
    if bool((reset[~sel] == 0).any()):
        raise CheckFailed("reset_idx cleared reset_buf of environments that were not in env_ids")
    return f"{int(sel.sum())} of {n} environments"
