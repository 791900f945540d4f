"""Device check: one run, about 5 minutes on one GPU, every figure beside its baseline.

Prints (and writes ``--out``/gpu_check.json and gpu_check.md):

1. training samples/s at batch 64 and 1024, fp32 and bf16, full AllCNN on Fashion-MNIST 32x32:
   the PIL + DataLoader reference loop (research code), a plain eager loop on GPU-resident data, this
   toolkit's loop eagerly (``--no-graphs``) and captured as CUDA graphs (``--graphs``);
2. the paper-config Langevin unlearning (940 steps, forget class 0) eagerly and captured: seconds (and how
   many of them the boundary search took, run ahead of the updates), and the forget / remain test accuracy
   of each, so speed never hides a broken result;
3. the paper-config retraining (full AllCNN, 32x32, batch 64, 15 epochs, on the remain set) in the fastest
   toolkit mode of section 1, with its test accuracy (fewer epochs, extrapolated and said so, if the budget
   is short).

Each section runs in its own process (``--isolate``, the default on CUDA) with a time limit, so a failed or
hung CUDA-graph capture costs that section only; every section that is skipped or fails says so and why.

    python -m benchmarks.gpu_check --data-dir ./data --out results/gpu_check      # one H100: ~4-5 minutes
    python -m benchmarks.gpu_check --tiny --device cpu --out /tmp/gpu_check       # CPU dry run: seconds

How to read it: see docs/performance.md ("Deciding the defaults").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from torch import nn

from langevin_unlearning.core.device import resolve_device, seed_everything
from langevin_unlearning.data import DataOptions, load_dataset, parse_forget
from langevin_unlearning.engine.predict import accuracy
from langevin_unlearning.engine.train import TrainConfig, train_model
from langevin_unlearning.models import create_model
from langevin_unlearning.report.tables import markdown_table, text_table
from langevin_unlearning.store.atomic import write_json, write_text

SECTIONS = ("throughput-eager", "throughput-graphs", "langevin", "retrain")
# rough share of the whole budget each section may use (the rest is start-up and slack)
SHARE = {"throughput-eager": 0.22, "throughput-graphs": 0.12, "langevin": 0.22, "retrain": 0.40}


def sizes(args) -> dict:
    """What each section measures: the paper's Fashion-MNIST sizes, or digits-sized for --tiny (CPU test)."""
    if args.tiny:
        return dict(
            dataset="digits",
            image_size=None,
            width=0.1,
            batch_sizes=[16, 64],
            steps={16: 3, 64: 2},
            workers=0,
            original_epochs=1,
            original_batch=64,
            original_lr=0.05,
            retrain_epochs=1,
            forget="class:3",
            langevin=dict(epochs=1, min_steps=4),
        )
    return dict(
        dataset="fashionmnist",
        image_size=32,
        width=1.0,
        batch_sizes=[64, 1024],
        steps={64: 300, 1024: 60},
        workers=4,
        original_epochs=4,
        original_batch=256,
        original_lr=0.05,
        retrain_epochs=15,
        forget="class:0",
        langevin={},
    )


