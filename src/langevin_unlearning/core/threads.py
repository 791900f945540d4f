"""How many CPU threads torch uses: a policy that never makes a run slower than one thread would.

Intra-op threads only pay when every thread gets a core: on a busy machine they spin-wait on each
other (a digits demo step took 180x longer at load 6-10 on 2 cores), and a tiny model gains little from
a second thread even on an idle machine. In order, the count is:

* ``asked``: ``langevin-unlearn --threads N``;
* ``env``: ``OMP_NUM_THREADS`` (or ``MKL_NUM_THREADS``), as set;
* ``tiny model``: one thread when pixels x model width (x batch / 64) is at most ``TINY_WORK``;
* ``load``: physical cores minus the 1-minute load of other processes (rounded, at least 1).

The policy is on only inside ``automatic()`` (the CLI wraps every command in it): a library caller's own
``torch.set_num_threads`` is never overridden, and importing this package changes no thread state. This
module imports no torch at the top, so the CLI can settle the OpenMP wait policy before torch loads.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

# MEASURED on an idle 2-core AMD EPYC, AllCNN width 0.25: one step at batch 64 (bf16) at digits 8x8 (work 16)
# 1.0-1.27x faster with 2 threads than 1, Fashion-MNIST 28x28 (work 196) 1.4-1.6x; the digits boundary search
# at batch 256 (work 64) 1.75x. A second thread is worth the risk of spin-waiting under load only above this.
TINY_WORK = 32  # image height x width x model width x batch / 64: 8x8 at width 0.5 and batch 64

REASONS = ("asked", "env", "tiny model", "load", "caller")

_START = (time.monotonic(), time.process_time())  # this process's own share of the load, measured from here
_active: dict | None = None  # inside automatic(): {"asked": the --threads count or None}


@dataclass(frozen=True)
class ThreadChoice:
    count: int
    reason: str  # one of REASONS; "caller": outside automatic(), torch's count as the caller left it


def physical_cores() -> int:
    """Physical CPU cores (not hyper-threads) this process may use."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    try:
        cores = set()
        for cpu in os.sched_getaffinity(0):
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list") as f:
                cores.add(f.read().strip())
        return max(1, min(usable, len(cores)))
    except (OSError, AttributeError):
        return max(1, usable)


def work_size(image_shape, model_width: float | None, batch: int = 64) -> float:
    """Work of a convolutional step, in the units of TINY_WORK: image pixels x model width x batch / 64."""
    height, width = image_shape[-2], image_shape[-1]
    return float(height * width * (model_width or 1.0) * batch / 64)


def own_load() -> float:
    """Cores this process kept busy on average since it started: part of the load average, not others' work."""
    wall = time.monotonic() - _START[0]
    return (time.process_time() - _START[1]) / wall if wall > 1.0 else 0.0


def other_load() -> float:
    """The 1-minute load average less this process's own share (0 where the OS has no load average)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0
    return max(0.0, load - own_load())


def env_threads() -> int | None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        text = os.environ.get(name, "").strip()
        if text:
            try:
                return max(1, int(text))
            except ValueError:
                continue  # not a number: torch warns about it and ignores it, and so does the policy
    return None


def choose_threads(work: float | None = None, *, asked: int | None = None) -> ThreadChoice:
    """The thread count for a run of per-sample ``work`` (``work_size``; None: unknown), and why."""
    if asked is not None:
        return ThreadChoice(int(asked), "asked")
    env = env_threads()
    if env is not None:
        return ThreadChoice(env, "env")
    if work is not None and work <= TINY_WORK:
        return ThreadChoice(1, "tiny model")
    cores = physical_cores()
    idle = max(1, cores - round(other_load()))
    return ThreadChoice(min(cores, idle), "load")


def use_threads(work: float | None = None) -> ThreadChoice:
    """Inside ``automatic()``: choose by the policy and set torch's count. Outside: leave torch as it is."""
    if _active is None:
        return ThreadChoice(_torch_threads(), "caller")
    _active["work"] = work
    choice = choose_threads(work, asked=_active["asked"])
    if choice.reason == "env":  # torch took it from the environment when it loaded: as the user left it
        return ThreadChoice(_torch_threads(), "env")
    import torch

    torch.set_num_threads(choice.count)
    return choice


@contextlib.contextmanager
def automatic(asked: int | None = None):
    """Turn the policy on (``asked``: ``--threads``); on exit, torch's previous count is back (in-process callers)."""
    global _active
    before, torch_before = _active, _torch_threads() if "torch" in sys.modules else None
    _active = {"asked": asked}
    try:
        yield
    finally:
        _active = before
        if torch_before is not None:
            sys.modules["torch"].set_num_threads(torch_before)


@contextlib.contextmanager
def for_batches(batch: int):
    """Inside ``automatic()``, once the run's work is known: the count for that work done in batches of
    ``batch`` instead of 64 (the boundary search runs at 256, where a second thread pays even for a digits
    model whose updates get one); the run's count is back after. Elsewhere nothing changes."""
    work = None if _active is None else _active.get("work")
    choice = None if work is None else choose_threads(work * batch / 64, asked=_active["asked"])
    if choice is None or choice.reason in ("asked", "env"):
        yield
        return
    before = _torch_threads()
    sys.modules["torch"].set_num_threads(choice.count)
    try:
        yield
    finally:
        sys.modules["torch"].set_num_threads(before)


def passive_wait() -> None:
    """OpenMP threads that sleep instead of spinning when they wait: a busy core is not taken from others.

    Read once, when torch's OpenMP runtime starts (later it changes nothing, so it is left alone then);
    a value the user set stands."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
