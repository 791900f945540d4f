"""SalUn (Fan et al., ICLR 2024): random-label unlearning restricted to the weights salient for the forget set.

  1. Saliency: the gradient of the forget loss, CE summed over every forget image, at the original model (in
     eval mode), w.r.t. every parameter. The mask keeps the weights whose |gradient| is among the largest
     (1 - ``sparsity``) fraction, one global threshold across all parameters (the paper's 50% sparsity).
  2. Random labelling on the masked weights: passes over forget + remain images, shuffled together, where each
     forget image gets a random wrong label (drawn afresh each time it is seen) and remain images keep theirs.
     Gradients, weight decay included, are multiplied by the mask before every SGD step, so the weights outside
     the mask keep their exact original values (their momentum stays zero). BatchNorm running statistics are
     buffers, not weights: in ``bn="train"`` they follow the data, as in the published code.

Defaults are the published setting (SalUn code, ResNet-18 on CIFAR-10): mask ``with_0.5``, SGD lr 0.013,
momentum 0.9, weight decay 5e-4, 10 epochs, batches of 256. Labels there are uniform over all classes; here they
are always wrong (``random_wrong_labels``), so no update re-teaches a true label. 10 passes over digits (1437
images) are 60 updates, which forget a digits class; ``min_steps`` (50) only lengthens runs on smaller sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..core.errors import UserError
from ..core.validation import Validated, at_least, in_range, named
from ..engine.batches import BatchStream, batch_input, on_device
from ..engine.loop import run_steps
from .base import UnlearningMethod, register_method
from .common import BN, random_wrong_labels

PRESETS = {
    # SalUn code (Classification/README): RL with mask with_0.5, lr 0.013, 10 epochs; batch 256, momentum 0.9, wd 5e-4
    "paper": dict(sparsity=0.5, lr=0.013, momentum=0.9, weight_decay=5e-4, epochs=10, min_steps=0, batch_size=256),
}


@dataclass
class SalunSettings(Validated):
    sparsity: float = (
        0.5  # fraction of weights left frozen; the rest (largest |forget gradient|) is updated (paper: 50%)
    )
    lr: float = 0.013  # SalUn code: 0.013
    momentum: float = 0.9  # SalUn code
    weight_decay: float = 5e-4  # SalUn code; applied to the salient weights only
    epochs: int = 10  # passes over forget + remain (SalUn code: 10)
    min_steps: int = 50  # at least this many updates, for sets smaller than digits (published: none)
    batch_size: int = 256  # SalUn code
    mask_batch_size: int = 256  # batch size of the saliency gradient (the sum does not depend on it)
    bn: str = "train"  # BatchNorm during unlearning: "train" (as published) or "frozen" statistics

    RULES = {
        "sparsity": in_range(0, 1),
        **named("lr", "momentum", "weight_decay", "epochs", "min_steps", "batch_size"),
        "mask_batch_size": at_least(1),
        "bn": BN,
    }


def saliency_mask(
    model: nn.Module, data, index: Tensor, sparsity: float, device: torch.device, batch_size: int = 256
) -> dict[str, Tensor]:
    """Boolean mask per parameter name: True for the weights whose |d CE(forget) / dw| is among the largest
    (1 - ``sparsity``) fraction of all weights (one global threshold; ties broken by position, deterministically).

    CE is summed over the training images at ``index``, in eval mode (``model``'s mode is restored after). The
    gradient is taken on detached copies of the weights: ``model``'s ``.grad`` and ``requires_grad`` are untouched."""
    if not 0 <= sparsity < 1:
        raise UserError(f"sparsity must be in [0, 1), got {sparsity}")
    if len(index) == 0:
        raise UserError("the forget set is empty: no saliency to compute")
    params = {n: p.detach().to(device).requires_grad_(True) for n, p in model.named_parameters()}
    buffers = {n: b.to(device) for n, b in model.named_buffers()}
    grads = {n: torch.zeros_like(p) for n, p in params.items()}
    was_training = model.training
    model.eval()
    images, labels = on_device(data.train.images, device), data.train.labels.to(device)
    try:
        with torch.enable_grad():
            for idx in index.split(batch_size):
                logits = functional_call(model, (params, buffers), (batch_input(images, idx, device),))
                loss = nn.functional.cross_entropy(logits, labels[idx.to(device)], reduction="sum")
                for g, d in zip(grads.values(), torch.autograd.grad(loss, list(params.values()))):
                    g.add_(d)
    finally:
        model.train(was_training)
    scores = torch.cat([g.abs().flatten() for g in grads.values()])
    keep = int(round((1 - sparsity) * scores.numel()))
    flat = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    flat[torch.sort(scores, descending=True, stable=True).indices[:keep]] = True
    return {n: m.view_as(g) for (n, g), m in zip(grads.items(), flat.split([g.numel() for g in grads.values()]))}


class MaskedSGD(torch.optim.SGD):
    """SGD whose gradient (weight decay included) is multiplied by a 0/1 mask before each step."""

    def __init__(
        self, params: list[nn.Parameter], masks: list[Tensor], *, lr: float, momentum: float, weight_decay: float
    ):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=0.0)
        self.masked = [(p, m.to(p.dtype)) for p, m in zip(params, masks)]
        self.decay = weight_decay

    @torch.no_grad()
    def step(self, closure=None):
        for p, m in self.masked:
            if p.grad is not None:
                if self.decay:
                    p.grad.add_(p, alpha=self.decay)
                p.grad.mul_(m)
        return super().step(closure)


@register_method
class Salun(UnlearningMethod):
    name = "salun"
    paper = "Fan et al., SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency, ICLR 2024"
    Settings = SalunSettings

    def run(self, model, original, data, split, *, device, seed, progress):
        s: SalunSettings = self.settings
        mask = saliency_mask(model, data, split.train_forget, s.sparsity, device, s.mask_batch_size)
        named = [(n, p) for n, p in model.named_parameters() if n in mask]
        opt = MaskedSGD(
            [p for _, p in named],
            [mask[n] for n, _ in named],
            lr=s.lr,
            momentum=s.momentum,
            weight_decay=s.weight_decay,
        )
        shuffle = torch.Generator().manual_seed(seed)
        relabel = torch.Generator().manual_seed(seed + 1)
        every = torch.cat([split.train_forget, split.train_remain]).sort().values
        stream = BatchStream(data, every, s.batch_size, device=device, generator=shuffle)
        is_forget = torch.zeros(len(data.train), dtype=torch.bool)
        is_forget[split.train_forget] = True
        total = max(s.epochs * stream.steps_per_pass(), s.min_steps)
        model.train(s.bn == "train")

        def loss_at(t: int) -> Tensor:
            idx = stream.next_index()
            x, y = batch_input(stream.images, idx, device), stream.labels[idx.to(device)].clone()
            forget = is_forget[idx].to(device)
            y[forget] = random_wrong_labels(y[forget], data.num_classes, relabel)
            return nn.functional.cross_entropy(model(x), y)

        run_steps(model, loss_at, total, opt, progress=progress, desc="salun")
        return model.eval()
