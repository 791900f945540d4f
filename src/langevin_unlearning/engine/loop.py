"""The one optimisation loop: training, fine-tuning, every unlearning method and relearning run on it.

A caller supplies the loss of one step and, where it needs them, three hooks: ``on_check`` at every check
(per epoch: test accuracy, a trajectory row), ``stop`` after every step (relearning ends when the
threshold is reached), ``after_step`` (a host learning-rate scheduler). The loop does the rest: the
update, the NaN/inf watch, the progress bar, and eager, static or CUDA-graph steps (capture.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .capture import StepRunner
from .steps import LossWatch


def run_steps(
    model: nn.Module,
    loss_fn: Callable[..., Tensor],
    steps: int,
    optimizer,
    *,
    progress: bool,
    desc: str,
    batches: Callable[[int], tuple[Tensor, ...]] | None = None,
    mode: str = "eager",
    generators: Sequence[torch.Generator] = (),
    after_step: Callable[[], None] | None = None,
    check_every: int = 100,
    where: Callable[[int], str] | None = None,
    on_check: Callable[[int, float], dict | None] | None = None,
    stop: Callable[[int], bool] | None = None,
) -> int:
    """Up to ``steps`` updates of ``loss_fn(step)``, or of ``loss_fn(*batches(step))``; returns the steps done.

    With ``batches``, ``batches`` picks the inputs on the host side (e.g. index slices) and ``loss_fn`` does
    device work only, so with ``mode="graphs"`` (and an optimizer from optim.py's device kinds) the whole
    step, update included, is replayed as one CUDA graph; CUDA ``generators`` the step draws from (other
    than the default one) are registered with the graph.

    There is no host sync per step: NaN/inf is caught by a device-side flag read every ``check_every``
    steps, at the end and when stopping, and the one-line error names the first bad step (``where(steps
    done)`` says where, e.g. the epoch; ``desc`` otherwise). After each check ``on_check(steps done, mean
    loss since the last check)`` runs; the dict it returns, if any, is shown on the progress bar.
    ``stop(steps done)`` after a step ends the loop early when true. The model's train/eval mode is the
    caller's: the loop never changes it."""
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
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    try:
        for t in range(steps):
            if runner is None:
                step(t)
            else:
                runner(*batches(t))
            bar.update(1)
            done = t + 1
            stopping = stop is not None and stop(done)
            if done % check_every == 0 or done == steps or stopping:
                mean_loss = watch.check(done, where(done) if where is not None else desc)
                postfix = on_check(done, mean_loss) if on_check is not None else None
                if postfix:
                    bar.set_postfix(**postfix)
            if stopping:
                return done
    finally:
        bar.close()
    return steps