# ----------------------------------------------------------------------------------------------- loops
def fresh_model(data, width, device):
    torch.manual_seed(0)
    return create_model(
        "allcnn", num_classes=data.num_classes, in_channels=data.in_channels, mean=data.mean, std=data.std, width=width
    ).to(device)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(data, model, device, batch_size, steps, precision):
    """The plainest fast loop: float data resident on the device, on-device shuffle, no augmentation,
    torch.optim.SGD, channels_last. What a careful hand-written script gets (the issue's 13.9k samples/s)."""
    x_all = (data.train.images.to(device).float() / 255).contiguous(memory_format=torch.channels_last)
    y_all = data.train.labels.to(device)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    order = torch.randperm(len(y_all), device=device)
    warm = 3
    for i in range(steps + warm):
        if i == warm:
            sync(device)
            start = time.perf_counter()
        idx = order[(i * batch_size) % (len(order) - batch_size) :][:batch_size]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = nn.functional.cross_entropy(model(x_all[idx]), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def toolkit_loop(data, model, device, batch_size, steps, precision, mode):
    """``train_model`` as users run it, over ``steps`` full batches (after a short warm-up run)."""
    cfg = TrainConfig(epochs=1, lr=0.01, batch_size=batch_size, precision=precision, schedule="cosine")
    g = seed_everything(0)
    train_model(
        model, data, torch.arange(3 * batch_size), cfg, device=device, generator=g, progress=False, mode=mode
    )  # cuDNN autotuning
    index = torch.randperm(len(data.train), generator=g)[: steps * batch_size]
    result = train_model(model, data, index, cfg, device=device, generator=g, progress=False, mode=mode)
    return result.samples_per_second


# ----------------------------------------------------------------------------------------------- sections
class Partial:
    """Rows of one section, written to disk after each measurement so a crash keeps what was done."""

    def __init__(self, path: Path | None):
        self.path, self.rows, self.notes = path, [], []

    def add(self, row: dict) -> None:
        self.rows.append(row)
        print("  " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        self.flush()

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)
        self.flush()

    def flush(self) -> None:
        if self.path is not None:
            write_json(self.path, {"rows": self.rows, "notes": self.notes})


def guarded(out: Partial, what: str, fn):
    """Run one measurement; a failure becomes a note (and the CUDA state is re-synchronised if possible)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - a device check reports every failure and carries on
        out.note(f"{what} FAILED: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
        traceback.print_exc(file=sys.stdout)
        try:
            sync(torch.device("cuda")) if torch.cuda.is_available() else None
        except Exception:  # noqa: BLE001
            pass
        return None


def section_throughput(args, device, data, out: Partial, graphs: bool, deadline: float):
    s = sizes(args)
    from benchmarks import (
        train_throughput,  # the PIL + DataLoader reference loop, shared with benchmarks/train_throughput.py
    )

    size = data.image_shape[-1]
    for bs in s["batch_sizes"]:
        steps = s["steps"][bs]
        if not graphs:
            if time.perf_counter() > deadline:
                out.note(f"batch {bs}: skipped (section time limit)")
                continue
            ref = guarded(
                out,
                f"reference loop, batch {bs}",
                lambda: train_throughput.reference_loop(
                    data, fresh_model(data, s["width"], device), device, bs, steps, size, s["workers"]
                ),
            )
            if ref is not None:
                out.add(
                    {
                        "loop": "reference: PIL + DataLoader",
                        "batch": bs,
                        "precision": "fp32",
                        "samples_per_s": round(ref),
                    }
                )
        for precision in ("fp32", "bf16"):
            if time.perf_counter() > deadline:
                out.note(f"batch {bs} {precision}: skipped (section time limit)")
                continue
            if graphs:
                sps = guarded(
                    out,
                    f"toolkit graphs, batch {bs}, {precision}",
                    lambda: toolkit_loop(
                        data, fresh_model(data, s["width"], device), device, bs, steps, precision, "graphs"
                    ),
                )
                if sps is not None:
                    out.add(
                        {
                            "loop": "toolkit, CUDA graphs",
                            "batch": bs,
                            "precision": precision,
                            "samples_per_s": round(sps),
                        }
                    )
                continue
            sps = guarded(
                out,
                f"plain eager loop, batch {bs}, {precision}",
                lambda: plain_loop(data, fresh_model(data, s["width"], device), device, bs, steps, precision),
            )
            if sps is not None:
                out.add(
                    {
                        "loop": "plain eager loop (resident data, no augmentation)",
                        "batch": bs,
                        "precision": precision,
                        "samples_per_s": round(sps),
                    }
                )
            sps = guarded(
                out,
                f"toolkit eager, batch {bs}, {precision}",
                lambda: toolkit_loop(
                    data, fresh_model(data, s["width"], device), device, bs, steps, precision, "eager"
                ),
            )
            if sps is not None:
                out.add({"loop": "toolkit, eager", "batch": bs, "precision": precision, "samples_per_s": round(sps)})


def section_langevin(args, device, data, out: Partial, deadline: float):
    from langevin_unlearning.methods import create_method
    from langevin_unlearning.methods.langevin import PRESETS, LangevinSettings

    s = sizes(args)
    split = parse_forget(s["forget"], data, seed=0)
    original = fresh_model(data, s["width"], device)
    cfg = TrainConfig(
        epochs=s["original_epochs"],
        lr=s["original_lr"],
        batch_size=s["original_batch"],
        precision=args.precision or "fp32",
    )
    r = train_model(
        original,
        data,
        torch.arange(len(data.train)),
        cfg,
        device=device,
        generator=seed_everything(0),
        progress=False,
        mode="eager",
    )
    every = torch.arange(len(data.test))
    out.add(
        {
            "model": f"original ({cfg.epochs} epochs, batch {cfg.batch_size}, eager)",
            "seconds": round(r.seconds, 2),
            "test_acc": round(accuracy(original, data.test.images, data.test.labels, every, device), 4),
            "forget_acc": round(accuracy(original, data.test.images, data.test.labels, split.test_forget, device), 4),
            "remain_acc": round(accuracy(original, data.test.images, data.test.labels, split.test_remain, device), 4),
        }
    )
    has_graphs = "graphs" in {f for f in LangevinSettings.__dataclass_fields__}
    for mode in ("eager", "graphs"):
        if time.perf_counter() > deadline:
            out.note(f"langevin {mode}: skipped (section time limit)")
            continue
        if mode == "graphs" and (not has_graphs or device.type != "cuda"):
            out.note(
                "langevin graphs: skipped ("
                + ("no CUDA device" if device.type != "cuda" else "this build has no graphs setting")
                + ")"
            )
            continue
        settings = {**PRESETS["paper"], **s["langevin"], **({"graphs": mode == "graphs"} if has_graphs else {})}

        def run():
            method = create_method("langevin", **settings)
            sync(device)
            t0 = time.perf_counter()
            unlearned = method.unlearn(original, data, split, device=device, seed=0, progress=False)
            sync(device)
            return unlearned, time.perf_counter() - t0, method.diagnostics

        got = guarded(out, f"langevin {mode}", run)
        if got is None:
            continue
        unlearned, seconds, diagnostics = got
        steps = max(
            settings.get("epochs", 10) * math.ceil(len(split.train_forget) / settings.get("batch_size", 64)),
            settings.get("min_steps", 0),
        )
        out.add(
            {
                "model": f"langevin paper preset, {mode}",
                "steps": steps,
                "seconds": round(seconds, 3),
                "ms_per_step": round(1000 * seconds / steps, 3),
                # the boundary search runs ahead of the updates: its share of the time, its batch and memory
                **{
                    k: diagnostics[k] for k in ("search_seconds", "search_batch", "search_peak_mib") if k in diagnostics
                },
                "forget_acc": round(
                    accuracy(unlearned, data.test.images, data.test.labels, split.test_forget, device), 4
                ),
                "remain_acc": round(
                    accuracy(unlearned, data.test.images, data.test.labels, split.test_remain, device), 4
                ),
            }
        )


def section_retrain(
    args, device, data, out: Partial, deadline: float, mode: str, precision: str, samples_per_s: float | None
):
    s = sizes(args)
    split = parse_forget(s["forget"], data, seed=0)
    full = s["retrain_epochs"]
    epochs = full
    if (
        samples_per_s
    ):  # fit the budget: predicted seconds per epoch from section 1 (plus 10% for the epoch's evaluation)
        per_epoch = 1.1 * len(split.train_remain) / samples_per_s
        room = deadline - time.perf_counter() - 10
        epochs = max(1, min(full, int(room // per_epoch)))
    cfg = TrainConfig(epochs=epochs, lr=0.01, batch_size=64, precision=precision)
    model = fresh_model(data, s["width"], device)
    r = train_model(
        model,
        data,
        split.train_remain,
        cfg,
        device=device,
        generator=seed_everything(0),
        eval_index=torch.arange(len(data.test)),
        progress=False,
        mode=mode,
    )
    row = {
        "run": f"retrain, {epochs} of {full} epochs, batch 64, {mode}, {precision}",
        "seconds": round(r.seconds, 2),
        "seconds_for_all_epochs": round(r.seconds * full / epochs, 1),
        "extrapolated": epochs < full,
        "samples_per_s": round(r.samples_per_second),
        "test_acc_per_epoch": [round(a, 4) for a in r.test_acc],
        "remain_acc": round(accuracy(model, data.test.images, data.test.labels, split.test_remain, device), 4),
        "forget_acc": round(accuracy(model, data.test.images, data.test.labels, split.test_forget, device), 4),
        "never_drew_a_forget_image": bool(r.seen[split.train_forget].sum() == 0),
    }
    out.add(row)
    if epochs < full:
        out.note(
            f"retraining ran {epochs} of {full} epochs (cosine schedule over {epochs}); its time is extrapolated x{full / epochs:.2f}, its accuracy is that of the shorter run"
        )


# ----------------------------------------------------------------------------------------------- driver
def load(args):
    s = sizes(args)
    return load_dataset(s["dataset"], DataOptions(data_dir=args.data_dir, image_size=s["image_size"]))


def run_section(args, name: str, deadline: float, partial_path: Path | None, extra: dict) -> dict:
    """Run one section in this process; return {"rows", "notes"}."""
    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = True
    data = load(args)
    out = Partial(partial_path)
    if name in ("throughput-eager", "throughput-graphs"):
        if name == "throughput-graphs" and device.type != "cuda":
            out.note("skipped: CUDA graphs need a CUDA device")
        else:
            section_throughput(args, device, data, out, graphs=name == "throughput-graphs", deadline=deadline)
    elif name == "langevin":
        section_langevin(args, device, data, out, deadline)
    elif name == "retrain":
        section_retrain(
            args,
            device,
            data,
            out,
            deadline,
            extra.get("mode", "eager"),
            extra.get("precision", "fp32"),
            extra.get("samples_per_s"),
        )
    return {"rows": out.rows, "notes": out.notes}


def run_isolated(args, name: str, limit: float, extra: dict) -> dict:
    """The section in a child process with a hard time limit; what it wrote before dying is kept."""
    with tempfile.TemporaryDirectory() as tmp:
        partial = Path(tmp) / "section.json"
        cmd = (
            [
                sys.executable,
                "-m",
                "benchmarks.gpu_check",
                "--section",
                name,
                "--section-out",
                str(partial),
                "--section-extra",
                json.dumps(extra),
                "--budget-seconds",
                str(max(limit - 5, 5)),
                "--device",
                args.device,
            ]
            + (["--tiny"] if args.tiny else [])
            + (["--data-dir", str(args.data_dir)] if args.data_dir else [])
            + (["--precision", args.precision] if args.precision else [])
        )
        try:
            proc = subprocess.run(
                cmd, timeout=limit, env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=Path(__file__).resolve().parents[1]
            )
            status = "ok" if proc.returncode == 0 else f"child exited with status {proc.returncode}"
        except subprocess.TimeoutExpired:
            status = f"killed at its time limit ({limit:.0f} s)"
        got = json.loads(partial.read_text()) if partial.is_file() else {"rows": [], "notes": []}
        if status != "ok":
            got["notes"].append(status)
        return got


def best_training(rows: list[dict]) -> tuple[str, str, float | None]:
    """The fastest toolkit mode and precision at batch 64 (what retraining then uses)."""
    ours = [r for r in rows if r.get("batch") == 64 and str(r.get("loop", "")).startswith("toolkit")]
    if not ours:
        return "eager", "fp32", None
    best = max(ours, key=lambda r: r["samples_per_s"])
    return ("graphs" if "graphs" in best["loop"] else "eager"), best["precision"], best["samples_per_s"]


def environment(device: torch.device) -> dict:
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
        env["cuda"] = torch.version.cuda
    else:
        env["cpu"] = platform.processor() or platform.machine()
    return env


def markdown(report: dict) -> str:
    lines = [
        f"# gpu_check ({'tiny, ' if report['tiny'] else ''}{report['environment'].get('gpu', report['environment']['device'])})",
        "",
        "```",
        json.dumps(report["environment"], indent=1),
        "```",
        "",
    ]
    for name, sec in report["sections"].items():
        lines += [f"## {name}: {sec['status']} ({sec.get('seconds', 0):.0f} s)", ""]
        if sec["rows"]:
            columns = list(dict.fromkeys(k for row in sec["rows"] for k in row))  # every row's, in first-seen order
            lines += [markdown_table(sec["rows"], columns), ""]
        lines += [f"- {n}" for n in sec["notes"]] + [""]
    lines += ["## decision inputs", "", "```", json.dumps(report["decision"], indent=1), "```", ""]
    return "\n".join(lines)


def decision(sections: dict) -> dict:
    """The numbers that set device.py's CUDA_GRAPHS_DEFAULT and CUDA_PRECISION_DEFAULT (docs/performance.md)."""
    rows = sections.get("throughput-eager", {}).get("rows", []) + sections.get("throughput-graphs", {}).get("rows", [])
    by = {(r["loop"], r["batch"], r["precision"]): r["samples_per_s"] for r in rows}
    out = {}
    for bs in sorted({r["batch"] for r in rows}):
        for p in ("fp32", "bf16"):
            e, g = by.get(("toolkit, eager", bs, p)), by.get(("toolkit, CUDA graphs", bs, p))
            ref = by.get(("reference: PIL + DataLoader", bs, "fp32"))
            if e and g:
                out[f"graphs/eager batch {bs} {p}"] = round(g / e, 2)
            best = max([v for v in (e, g) if v] or [0])
            if ref and best:
                out[f"best toolkit/reference batch {bs} {p}"] = round(best / ref, 2)
        e32, e16 = by.get(("toolkit, eager", bs, "fp32")), by.get(("toolkit, eager", bs, "bf16"))
        if e32 and e16:
            out[f"bf16/fp32 eager batch {bs}"] = round(e16 / e32, 2)
        g32, g16 = by.get(("toolkit, CUDA graphs", bs, "fp32")), by.get(("toolkit, CUDA graphs", bs, "bf16"))
        if g32 and g16:
            out[f"bf16/fp32 graphs batch {bs}"] = round(g16 / g32, 2)
    lang = {r["model"]: r for r in sections.get("langevin", {}).get("rows", []) if "langevin" in r["model"]}
    e, g = lang.get("langevin paper preset, eager"), lang.get("langevin paper preset, graphs")
    if e and g:
        out["langevin graphs speedup"] = round(e["seconds"] / g["seconds"], 2)
        out["langevin |forget_acc graphs - eager|"] = round(abs(e["forget_acc"] - g["forget_acc"]), 4)
        out["langevin |remain_acc graphs - eager|"] = round(abs(e["remain_acc"] - g["remain_acc"]), 4)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-seconds", type=float, default=280, help="whole run (default 280: fits a 5-minute slot)")
    p.add_argument(
        "--out", type=Path, default=Path("results/gpu_check"), help="folder for gpu_check.json and gpu_check.md"
    )
    p.add_argument("--data-dir", type=Path, default=None, help="where the Fashion-MNIST IDX files are (e.g. ./data)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--precision", default=None, help="precision of the original model in the langevin section (default fp32)"
    )
    p.add_argument("--tiny", action="store_true", help="digits-sized dry run (CPU, seconds)")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    p.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="each section in its own process (default: on CUDA)",
    )
    p.add_argument("--section", help=argparse.SUPPRESS)
    p.add_argument("--section-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--section-extra", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    start = time.perf_counter()
    if args.section:  # a child: one section, results into --section-out
        run_section(args, args.section, start + args.budget_seconds, args.section_out, json.loads(args.section_extra))
        return 0
    device = resolve_device(args.device)
    isolate = device.type == "cuda" if args.isolate is None else args.isolate
    report = {
        "tiny": args.tiny,
        "budget_seconds": args.budget_seconds,
        "environment": environment(device),
        "sections": {},
    }
    print(
        f"gpu_check: {report['environment']}, budget {args.budget_seconds:.0f} s, sections {' '.join(args.sections)}",
        flush=True,
    )
    end = start + args.budget_seconds
    for i, name in enumerate(args.sections):
        left = end - time.perf_counter()
        later = sum(SHARE[n] for n in args.sections[i + 1 :])
        limit = left * SHARE[name] / (SHARE[name] + later)  # this section's fair share of what is left
        if name == "retrain":
            limit = left  # last: whatever is left
        extra = {}
        if name == "retrain":
            mode, precision, sps = best_training(
                report["sections"].get("throughput-eager", {}).get("rows", [])
                + report["sections"].get("throughput-graphs", {}).get("rows", [])
            )
            extra = {"mode": mode, "precision": precision, "samples_per_s": sps}
        print(f"\n== {name} (up to {limit:.0f} s)", flush=True)
        if limit < (5 if args.tiny else 20):
            report["sections"][name] = {
                "status": "skipped",
                "rows": [],
                "notes": [f"skipped: only {left:.0f} s of the budget left"],
                "seconds": 0,
            }
            continue
        t0 = time.perf_counter()
        try:
            got = (
                run_isolated(args, name, limit, extra) if isolate else run_section(args, name, t0 + limit, None, extra)
            )
        except Exception as e:  # noqa: BLE001
            traceback.print_exc(file=sys.stdout)
            got = {"rows": [], "notes": [f"FAILED: {type(e).__name__}: {e}"]}
        failed = any("FAILED" in n or "status" in n or "killed" in n for n in got["notes"])
        skipped = any("skipped" in n for n in got["notes"])
        status = "failed" if failed and not got["rows"] else ("partial" if failed or skipped else "ok")
        report["sections"][name] = {**got, "status": status, "seconds": round(time.perf_counter() - t0, 1)}
    report["decision"] = decision(report["sections"])
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    print("\n" + "=" * 100)
    for name, sec in report["sections"].items():
        print(f"\n{name}: {sec['status']} ({sec['seconds']} s)")
        if sec["rows"]:
            print(text_table(sec["rows"]))
        for n in sec["notes"]:
            print(f"  - {n}")
    print("\ndecision inputs (see docs/performance.md):")
    for k, v in report["decision"].items():
        print(f"  {k}: {v}")
    print(f"\ntotal {report['total_seconds']} s of {args.budget_seconds:.0f}")
    write_json(args.out / "gpu_check.json", report)
    write_text(args.out / "gpu_check.md", markdown(report))
    print(f"wrote {args.out / 'gpu_check.json'} and {args.out / 'gpu_check.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
