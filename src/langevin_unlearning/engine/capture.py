"""Run one training/unlearning step eagerly, or replay it as a CUDA graph (one graph per input shape).

A *step* is a function of a few device tensors (batch indices, ...) that does only device work: no
``.item()``, no host branching on device values, no allocation that must outlive the call except into
persistent tensors it closes over (model, optimizer state, counters). The same function then runs

* eagerly (CPU, or CUDA with ``--no-graphs``): ``step(*inputs)``;
* ``mode="static"`` (any device, used by the CPU tests): inputs are copied into per-shape static buffers
  and the step reads those buffers, exactly the data flow of a graph replay, without the capture;
* ``mode="graphs"`` (CUDA): the first ``warmup`` calls of each input shape run eagerly on a side stream
  (real steps: they initialise cuDNN autotuning, optimizer state and gradient buffers), the next one is
  captured into a ``torch.cuda.CUDAGraph`` and every later call copies its inputs into the static buffers
  and replays the graph: one launch per step instead of hundreds.

Random numbers inside a captured step come from philox generators whose offsets the graph advances on
each replay; a generator other than CUDA's default one must be registered with the graph
(``generators=``), which needs torch >= 2.5 (older torch: the steps run eagerly, with a warning).

Each distinct input shape (e.g. the last partial batch of a pass) gets its own graph with its own memory
pool, so replay order does not matter and no batch is dropped or padded.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

MODES = ("eager", "static", "graphs")


class StepRunner:
    def __init__(
        self,
        step: Callable[..., object],
        *,
        mode: str = "eager",
        warmup: int = 2,
        generators: Sequence[torch.Generator] = (),
    ):
        if mode not in MODES:
            raise ValueError(f"unknown step mode {mode!r}; use one of {', '.join(MODES)}")
        self.step, self.mode, self.warmup = step, mode, warmup
        self.generators = [g for g in generators if g is not None and g.device.type == "cuda"]
        if mode == "graphs" and self.generators and not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
            warnings.warn(
                "this torch cannot register generators with a CUDA graph (needs torch >= 2.5): running the steps eagerly",
                stacklevel=2,
            )
            self.mode = "eager"
        self._static: dict[tuple, list[Tensor]] = {}
        self._graphs: dict[tuple, torch.cuda.CUDAGraph] = {}
        self._calls: dict[tuple, int] = {}
        self.captured = 0  # how many graphs were captured (for reports and tests)

    @staticmethod
    def _key(inputs: Sequence[Tensor]) -> tuple:
        return tuple((tuple(x.shape), x.dtype) for x in inputs)

    def __call__(self, *inputs: Tensor) -> None:
        if self.mode == "eager":
            self.step(*inputs)
            return
        key = self._key(inputs)
        static = self._static.get(key)
        if static is None:
            static = self._static[key] = [x.clone() for x in inputs]
        else:
            for buf, x in zip(static, inputs):
                buf.copy_(x, non_blocking=True)
        if self.mode == "static":
            self.step(*static)
            return
        graph = self._graphs.get(key)
        if graph is not None:
            graph.replay()
            return
        calls = self._calls.get(key, 0)
        self._calls[key] = calls + 1
        if calls < self.warmup:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.step(*static)
            torch.cuda.current_stream().wait_stream(side)
            return
        graph = torch.cuda.CUDAGraph()
        for g in self.generators:
            graph.register_generator_state(g)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            self.step(*static)
        self._graphs[key] = graph
        self.captured += 1
        graph.replay()  # capture records without running: this replay is the step itself
