"""One process of a multi-GPU run, started by torchrun: ``python -m course_lib.rl.dist_worker SPEC``.

:func:`course_lib.rl.distributed.launch` starts these; see :mod:`course_lib.rl.distributed` for the whole.
"""
from __future__ import annotations

import os
import pickle
import sys

import torch

from .distributed import RankInfo
from .trainer import _train_process

__all__ = ["main"]


def _record(fn):
    """torchrun's error file for a failed process (its traceback in torchrun's summary), where available."""
    try:
        from torch.distributed.elastic.multiprocessing.errors import record
    except ImportError:  # pragma: no cover
        return fn
    return record(fn)


@_record
def main(argv=None) -> int:
    """One process of a multi-GPU run (started by torchrun; see the module's docstring)."""
    import torch.distributed as dist

    argv = sys.argv[1:] if argv is None else list(argv)
    spec_path = argv[0]
    with open(spec_path, "rb") as f:
        spec = pickle.load(f)
    rank = RankInfo(rank=int(os.environ["RANK"]), local_rank=int(os.environ["LOCAL_RANK"]),
                    world_size=int(os.environ["WORLD_SIZE"]), backend=spec["backend"], kind=spec["kind"])
    if rank.world_size != spec["world_size"]:
        raise RuntimeError(f"torchrun started {rank.world_size} processes, {spec['world_size']} were asked for")
    if rank.kind == "cuda":
        torch.cuda.set_device(rank.local_rank)
        device = f"cuda:{rank.local_rank}"
    else:
        device = "cpu"
    dist.init_process_group(rank.backend, rank=rank.rank, world_size=rank.world_size)
    try:
        result = _train_process(spec["task"], spec["config"], num_envs=spec["num_envs"],
                                iterations=spec["iterations"], device=device, seed=spec["seed"], name=spec["name"],
                                runs_dir=spec["runs_dir"], print_interval=spec["print_interval"], progress=False,
                                verbose=spec["verbose"], callback=None, out=sys.stdout,
                                task_overrides=spec["task_overrides"], rank=rank, stop=spec.get("stop"))
        if rank.rank == 0:
            tmp = os.path.join(os.path.dirname(spec_path), "result.pkl.tmp")
            with open(tmp, "wb") as f:
                pickle.dump(result, f)
            os.replace(tmp, os.path.join(os.path.dirname(spec_path), "result.pkl"))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
