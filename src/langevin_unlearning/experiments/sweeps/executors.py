"""Executors: run independent tasks and hand each result back to the calling process as it finishes.

The calling process owns every store write (one writer, no races); a task only computes. A task is a
top-level function and plain keyword arguments, so the same task runs in this process or on a Ray worker.

    tasks = [Task(key="seed=0", fn=train_one, kwargs={"seed": 0})]
    make_executor(None).run(tasks, on_result=lambda task, result: store.add(task.key, result))
"""

from __future__ import annotations

from collections.abc import Sequence

from tqdm.auto import tqdm

from .tasks import OnResult, Task

__all__ = ["InProcessExecutor", "OnResult", "Task", "make_executor"]


class InProcessExecutor:
    """Runs the tasks one after another in this process (the default)."""

    name = "in-process"

    def run(self, tasks: Sequence[Task], on_result: OnResult, *, progress: bool = True, desc: str = "runs") -> None:
        for task in tqdm(tasks, desc=desc, disable=not progress, dynamic_ncols=True):
            on_result(task, task.fn(**task.kwargs))


def make_executor(ray: str | bool | None = None, **ray_options):
    """``None``/``False``: in-process. ``True`` or ``"auto"``: a local Ray started on demand; an address: that cluster.
    ``ray_options`` go to ``RayExecutor`` (``num_cpus`` for a local Ray, ``gpu_fraction`` per task)."""
    if ray is None or ray is False:
        return InProcessExecutor()
    from .ray_executor import RayExecutor  # imported only when asked for: Ray is an optional extra

    return RayExecutor(None if ray is True or ray == "auto" else str(ray), **ray_options)
