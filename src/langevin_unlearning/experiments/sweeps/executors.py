"""Executors: run independent tasks and hand each result back to the calling process as it finishes.

The calling process owns every store write (one writer, no races); a task only computes. A task is a
top-level function and plain keyword arguments, so the same task runs in this process or on a Ray worker.

    tasks = [Task(key="seed=0", fn=train_one, kwargs={"seed": 0})]
    make_executor(None).run(tasks, on_result=lambda task, result: store.add(task.key, result))
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from tqdm.auto import tqdm

from .tasks import OnResult, Task

__all__ = ["InProcessExecutor", "OnResult", "ProcessExecutor", "Task", "make_executor"]


class InProcessExecutor:
    """Runs the tasks one after another in this process (the default)."""

    name = "in-process"

    def run(self, tasks: Sequence[Task], on_result: OnResult, *, progress: bool = True, desc: str = "runs") -> None:
        for task in tqdm(tasks, desc=desc, disable=not progress, dynamic_ncols=True):
            on_result(task, task.fn(**task.kwargs))


def _one_thread() -> None:
    """A worker process's start: one torch thread, so that N workers on N cores do not wait on each other's."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


class ProcessExecutor:
    """Runs the tasks in ``workers`` local processes, one torch thread each; results come back as they finish.

    Tasks are handed out one at a time, so when ``on_result`` raises (a budget reached) no further task
    starts: the ones in flight still finish and are handed to ``on_result`` before the exception goes on."""

    name = "processes"

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, tasks: Sequence[Task], on_result: OnResult, *, progress: bool = True, desc: str = "runs") -> None:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        pending, running, stop = iter(tasks), {}, None
        context = multiprocessing.get_context("spawn")  # no forked copies of torch's thread pools
        with (
            ProcessPoolExecutor(self.workers, mp_context=context, initializer=_one_thread) as pool,
            tqdm(total=len(tasks), desc=desc, disable=not progress, dynamic_ncols=True) as bar,
        ):

            def submit() -> None:
                task = next(pending, None)
                if task is not None:
                    running[pool.submit(task.fn, **task.kwargs)] = task

            for _ in range(self.workers):
                submit()
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = running.pop(future)
                    bar.update()
                    try:
                        on_result(task, future.result())
                    except Exception as e:  # noqa: BLE001 - kept, re-raised once the tasks in flight are in
                        stop = stop or e
                    if stop is None:
                        submit()
        if stop is not None:
            raise stop


def make_executor(ray: str | bool | None = None, *, workers: int = 1, **ray_options):
    """``None``/``False``: in-process (``workers`` > 1: that many local processes). ``True`` or ``"auto"``: a local Ray started on demand; an address: that cluster.
    ``ray_options`` go to ``RayExecutor`` (``num_cpus`` for a local Ray, ``gpu_fraction`` per task)."""
    if ray is None or ray is False:
        return ProcessExecutor(workers) if workers > 1 else InProcessExecutor()
    from .ray_executor import RayExecutor  # imported only when asked for: Ray is an optional extra

    return RayExecutor(None if ray is True or ray == "auto" else str(ray), **ray_options)
