"""The demo's Langevin unlearning step on a loaded CPU: a base commit vs this checkout, and `--help` start-up.

Trains the demo's two models once (digits, AllCNN width 0.25, class 3 left out; one thread, with the base
code so both versions read them), then times ``langevin-unlearn unlearn`` (the default ``langevin`` method),
a fresh process each time, while one busy-loop process per core (``python -c "while True: pass"``) keeps
every core loaded. Base, new and new with ``OMP_NUM_THREADS=1`` take turns, best of N; then the new code once
more on an idle machine with ``OMP_NUM_THREADS=1``; then ``langevin-unlearn --help`` of both on an idle machine.

    python -m benchmarks.loaded --tiny            # dry run: two training epochs, a short unlearning (~1 minute)
    python -m benchmarks.loaded --rounds 3        # the demo's full unlearning step (base under load: minutes)
    python -m benchmarks.loaded --base c18d560

The thread variables (OMP_NUM_THREADS, MKL_NUM_THREADS, OMP_WAIT_POLICY) are removed for the loaded runs,
so each version picks its own default; "unlearn s" is the unlearning step itself (``unlearn_seconds``),
"wall s" the whole command (start-up, loading, evaluation included).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cpu_steps import export_base

REPO = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
DEMO = ["--dataset", "digits", "--model", "allcnn", "--width", "0.25", "--forget", "class:3"]
DEMO_TRAIN = ["--lr", "0.05", "--batch-size", "64"]


def env_for(src: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    return {**env, "PYTHONPATH": str(src), **extra}


def cli(src: Path, args: list[str], *, timeout: float, **extra) -> tuple[float, subprocess.CompletedProcess | None]:
    """Seconds one ``langevin-unlearn`` process took, and its result (None: it ran past ``timeout``)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "langevin_unlearning.cli", *args],
            capture_output=True,
            text=True,
            env=env_for(src, **extra),
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, None
    if done.returncode != 0:
        raise RuntimeError(f"langevin-unlearn {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
    return time.perf_counter() - start, done


def train_pair(src: Path, out: Path, epochs: int) -> tuple[Path, Path]:
    runs = out / "original", out / "retrained"
    for run, extra in zip(runs, ([], ["--exclude-forget"])):
        if not (run / "model.json").exists():
            cli(src, ["train", *DEMO, *DEMO_TRAIN, "--epochs", str(epochs), *extra, "--no-progress", "--out", str(run)],
                timeout=1800, OMP_NUM_THREADS="1")  # fmt: skip
    return runs


def unlearn_once(src: Path, runs, work: Path, tag: str, method_flags: list[str], timeout: float, **extra) -> dict:
    """One ``unlearn`` process: its wall seconds and the unlearning step's own (None where it timed out)."""
    name = f"bench-{tag}"
    shutil.rmtree(work / "runs" / name, ignore_errors=True)
    (work / "results" / f"{name}.csv").unlink(missing_ok=True)
    args = ["unlearn", "--original", str(runs[0]), "--retrain", str(runs[1]), "--forget", "class:3"]
    args += [*method_flags, "--name", name, "--runs-dir", str(work / "runs"), "--results-dir", str(work / "results")]
    wall, done = cli(src, [*args, "--device", "cpu", "--no-progress"], timeout=timeout, **extra)
    if done is None:
        return {"wall": wall, "unlearn": None, "timed_out": True}
    with open(work / "results" / f"{name}.csv") as f:
        row = next(csv.DictReader(f))
    return {"wall": wall, "unlearn": float(row["unlearn_seconds"]), "timed_out": False}


def best(results: list[dict]) -> dict:
    done = [r for r in results if not r["timed_out"]]
    return min(done, key=lambda r: r["unlearn"]) if done else max(results, key=lambda r: r["wall"])


def cell(r: dict, key: str) -> str:
    return f">{r['wall']:.1f}" if r["timed_out"] else f"{r[key]:.2f}"


class BusyLoops:
    """One ``while True: pass`` process per core for as long as the ``with`` block runs."""

    def __init__(self, n: int):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(2.0)  # let them start spinning
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="main", help="commit to compare against (default main)")
    p.add_argument("--rounds", type=int, default=3, help="loaded runs per version, interleaved; the best counts")
    p.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy-loop processes (default: one per CPU)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before one unlearn run counts as '>T'")
    p.add_argument("--tiny", action="store_true", help="dry run: 2 training epochs, 1 pass of >= 5 steps, 1 round")
    p.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = p.parse_args(argv)
    rounds = 1 if args.tiny else args.rounds
    timeout = min(args.timeout, 60) if args.tiny else args.timeout
    method_flags = ["--epochs", "1", "--min-steps", "5"] if args.tiny else []
    versions = {"base": export_base(args.base), "new": REPO / "src"}
    work = args.keep or Path(tempfile.mkdtemp(prefix="langevin_loaded_"))
    print(f"load before: {open('/proc/loadavg').read().split()[:3]}; work folder {work}", flush=True)
    runs = train_pair(versions["base"], work / "pair", epochs=2 if args.tiny else 12)

    loaded = {"base": [], "new": [], "new-1": []}
    with BusyLoops(args.busy):
        for r in range(rounds):
            for name in ("base", "new", "new-1") if r % 2 == 0 else ("new-1", "new", "base"):
                one = {"OMP_NUM_THREADS": "1"} if name == "new-1" else {}
                got = unlearn_once(versions[name.split("-")[0]], runs, work, name, method_flags, timeout, **one)
                loaded[name].append(got)
                print(f"  loaded round {r + 1} {name}: {cell(got, 'unlearn')} s unlearn, {cell(got, 'wall')} s wall",
                      flush=True)  # fmt: skip
    idle = [unlearn_once(versions["new"], runs, work, "idle", method_flags, timeout, OMP_NUM_THREADS="1")]

    helps = {}
    for name, src in versions.items():
        helps[name] = min(cli(src, ["--help"], timeout=300)[0] for _ in range(3))

    rows = [
        ("base, loaded", best(loaded["base"])),
        ("new, loaded", best(loaded["new"])),
        ("new, loaded, OMP_NUM_THREADS=1", best(loaded["new-1"])),
        ("new, idle, OMP_NUM_THREADS=1", best(idle)),
    ]
    print(f"\n{'demo langevin unlearning':32s} {'unlearn s':>10s} {'wall s':>10s}")
    for label, r in rows:
        print(f"{label:32s} {cell(r, 'unlearn'):>10s} {cell(r, 'wall'):>10s}")
    print(f"\n{'langevin-unlearn --help, idle':32s} {'base s':>10s} {'new s':>10s}")
    print(f"{'best of 3':32s} {helps['base']:10.2f} {helps['new']:10.2f}")
    print(
        f"\nbase {args.base}; {args.busy} busy loop(s) on {os.cpu_count()} CPUs; best of {rounds} loaded round(s)"
        f"{' (dry run: --tiny)' if args.tiny else ''}; load after: {open('/proc/loadavg').read().split()[:3]}"
    )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
