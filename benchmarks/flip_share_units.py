"""How much the Langevin noise steers the boundary search, in the old units and in the published ones.

For one forget batch of 64 it prints the share of pixel signs that the noise flips in the first search step,
sign(g + gamma z) != sign(g), with the same noise z for both conventions:

    old        g = gradient of the *summed* CE w.r.t. the [0,1] pixels (this toolkit before the fix)
    published  g = gradient of the *batch-mean* CE w.r.t. the normalized input (= old * std / batch size)

and the share of images whose one-step search (eps 0.1, the published setting) crosses f0's boundary.
Models: the test suite's digits model (AllCNN width 0.25, class 3) and a quickly trained Fashion-MNIST
AllCNN (width 0.25, 28x28), both cached under --out.

    python -m benchmarks.flip_share_units --tiny          # digits only, < 1 minute on a CPU
    python -m benchmarks.flip_share_units                 # + Fashion-MNIST, 1 training epoch (a few CPU minutes)
    python -m benchmarks.flip_share_units --paper         # + Fashion-MNIST full AllCNN, 32x32, 15 epochs (a GPU)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from langevin_unlearning.core.device import resolve_device
from langevin_unlearning.data import DataOptions, load_dataset, parse_forget
from langevin_unlearning.engine.train import TrainConfig
from langevin_unlearning.experiments.training import train_run
from langevin_unlearning.methods.boundary_search import drift
from langevin_unlearning.methods.noise import sample_noise
from langevin_unlearning.report.tables import markdown_table, text_table
from langevin_unlearning.store.checkpoint import load_checkpoint, read_meta


def trained(
    out: Path, *, dataset: str, forget: str, width: float, cfg: TrainConfig, image_size: int | None, device
) -> nn.Module:
    if not (out / "model.json").is_file() or read_meta(out).get("forget") != forget:
        train_run(
            dataset=dataset,
            model="allcnn",
            width=width,
            cfg=cfg,
            out=out,
            forget=forget,
            seed=0,
            device=device,
            options=DataOptions(image_size=image_size, seed=0),
            progress=True,
        )
    return load_checkpoint(out, device=device)[0].eval()


def old_gradient(f0: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(nn.functional.cross_entropy(f0(x), y, reduction="sum"), x)
    return g


def measure(
    name: str, f0: nn.Module, dataset: str, forget: str, image_size: int | None, gammas, device, seed: int
) -> list[dict]:
    data = load_dataset(dataset, DataOptions(image_size=image_size, seed=0))
    split = parse_forget(forget, data, seed=0)
    idx = split.train_forget[
        torch.randperm(len(split.train_forget), generator=torch.Generator().manual_seed(seed))[:64]
    ]
    x0, y = (data.train.images[idx].float() / 255).to(device), data.train.labels[idx].to(device)
    grads = {"old": old_gradient(f0, x0, y), "published": drift(f0, x0, x0, y)}
    rows = []
    for gamma in gammas:
        z = sample_noise("normal", x0.shape, torch.Generator(device=device).manual_seed(seed), device)
        row = {"model": name, "gamma": gamma}
        for units, g in grads.items():
            direction = g + gamma * z
            row[f"flip_{units}"] = (direction.sign() != g.sign()).float().mean().item()
            with torch.no_grad():
                row[f"crossed_{units}"] = (
                    (f0((x0 + 0.1 * direction.sign()).clamp(0, 1)).argmax(1) != y).float().mean().item()
                )
        rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="digits only")
    p.add_argument(
        "--paper", action="store_true", help="Fashion-MNIST: full AllCNN at 32x32, 15 epochs, lr 0.01 (a GPU)"
    )
    p.add_argument("--fmnist-epochs", type=int, default=1)
    p.add_argument("--gammas", type=float, nargs="+", default=[0.0, 1e-4, 1e-3])
    p.add_argument("--seed", type=int, default=0, help="which forget batch and noise draw")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=Path("runs/bench_flip_share"))
    args = p.parse_args()
    device = resolve_device(args.device)
    digits = trained(
        args.out / "digits",
        dataset="digits",
        forget="class:3",
        width=0.25,
        cfg=TrainConfig(epochs=10, lr=0.05, batch_size=64),
        image_size=None,
        device=device,
    )
    rows = measure("digits AllCNN w0.25 8x8", digits, "digits", "class:3", None, args.gammas, device, args.seed)
    if not args.tiny:
        width, size, cfg = (
            (1.0, 32, TrainConfig(epochs=15, lr=0.01, batch_size=64))
            if args.paper
            else (0.25, None, TrainConfig(epochs=args.fmnist_epochs, lr=0.05, batch_size=128))
        )
        fmnist = trained(
            args.out / f"fmnist_w{width:g}_s{size or 28}_e{cfg.epochs}",
            dataset="fashionmnist",
            forget="class:0",
            width=width,
            cfg=cfg,
            image_size=size,
            device=device,
        )
        rows += measure(
            f"Fashion-MNIST AllCNN w{width:g} {size or 28}px {cfg.epochs} ep",
            fmnist,
            "fashionmnist",
            "class:0",
            size,
            args.gammas,
            device,
            args.seed,
        )
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"one forget batch of 64, first search step, same noise for both units; device {device} ({where})")
    print(text_table(rows))
    print()
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
