"""The boundary search for the updates ahead, run in large batches before the updates that use it.

f0 is frozen and in eval mode, so where an image's search ends and which label f0 gives it there depend
only on the image, the lamda of the update that will use it and the search noise: not on the student, the
update order or the other images in its batch. So the search for a pass runs before the pass, over the
images in the order the pass will draw them, in chunks of ``search_batch``; each update then gathers its
targets, and the update step is left with the student's passes.

* **Units** stay the published ones: an image's gradient is that of the batch-mean CE over a batch of
  ``batch_size`` (the setting), whatever chunk computes it (the chunk's summed CE / ``batch_size``), so a
  given gamma means what it means in a per-update search. (The last, partial batch of a pass is the one
  difference: its images are weighted 1/batch_size too, not 1/its length; with lamda 0 sign() makes the
  scale irrelevant.)
* **Noise** is drawn per search step for the whole window at once, so a seed gives the same result for
  any ``search_batch``. The random stream differs from a per-update search's; its distribution does not.
* **Search once where the search is deterministic**: without noise and with a constant lamda (Boundary
  Shrink, gamma 0) the targets of an image do not change from pass to pass, so they are computed once for
  the whole forget set and every pass reuses them. For Boundary Shrink the labels and perturbed images
  equal a per-update search's (tested on CPU).
* **Lamda schedules** keep their meaning: the shuffle of a pass is drawn when the pass starts, so each
  image is searched with the lamda of the update that will use it.
* **Memory**: a window holds x0, x and the noise of the images it searches (3 floats per pixel); a pass
  whose window would exceed ``WINDOW_BYTES`` is searched in windows of fewer updates. The stored targets
  are one label (or one probability row) per image. ``stats`` records the peak.
* f0 runs in an **inference form**: a copy with BatchNorm folded into the convolutions and no weight
  gradients (outputs and input gradients equal f0's to float rounding), 1.2-1.6x faster on the CPU.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..core.threads import for_batches
from ..engine.batches import BatchStream, batch_input
from .boundary_search import SearchDiagnostics, search_step
from .kept_class import HeldOutConfidence, calibrated_targets
from .noise import sample_noise

# MEASURED on a 2-core AMD EPYC, one thread, AllCNN width 0.25 (fused): input gradients per second peak near batch
# 256 at 8x8 (1.6x batch 64) and near 64 at 28x28, where larger batches fall out of cache: so about this many pixels
# per batch, between the update batch and CPU_SEARCH_BATCH
CPU_SEARCH_BATCH = 256
CPU_SEARCH_PIXELS = 1 << 14
GPU_SEARCH_BATCH_MAX = 16384
WINDOW_BYTES = 1 << 30  # x0, x and noise of one search window


def inference_form(f0: nn.Module) -> nn.Module:
    """A copy of eval-mode ``f0`` with BatchNorm folded into the preceding convolutions and no parameter
    gradients; ``f0`` itself as a frozen copy where the model cannot be traced."""
    frozen = copy.deepcopy(f0).eval().requires_grad_(False)
    try:
        from torch.fx.experimental.optimization import fuse

        return fuse(frozen).requires_grad_(False)
    except Exception:  # a model torch.fx cannot trace (e.g. data-dependent control flow) runs unfused
        return frozen


def default_search_batch(f0: nn.Module, x0: Tensor, y: Tensor, batch_size: int) -> int:
    """The CPU's measured best for this image size; on CUDA as many images as a quarter of the free memory holds
    (measured on one batch of ``batch_size``)."""
    if x0.device.type != "cuda":
        return max(batch_size, min(CPU_SEARCH_BATCH, CPU_SEARCH_PIXELS // x0[0].numel()))
    probe = x0[:batch_size]
    torch.cuda.synchronize(x0.device)
    before = torch.cuda.memory_allocated(x0.device)
    torch.cuda.reset_peak_memory_stats(x0.device)
    search_step(f0, probe, probe, y[:batch_size], eps=0.0, alpha=0.0)
    per_image = max(1, (torch.cuda.max_memory_allocated(x0.device) - before) // len(probe))
    free, _ = torch.cuda.mem_get_info(x0.device)
    return int(max(batch_size, min(GPU_SEARCH_BATCH_MAX, free // 4 // per_image)))


def new_targets(
    logits: torch.Tensor, soft: bool, top_k: int | None, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Hard labels argmax f0(x_K), or f0's softmax (top-k renormalized). With ``exclude`` (the true labels)
    that class is ruled out: where the search did not cross the boundary, the label is still the nearest wrong class."""
    if exclude is not None:
        logits = logits.float().scatter(1, exclude[:, None], float("-inf"))
    if not soft:
        return logits.argmax(1)
    probs = logits.float().softmax(1)
    if top_k is not None and top_k < probs.shape[1]:
        keep = probs.topk(top_k, dim=1).indices
        probs = torch.zeros_like(probs).scatter_(1, keep, probs.gather(1, keep))
        probs = probs / probs.sum(1, keepdim=True)
    return probs


