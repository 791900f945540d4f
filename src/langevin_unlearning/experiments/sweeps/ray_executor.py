"""Ray executor: each task a remote call; results reach the calling process as they finish (ray.wait).

    RayExecutor(None)                     # a local Ray started on demand (num_cpus: all, or as given)
    RayExecutor("ray://head:10001")       # an existing cluster (langevin-unlearning installed on its nodes)

Tasks receive paths, never models: a worker loads the checkpoints itself. When the cluster has GPUs,
each task asks for ``gpu_fraction`` of one, so several runs share a card. Ray is an optional extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ...core.errors import UserError
from .tasks import OnResult, Task

INSTALL = "pip install 'langevin-unlearning[ray]'"


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"--ray needs Ray, which is not installed; install the extra: {INSTALL}") from None
    return ray


def _call(fn, kwargs):
    """The remote body: run one task's function on its keyword arguments."""
    return fn(**kwargs)


class RayExecutor:
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        gpu_fraction: float = 0.25,
        cpus_per_task: float = 1.0,
    ):
        self.ray = import_ray()
        if not 0 < gpu_fraction <= 1:
            raise UserError(f"gpu_fraction must be in (0, 1], got {gpu_fraction}")
        self.address, self.num_cpus, self.gpu_fraction, self.cpus_per_task = (
            address,
            num_cpus,
            gpu_fraction,
            cpus_per_task,
        )

    def _start(self) -> bool:
        """Connect to (or start) Ray; True if this call started it (and so must shut it down)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        if self.address:
            try:
                ray.init(address=self.address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise UserError(
                    f"cannot connect to the Ray cluster at {self.address} ({str(e).splitlines()[0][:120]}); check the address or drop it for a local Ray"
                ) from None
        else:
            # local workers import this very package (a source checkout or an install), wherever it is
            package_root = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
            ray.init(
                num_cpus=self.num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": path}},
            )
        return True

    def run(self, tasks: Sequence[Task], on_result: OnResult, *, progress: bool = True, desc: str = "runs") -> None:
        if not tasks:
            return
        ray = self.ray
        started = self._start()
        pending: dict = {}
        try:
            gpus = self.gpu_fraction if ray.cluster_resources().get("GPU", 0) > 0 else 0
            remote = ray.remote(_call).options(num_cpus=self.cpus_per_task, num_gpus=gpus, max_retries=0)
            pending = {remote.remote(t.fn, t.kwargs): t for t in tasks}
            with tqdm(total=len(tasks), desc=f"{desc} (ray)", disable=not progress, dynamic_ncols=True) as bar:
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        task = pending.pop(ref)
                        on_result(task, ray.get(ref))
                        bar.update(1)
        finally:
            for ref in pending:  # stopped early (an error, a budget): runs in flight are dropped, not stored
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()
