"""Training throughput: this toolkit's loop vs the usual research-code loop (per-sample PIL + DataLoader).

Same model, batch size, data and machine, in one run; prints samples/s for both and the ratio.

    python -m benchmarks.train_throughput                       # CPU-sized: AllCNN width 0.5, batch 64
    python -m benchmarks.train_throughput --width 1 --batch-sizes 64 1024 --precisions bf16 --compile  # a GPU
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from langevin_unlearning.core.device import resolve_device, seed_everything
from langevin_unlearning.data import DataOptions, load_dataset
from langevin_unlearning.engine.train import TrainConfig, train_model
from langevin_unlearning.models import create_model
from langevin_unlearning.report.tables import text_table


def reference_loop(data, model, device, batch_size, steps, size, workers):
    """How research code usually trains on Fashion-MNIST: PIL transforms per sample, a DataLoader."""
    import torchvision.transforms as T
    from PIL import Image

    tf = T.Compose([T.Resize(size), T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip(), T.ToTensor()])

    class PILDataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(data.train)

        def __getitem__(self, i):
            img = Image.fromarray(data.train.images[i, 0].numpy())
            return tf(img), int(data.train.labels[i])

    loader = torch.utils.data.DataLoader(
        PILDataset(),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()
    done, start = 0, None
    for i, (x, y) in enumerate(loader):
        if i == 3:  # warm-up steps excluded
            if device.type == "cuda":
                torch.cuda.synchronize()
            start, done = time.perf_counter(), 0
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += len(y)
        if i >= steps + 3:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return done / (time.perf_counter() - start)


def toolkit_loop(data, model, device, batch_size, steps, precision, compile_):
    cfg = TrainConfig(
        epochs=1, lr=0.01, batch_size=batch_size, precision=precision, compile=compile_, schedule="constant"
    )
    g = seed_everything(0)
    warm = torch.arange(3 * batch_size)
    train_model(model, data, warm, cfg, device=device, generator=g, progress=False)  # warm-up (and compile)
    index = torch.randperm(len(data.train), generator=g)[: steps * batch_size]
    return train_model(model, data, index, cfg, device=device, generator=g, progress=False).samples_per_second


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashionmnist")
    p.add_argument("--image-size", type=int, default=32, help="the original code fed Fashion-MNIST at 32x32")
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers for the reference loop")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    torch.backends.cudnn.benchmark = True
    device = resolve_device(args.device)
    data = load_dataset(args.dataset, DataOptions(image_size=args.image_size))
    size = data.image_shape[-1]

    def fresh():
        torch.manual_seed(0)
        return create_model(
            "allcnn",
            num_classes=data.num_classes,
            in_channels=data.in_channels,
            mean=data.mean,
            std=data.std,
            width=args.width,
        ).to(device)

    print(
        f"{args.dataset} {size}x{size}, AllCNN width {args.width}, {args.steps} steps, device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    rows = []

    def done(row: dict) -> None:  # each row as it finishes (a long run shows progress), the table at the end
        rows.append(row)
        print("  " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)

    for bs in args.batch_sizes:
        ref = reference_loop(data, fresh(), device, bs, args.steps, size, args.workers)
        done({"loop": "reference (PIL + DataLoader, fp32)", "batch": bs, "samples/s": round(ref), "vs reference": 1.0})
        for precision in args.precisions:
            ours = toolkit_loop(data, fresh(), device, bs, args.steps, precision, args.compile)
            name = f"toolkit ({precision}{', compiled' if args.compile else ''})"
            done({"loop": name, "batch": bs, "samples/s": round(ours), "vs reference": round(ours / ref, 2)})
    print(text_table(rows))


if __name__ == "__main__":
    main()