class SearchAhead:
    """Targets for every update, searched ahead. ``next_batch(t)`` (host side, before update t) returns the
    update's forget indices and the keys of its targets; ``targets(key)`` (device work only, inside the step)
    gathers them. The store of targets is allocated once, so a captured CUDA graph reads it in place.

    A *window* is what one search covers: the whole forget set once (deterministic search), several whole
    passes (noise, constant lamda: every image of a pass is searched once, in any order, so passes are
    searched together as the forget set repeated), or the rest of one pass in the order it will be drawn (a
    lamda schedule, the last and partial pass, or a pass too big for ``WINDOW_BYTES``)."""

    def __init__(
        self,
        f0: nn.Module,
        forget: BatchStream,
        s,
        *,
        total: int,
        lamdas: list[float] | None,
        generator: torch.Generator,
        diagnostics: SearchDiagnostics | None,
        progress: bool = False,
        kept: Tensor | None = None,
        held_out: HeldOutConfidence | None = None,
    ):
        self.progress = progress
        # per forget image: its class stays in the remain data, so its target is calibrated (kept_class.py)
        self.kept, self.held_out = kept, held_out
        self.f0, self.forget, self.s, self.total, self.lamdas = inference_form(f0), forget, s, total, lamdas
        self.generator, self.diagnostics, self.device = generator, diagnostics, forget.device
        self.search_batch = s.search_batch
        self.n, self.per_pass = len(forget.index), forget.steps_per_pass()
        self.pixels = batch_input(forget.images, forget.index[:1], self.device)[0].numel()
        self.budget_images = max(forget.batch_size, WINDOW_BYTES // (3 * 4 * self.pixels))  # x0, x, noise
        self.once = s.gamma == 0 and lamdas is None  # no noise, one lamda: the same targets every pass
        # whole passes one window holds (0: a pass is bigger than the budget, searched in ordered windows)
        self.passes = 0 if self.once else min(self.budget_images // self.n, -(-total // self.per_pass))
        self.capacity = self.n * max(1, self.passes)
        self.store: Tensor | None = None  # the targets, allocated at the first search
        self.crossed: Tensor | None = None  # once: whether f0 relabels each image (counted at every use)
        self.ordered, self.window_start, self.window_end = False, 0, 0
        self.stats = {"search_images": 0, "search_seconds": 0.0, "search_peak_mib": 0.0}
        self.calibrated = [0.0, 0]  # sum and count of the true-class mass of calibrated targets

    # ------------------------------------------------------------------------------------------ host side
    def next_batch(self, t: int) -> tuple[Tensor, Tensor]:
        f, b = self.forget, self.forget.batch_size
        if t >= self.window_end:
            self._next_window(t)
        pos = f.next_position()
        if self.ordered:
            first = (t - self.window_start) * b
            key = torch.arange(first, first + len(pos), device=self.device)
        else:  # slot = the pass's block in the window (once: the one block) + the image's position in the forget set
            block = 0 if self.once else (t - self.window_start) // self.per_pass
            key = pos.to(self.device) + self.n * block
        return f.index[pos], key

    def _next_window(self, t: int) -> None:
        f, b, s = self.forget, self.forget.batch_size, self.s
        every = torch.arange(self.n, device=f.index.device)
        if self.once:
            for first in range(0, self.n, self.budget_images):
                self._search(every[first : first + self.budget_images], s.lamda, slot=first)
            self.window_start, self.window_end = t, self.total
            return
        at_pass_start = len(f.order) == 0
        whole_passes = (self.total - t) // self.per_pass
        if self.lamdas is None and at_pass_start and whole_passes >= 1 and self.passes >= 1:
            passes = min(whole_passes, self.passes)
            self._search(every.repeat(passes), s.lamda, slot=0)
            self.ordered, self.window_start, self.window_end = False, t, t + passes * self.per_pass
            return
        upcoming = f.upcoming()  # the pass's shuffle is drawn now, as the next batch would draw it
        updates = min(max(1, self.budget_images // b), -(-len(upcoming) // b), self.total - t)
        pos = upcoming[: updates * b]
        lamda = s.lamda
        if self.lamdas is not None:  # each image searched with the lamda of the update that will use it
            per_image = torch.tensor(self.lamdas[t : t + updates], dtype=torch.float32).repeat_interleave(b)
            lamda = per_image[: len(pos)].view(-1, 1, 1, 1).to(self.device)
        self._search(pos, lamda, slot=0)
        self.ordered, self.window_start, self.window_end = True, t, t + updates

    def _search(self, pos: Tensor, lamda: float | Tensor, *, slot: int) -> None:
        """Search the forget images at positions ``pos`` (all K steps); store their targets from ``slot`` on."""
        s, f, started = self.s, self.forget, time.perf_counter()
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        idx = f.index[pos]
        x0 = batch_input(f.images, idx, self.device)
        y = f.labels[idx.to(self.device)]
        self.search_batch = chunk = self.search_batch or default_search_batch(self.f0, x0, y, f.batch_size)
        record = None if self.once else self.diagnostics  # once: counted at every use instead (``targets``)
        with for_batches(chunk):  # large batches: the CLI's thread policy may give them more threads than updates
            x, logits = self._steps(x0, y, lamda, chunk, record)
            at_x0 = self._logits(x0, chunk) if self.kept is not None else None  # where calibrated targets split
        targets = new_targets(logits, s.soft_labels, s.top_k, exclude=y if s.wrong_class_only else None)
        if self.kept is not None:
            kept = self.kept[pos.to(self.kept.device)].to(self.device)
            targets = calibrated_targets(targets, logits, at_x0, y, kept, self.held_out)
            self.calibrated[0] += targets[kept].gather(1, y[kept][:, None]).sum().item()
            self.calibrated[1] += int(kept.sum())
        if self.store is None:
            self.store = torch.empty((self.capacity, *targets.shape[1:]), dtype=targets.dtype, device=self.device)
            self.crossed = torch.zeros(self.n, dtype=torch.bool, device=self.device) if self.once else None
        self.store[slot : slot + len(targets)].copy_(targets)
        if self.once:
            self.crossed[slot : slot + len(y)] = logits.argmax(1) != y
        elif record is not None:
            record.record_crossing(logits, y)
        if cuda:
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = 3 * x.numel() * x.element_size() + self.store.numel() * self.store.element_size()
        self.stats["search_images"] += len(pos)
        self.stats["search_seconds"] += time.perf_counter() - started
        self.stats["search_peak_mib"] = max(self.stats["search_peak_mib"], round(peak / 2**20, 2))

    def _steps(self, x0: Tensor, y: Tensor, lamda, chunk: int, record) -> tuple[Tensor, Tensor]:
        """x_K and f0's logits there: K steps over the whole window (each step's noise drawn at once), chunk by chunk."""
        s = self.s
        x = x0.clone()
        chunks = _chunks(len(x), chunk)
        bar = tqdm(
            total=s.steps * len(chunks), desc="search", disable=not self.progress, leave=False, dynamic_ncols=True
        )
        for _ in range(s.steps):
            z = sample_noise(s.noise, x.shape, self.generator, x.device) if s.gamma else None
            for c in chunks:
                bar.update(1)
                x[c] = search_step(
                    self.f0,
                    x[c],
                    x0[c],
                    y[c],
                    eps=s.eps,
                    alpha=s.step_size,
                    lamda=lamda[c] if isinstance(lamda, Tensor) else lamda,
                    gamma=s.gamma,
                    z=z[c] if z is not None else None,
                    quantize=s.quantize,
                    mean_over=self.forget.batch_size,
                    diagnostics=record,
                )
        bar.close()
        return x, self._logits(x, chunk)

    @torch.no_grad()
    def _logits(self, x: Tensor, chunk: int) -> Tensor:
        """f0's logits on ``x``, chunk by chunk."""
        return torch.cat([self.f0(x[c]) for c in _chunks(len(x), chunk)])

    # ---------------------------------------------------------------------------------------- device side
    def targets(self, key: Tensor) -> Tensor:
        if self.once and self.diagnostics is not None:  # one search serves every pass: count each use
            d = self.diagnostics
            d.crossed += torch.count_nonzero(self.crossed[key])
            d.images += len(key)
            d.signs += self.s.steps * self.pixels * len(key)
        return self.store[key]

    def summary(self) -> dict:
        """What the search cost: images searched, seconds, peak memory (MiB) and the batch it ran at."""
        out = {
            **self.stats,
            "search_seconds": round(self.stats["search_seconds"], 3),
            "search_batch": self.search_batch,
        }
        if self.calibrated[1]:
            out["kept_class_target_conf"] = round(self.calibrated[0] / self.calibrated[1], 4)
        return out


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]
