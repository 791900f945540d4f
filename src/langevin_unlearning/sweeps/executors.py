"""Executors: run independent tasks and hand each result back to the calling process as it finishes.

The calling process owns every store write (one writer, no races); a task only computes. A task is a
top-level function and plain keyword arguments, so the same task runs in this process or on a Ray worker.

    tasks = [Task(key="seed=0", fn=train_one, kwargs={"seed": 0})]
    make_executor(None).run(tasks, on_result=lambda task, result: store.add(task.key, result))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm


@dataclass(frozen=True)
class Task:
    key: str  # unique within one run of an executor; what a store records as done
    fn: Callable[..., dict]  # a module-level function (picklable), returning a JSON-able dict
    kwargs: dict[str, Any] = field(default_factory=dict)


OnResult = Callable[[Task, dict], None]


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
