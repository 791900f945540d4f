"""Building blocks the methods share: endless shuffled batches, and a sync-free optimisation loop with checks."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..data import ImageDataset
from ..engine.capture import StepRunner
from ..core.device import device_generator
from ..engine.steps import LossWatch
from ..engine.train import batch_input, on_device
from ..core.validation import one_of


BN_MODES = ("train", "frozen")  # BatchNorm while unlearning: running statistics updated, or frozen (eval mode)
SCHEDULES = ("constant", "cosine")

# the two choices many methods' settings share; their numbers take the shared rules (validation.named)
BN = one_of(BN_MODES, "bn mode")
SCHEDULE = one_of(SCHEDULES, "schedule")


class BatchStream:
    """Endless (x, y) batches from ``index``: reshuffled each pass, seeded, already on the device in [0,1].

    The shuffle is made on the device once per pass (from a device generator seeded by ``generator``; on
    the CPU ``generator`` itself), so drawing a batch is a slice: no host-device copy, no sync."""

    def __init__(self, data: ImageDataset, index: Tensor, batch_size: int, *, device: torch.device, generator: torch.Generator, images=None):
        if len(index) == 0:
            raise ValueError("BatchStream needs a non-empty index")
        self.images = images if images is not None else on_device(data.train.images, device)
        self.labels = data.train.labels.to(device)
        resident = isinstance(self.images, Tensor) and self.images.device == device
        self.index = index.to(device) if resident else index  # lazy images are gathered by host indices
        self.batch_size, self.device = batch_size, device
        self.generator = device_generator(generator, device) if resident else generator
        self.order = self.index[:0]

    def next_index(self) -> Tensor:
        if len(self.order) == 0:
            self.order = self.index[torch.randperm(len(self.index), generator=self.generator, device=self.index.device)]
        idx, self.order = self.order[: self.batch_size], self.order[self.batch_size :]
        return idx

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """(x, y) at ``idx`` (from ``next_index``): device work only, so it can sit inside a captured step."""
        return batch_input(self.images, idx, self.device), self.labels[idx.to(self.device, non_blocking=True)]

    def __next__(self) -> tuple[Tensor, Tensor]:
        return self.batch(self.next_index())

    def __iter__(self):
        return self

    def steps_per_pass(self) -> int:
        return -(-len(self.index) // self.batch_size)


def optimise(
    model: nn.Module,
    loss_fn: Callable[..., Tensor],
    steps: int,
    optimizer,
    *,
    progress: bool,
    desc: str,
    params: Iterable[nn.Parameter] | None = None,
    after_step: Callable[[], None] | None = None,
    check_every: int = 100,
    batches: Callable[[int], tuple[Tensor, ...]] | None = None,
    mode: str = "eager",
    generators: Sequence[torch.Generator] = (),
) -> nn.Module:
    """``steps`` updates of ``loss_fn(step)``; stops with a one-line error if the loss becomes NaN/inf.

    No host sync per step: NaN/inf is caught by a device-side flag (``LossWatch``) read every
    ``check_every`` steps and at the end, and the error names the first bad step. With ``batches``, the
    step is ``loss_fn(*batches(step))``: ``batches`` picks the inputs on the host side (e.g. index
    slices) and the rest is device work, so with ``mode="graphs"`` (and a ``DeviceSGD`` optimizer) the
    whole step, update included, is replayed as one CUDA graph (see capture.py); CUDA ``generators`` the
    step draws from (other than the default one) are registered with the graph."""
    watch = LossWatch(next(model.parameters()).device)

    def step(*inputs: Tensor) -> None:
        loss = loss_fn(*inputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        watch.add(loss)

    runner = StepRunner(step, mode=mode, generators=generators) if batches is not None else None
    for t in tqdm(range(steps), desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        if runner is None:
            step(t)
        else:
            runner(*batches(t))
        if (t + 1) % check_every == 0 or t + 1 == steps:
            watch.check(t + 1, desc)
    return model.eval()


def random_wrong_labels(y: Tensor, num_classes: int, generator: torch.Generator) -> Tensor:
    """A uniformly random label different from each true label (never the true class)."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator).to(y.device)
    return (y + shift) % num_classes
