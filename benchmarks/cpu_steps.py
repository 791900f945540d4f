"""CPU step rates and whole unlearning runs of this checkout vs a base commit, measured interleaved in one run.

The base commit's ``src/`` is exported with ``git archive`` into a temporary folder; two long-lived worker
processes import one version each (PYTHONPATH) and take turns measuring the same configuration, so a busy
shared CPU slows both alike. Prints the seconds of both and the speed-up (base seconds / new seconds), per
configuration.

    python -m benchmarks.cpu_steps --tiny                  # dry run: digits only, a few steps (~1 minute)
    python -m benchmarks.cpu_steps --rounds 3              # digits and Fashion-MNIST sizes (~10 minutes on 2 busy cores)
    python -m benchmarks.cpu_steps --base c280cf8 --threads 2
    python -m benchmarks.cpu_steps --configs runs --rounds 3 --base c18d560   # the whole-run configurations

Configurations: training (``train_model``, fp32) of AllCNN width 0.25 on digits (8x8), width 0.25 on
Fashion-MNIST 28x28 and 32x32, full width on Fashion-MNIST 32x32, all at batch 64; the same with the CLI's
default precision for this CPU; unlearning (the default ``langevin`` method, remain term included) at digits
and Fashion-MNIST 28x28 sizes. The ``run`` configurations time one whole ``method.unlearn`` call at the
method's defaults (boundary search included, wherever it runs): the digits demo's forget set (class 3, AllCNN
0.25), and one pass of the CPU-sized Fashion-MNIST recipe (class 0, 6000 images, 28x28, AllCNN 0.25) for the
default ``langevin`` and for ``--preset paper``. The models are seeded, untrained: the time does not depend
on the weights (accuracies are the tests' business).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASE_DEFAULT = "c280cf8"  # the baseline these step rates were first compared against (docs/results/cpu-steps.md)

CONFIGS = {
    # name: (kind, dataset, image_size, width, batch, steps)
    "train digits w0.25": ("train", "digits", None, 0.25, 64, 40),
    "train fmnist 28 w0.25": ("train", "fashionmnist", 28, 0.25, 64, 12),
    "train fmnist 32 w0.25": ("train", "fashionmnist", 32, 0.25, 64, 10),
    "train fmnist 32 w1 (full)": ("train", "fashionmnist", 32, 1.0, 64, 3),
    # the CLI's default precision on this CPU (base: always fp32; new: bf16 where the CPU has native bf16)
    "train fmnist 28 w0.25, CLI default precision": ("train-default", "fashionmnist", 28, 0.25, 64, 12),
    "train digits w0.25, CLI default precision": ("train-default", "digits", None, 0.25, 64, 40),
    "langevin digits w0.25": ("langevin", "digits", None, 0.25, 64, 20),
    "langevin fmnist 28 w0.25": ("langevin", "fashionmnist", 28, 0.25, 64, 6),
}
# whole runs: name: (dataset, image_size, width, forget spec, method, settings beyond the method's defaults)
RUNS = {
    "run langevin digits (demo)": ("digits", None, 0.25, "class:3", "langevin", {}),
    "run boundary-shrink digits (demo)": ("digits", None, 0.25, "class:3", "boundary-shrink", {}),
    "run scrub digits (demo)": ("digits", None, 0.25, "class:3", "scrub", {}),
    "run langevin fmnist 28 w0.25, one pass": (
        "fashionmnist",
        28,
        0.25,
        "class:0",
        "langevin",
        {"epochs": 1, "min_steps": 0},
    ),
    "run langevin --preset paper fmnist 28 w0.25, one pass": (
        "fashionmnist",
        28,
        0.25,
        "class:0",
        "langevin",
        {"preset": "paper", "epochs": 1},
    ),
}
TINY = {"train digits w0.25": 6, "langevin digits w0.25": 4, "run boundary-shrink digits (demo)": 1}


# ----------------------------------------------------------------------------------------------- worker
def worker(threads: int) -> None:
    """Read one configuration name per line on stdin, answer one JSON line {"steps_per_s": ...}."""
    import torch

    torch.set_num_threads(threads)
    from langevin_unlearning.core.device import resolve_precision, seed_everything
    from langevin_unlearning.data import parse_forget
    from langevin_unlearning.engine.train import TrainConfig, train_model
    from langevin_unlearning.methods import create_method

    cache = {}
    cpu = torch.device("cpu")
    for line in sys.stdin:
        req = json.loads(line)
        if req["config"] in RUNS:
            print(json.dumps({"seconds": time_run(*RUNS[req["config"]], cache=cache)}), flush=True)
            continue
        kind, dataset, size, width, batch, _ = CONFIGS[req["config"]]
        steps = req["steps"]
        data, model = data_and_model(dataset, size, width, cache)
        if kind.startswith("train"):
            precision = resolve_precision(None, cpu) if kind == "train-default" else "fp32"
            cfg = TrainConfig(epochs=1, lr=0.01, batch_size=batch, precision=precision)
            g = seed_everything(0)
            train_model(model, data, torch.arange(2 * batch), cfg, device=cpu, generator=g, progress=False)  # warm-up
            index = torch.randperm(len(data.train), generator=g)[: steps * batch]
            r = train_model(model, data, index, cfg, device=cpu, generator=g, progress=False)
            rate = steps / r.seconds
        else:
            spec = "class:3" if dataset == "digits" else "class:0:0.05"
            split = parse_forget(spec, data, seed=0)
            model.eval()
            create_method("langevin", epochs=1, min_steps=2, batch_size=batch).unlearn(
                model, data, split, device=cpu, seed=0, progress=False
            )  # warm-up
            method = create_method("langevin", epochs=1, min_steps=steps, batch_size=batch)
            n = max(-(-len(split.train_forget) // batch), steps)
            t0 = time.perf_counter()
            method.unlearn(model, data, split, device=cpu, seed=0, progress=False)
            rate = n / (time.perf_counter() - t0)
        print(json.dumps({"seconds": steps / rate}), flush=True)


def data_and_model(dataset, size, width, cache):
    """The dataset (loaded once per process) and a seeded, untrained AllCNN of ``width`` for it."""
    import torch

    from langevin_unlearning.data import DataOptions, load_dataset
    from langevin_unlearning.models import create_model

    if (dataset, size) not in cache:
        cache[dataset, size] = load_dataset(dataset, DataOptions(image_size=size))
    data = cache[dataset, size]
    torch.manual_seed(0)
    model = create_model(
        "allcnn", num_classes=data.num_classes, in_channels=data.in_channels, mean=data.mean, std=data.std, width=width
    )
    return data, model


def time_run(dataset, size, width, spec, method_name, settings, *, cache) -> float:
    """Seconds of one whole ``unlearn`` call of ``method_name`` at its defaults (+ ``settings``)."""
    import torch

    from langevin_unlearning.data import parse_forget
    from langevin_unlearning.methods import create_method
    from langevin_unlearning.methods.langevin import PRESETS

    data, model = data_and_model(dataset, size, width, cache)
    model.eval()
    settings = dict(settings)
    preset = settings.pop("preset", None)
    settings = {**(PRESETS[preset] if preset else {}), **settings}
    split = parse_forget(spec, data, seed=0)
    method = create_method(method_name, **settings)
    t0 = time.perf_counter()
    method.unlearn(model, data, split, device=torch.device("cpu"), seed=0, progress=False)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------------------------- driver
def export_base(commit: str) -> Path:
    """``src/`` of ``commit`` in a temporary folder (cached by commit)."""
    sha = subprocess.run(
        ["git", "rev-parse", commit], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    root = Path(tempfile.gettempdir()) / f"langevin_unlearning_base_{sha[:12]}"
    if not (root / "src" / "langevin_unlearning").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", sha, "src"], cwd=REPO, capture_output=True, check=True
        ).stdout
        with tempfile.TemporaryFile() as f:
            f.write(archive)
            f.seek(0)
            with tarfile.open(fileobj=f) as tar:
                tar.extractall(root, filter="data")
    return root / "src"


class Worker:
    def __init__(self, src: Path, threads: int):
        env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": str(threads)}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def measure(self, config: str, steps: int) -> float:
        self.proc.stdin.write(json.dumps({"config": config, "steps": steps}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker died measuring {config}")
        return json.loads(line)["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default=BASE_DEFAULT, help=f"commit to compare against (default {BASE_DEFAULT})")
    p.add_argument("--rounds", type=int, default=2, help="measurements per configuration and version (interleaved)")
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads in both workers (default 1: less noise on a shared CPU)"
    )
    p.add_argument(
        "--configs",
        nargs="+",
        default=None,
        help="subset of: " + "; ".join([*CONFIGS, *RUNS]) + "; or runs (every run)",
    )
    p.add_argument("--tiny", action="store_true", help="digits only, a few steps, one round")
    p.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.threads)
        return 0
    every = {**{c: CONFIGS[c][-1] for c in CONFIGS}, **{r: 1 for r in RUNS}}
    chosen = args.configs or list(CONFIGS)
    if chosen == ["runs"]:
        chosen = list(RUNS)
    configs = dict(TINY) if args.tiny else {c: every[c] for c in chosen}
    rounds = 1 if args.tiny else args.rounds
    versions = {"base": export_base(args.base), "new": REPO / "src"}
    workers = {name: Worker(src, args.threads) for name, src in versions.items()}
    rows = []
    try:
        for config, steps in configs.items():
            got = {"base": [], "new": []}
            for r in range(rounds):
                for name in ("base", "new") if r % 2 == 0 else ("new", "base"):  # alternate who goes first
                    got[name].append(workers[name].measure(config, steps))
            base, new = min(got["base"]), min(got["new"])  # best of the rounds: the least disturbed
            rows.append(
                {
                    "config": config,
                    "base_seconds": round(base, 3),
                    "new_seconds": round(new, 3),
                    "speedup": round(base / new, 3),
                    "speedups_per_round": [round(b / n, 3) for n, b in zip(got["new"], got["base"])],
                }
            )
            print(
                f"{config:55s} base {base:8.2f} s  new {new:8.2f} s  speed-up {base / new:5.2f}x  (rounds: {rows[-1]['speedups_per_round']})",
                flush=True,
            )
    finally:
        for w in workers.values():
            w.close()
    import platform

    import torch

    print(
        f"\nbase {args.base}, {args.threads} torch thread(s) each, {rounds} interleaved round(s), {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (best of the rounds; read the speed-ups, not the absolute times), torch {torch.__version__}"
    )
    if args.out:
        sys.path.insert(0, str(REPO / "src"))
        from langevin_unlearning.store.atomic import write_json

        write_json(args.out, {"base": args.base, "threads": args.threads, "rounds": rounds, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
