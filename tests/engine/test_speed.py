"""The sync-free training/unlearning loop: same results as a plain loop, same data flow as a
CUDA-graph replay ("static" mode, runnable on the CPU), NaN still a one-line error, retraining still
never draws a forget image."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from langevin_unlearning.core.device import resolve_graphs, seed_everything
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.data.augment import augment, crop_padding
from langevin_unlearning.engine.batches import BatchStream, batch_input
from langevin_unlearning.engine.capture import StepRunner
from langevin_unlearning.engine.loop import run_steps
from langevin_unlearning.engine.optim import DeviceSGD
from langevin_unlearning.engine.predict import accuracy
from langevin_unlearning.engine.steps import LossWatch
from langevin_unlearning.engine.train import TrainConfig, train_model
from langevin_unlearning.models import create_model

CPU = torch.device("cpu")


def small_model(digits, width=0.25, seed=0):
    torch.manual_seed(seed)
    return create_model("allcnn", num_classes=10, in_channels=1, mean=digits.mean, std=digits.std, width=width)


def plain_loop(model, digits, index, cfg, seed):
    """A plain reference loop: torch.optim.SGD + LambdaLR, host shuffle, per-batch copies."""
    g = seed_everything(seed)
    model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    total = cfg.epochs * math.ceil(len(index) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    for _ in range(cfg.epochs):
        for idx in index[torch.randperm(len(index), generator=g)].split(cfg.batch_size):
            x = augment(batch_input(digits.train.images, idx, CPU), pad=crop_padding(8), hflip=False)
            loss = nn.functional.cross_entropy(model(x), digits.train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model


def test_device_sgd_is_torch_sgd():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    b = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    b.load_state_dict(a.state_dict())
    ref = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    ours = DeviceSGD(b.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for step in range(5):
        x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
        for net, opt in ((a, ref), (b, ours)):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        ours.lr.fill_(0.1 / (step + 2))  # a schedule writes the device tensor
        for group in ref.param_groups:
            group["lr"] = 0.1 / (step + 2)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_sync_free_loop_matches_the_plain_loop(original_run, digits):
    """conftest's original model (10 epochs, new loop) vs the pre-issue-10 loop, same settings and seed."""
    _, model, meta, result = original_run
    cfg = TrainConfig(epochs=10, lr=0.05, batch_size=64)
    plain = plain_loop(small_model(digits), digits, torch.arange(len(digits.train)), cfg, seed=0)
    every = torch.arange(len(digits.test))
    ours, theirs = (
        accuracy(model, digits.test.images, digits.test.labels, every),
        accuracy(plain, digits.test.images, digits.test.labels, every),
    )
    assert ours >= 0.9 and abs(ours - theirs) <= 0.01, (ours, theirs)
    assert result.mode == "eager"


@pytest.mark.slow
def test_static_mode_is_the_eager_step_and_never_draws_a_forget_image(digits, forget_split):
    """'static' runs the step on per-shape static buffers, as a CUDA-graph replay does: same weights as
    eager, and every remain image drawn exactly once per epoch (partial last batch kept, no forget image)."""
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=64)
    runs = {}
    for mode in ("eager", "static"):
        model = small_model(digits, width=0.1)
        g = seed_everything(3)
        runs[mode] = (
            model,
            train_model(
                model, digits, forget_split.train_remain, cfg, device=CPU, generator=g, progress=False, mode=mode
            ),
        )
    (a, ra), (b, rb) = runs["eager"], runs["static"]
    assert len(forget_split.train_remain) % cfg.batch_size != 0  # the partial batch is exercised
    assert rb.mode == "static"
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    assert torch.equal(ra.seen, rb.seen)
    assert rb.seen[forget_split.train_forget].sum() == 0
    assert (rb.seen[forget_split.train_remain] == cfg.epochs).all()
    assert ra.test_acc == [] and ra.losses == pytest.approx(rb.losses)


class NaNAt(nn.Module):
    """Wraps a model; its ``bad``-th forward call (1-based) returns NaN logits."""

    def __init__(self, model, bad):
        super().__init__()
        self.model, self.bad, self.calls = model, bad, 0

    def forward(self, x):
        self.calls += 1
        out = self.model(x)
        return out * float("nan") if self.calls == self.bad else out


def test_nan_mid_pass_is_a_one_line_error_naming_the_step(digits):
    model = NaNAt(small_model(digits, width=0.1), bad=5)
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=128)  # 12 steps per epoch: step 5 is mid-pass
    with pytest.raises(UserError) as err:
        train_model(
            model,
            digits,
            torch.arange(len(digits.train)),
            cfg,
            device=CPU,
            generator=seed_everything(0),
            progress=False,
        )
    message = str(err.value)
    assert (
        "\n" not in message
        and "step 5 " in message
        and "steps 1-12" in message
        and "lower the learning rate" in message
    )
    assert model.calls == 12  # read once at the end of the pass, not per step


def test_run_steps_nan_names_the_step_and_batches_mode_matches(digits):
    def run(mode, bad=None):
        model = NaNAt(small_model(digits, width=0.1), bad=bad or 0)
        stream = BatchStream(digits, torch.arange(300), 32, device=CPU, generator=torch.Generator().manual_seed(0))
        opt = DeviceSGD(model.parameters(), lr=0.05, momentum=0.9)

        def loss_fn(idx):
            return nn.functional.cross_entropy(model(batch_input(stream.images, idx, CPU)), stream.labels[idx])

        run_steps(
            model,
            loss_fn,
            23,
            opt,
            progress=False,
            desc="demo",
            check_every=10,
            batches=lambda t: (stream.next_index(),),
            mode=mode,
        )
        return model

    a, b = run("eager"), run("static")
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    with pytest.raises(UserError, match=r"at demo step 14 \(checked steps 11-20\); lower the learning rate"):
        run("static", bad=14)


def test_loss_watch_reads_the_mean_and_step_runner_keys_on_shape():
    watch = LossWatch(CPU)
    for v in (1.0, 2.0, 3.0):
        watch.add(torch.tensor(v))
    assert watch.check(3, "x") == pytest.approx(2.0)
    calls = []
    runner = StepRunner(lambda x: calls.append(x), mode="static")
    runner(torch.zeros(4))
    runner(torch.ones(4))
    runner(torch.ones(2))
    assert (
        len(calls) == 3 and calls[0] is calls[1] and calls[1].sum() == 4 and calls[2].shape == (2,)
    )  # one buffer per shape


def test_graphs_need_cuda():
    assert resolve_graphs(None, CPU) is False and resolve_graphs(False, CPU) is False
    with pytest.raises(UserError, match="--graphs needs a CUDA device"):
        resolve_graphs(True, CPU)


def test_augment_keeps_channels_last():
    x = torch.rand(4, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    assert augment(x, pad=1, hflip=True).is_contiguous(memory_format=torch.channels_last)


def test_cli_graphs_on_cpu_is_a_one_line_error(tmp_path, capsys):
    from langevin_unlearning.cli import main

    code = main(
        [
            "train",
            "--dataset",
            "digits",
            "--width",
            "0.1",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--graphs",
            "--no-progress",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "--graphs needs a CUDA device" in err


def test_cpu_precision_default_follows_native_bf16(monkeypatch):
    from langevin_unlearning.core import device as dev

    monkeypatch.setattr(dev, "cpu_native_bf16", lambda: True)
    assert dev.resolve_precision(None, CPU) == dev.CPU_NATIVE_BF16_PRECISION_DEFAULT
    monkeypatch.setattr(dev, "cpu_native_bf16", lambda: False)
    assert dev.resolve_precision(None, CPU) == dev.CPU_PRECISION_DEFAULT
    assert dev.resolve_precision("fp32", CPU) == "fp32"


@pytest.mark.slow
def test_gpu_check_runs_tiny_on_cpu(tmp_path):
    """benchmarks/gpu_check.py --tiny on the CPU: every section reports, nothing is silently missing."""
    import json

    from benchmarks import gpu_check

    assert gpu_check.main(["--tiny", "--device", "cpu", "--no-isolate", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert (tmp_path / "gpu_check.md").read_text().startswith("# gpu_check")
    sections = report["sections"]
    loops = {(r["loop"], r["batch"], r["precision"]) for r in sections["throughput-eager"]["rows"]}
    for bs in (16, 64):
        assert ("reference: PIL + DataLoader", bs, "fp32") in loops and ("toolkit, eager", bs, "bf16") in loops
    assert all(r["samples_per_s"] > 0 for r in sections["throughput-eager"]["rows"])
    assert "CUDA graphs need a CUDA device" in " ".join(sections["throughput-graphs"]["notes"])
    langevin = [r for r in sections["langevin"]["rows"] if r["model"].startswith("langevin")]
    assert langevin and 0 <= langevin[0]["forget_acc"] <= 1 and langevin[0]["steps"] >= 4
    (retrain,) = sections["retrain"]["rows"]
    assert retrain["never_drew_a_forget_image"] is True and retrain["forget_acc"] == 0.0
    assert "bf16/fp32 eager batch 64" in report["decision"]


def test_langevin_static_step_is_the_eager_step(original_run, digits, forget_split):
    """The unlearning update through the graph data flow ("static") = eager: same weights, same diagnostics,
    with a device-side lamda schedule, K = 2 search steps, noise and the remain term all exercised."""
    import copy

    from langevin_unlearning.methods.boundary_search import SearchDiagnostics
    from langevin_unlearning.methods.langevin import LangevinSettings, langevin_unlearning

    _, model, _, _ = original_run
    s = LangevinSettings(epochs=1, min_steps=5, steps=2, lamda=0.5, lamda_schedule="inverse", gamma=1e-3, phi=0.5)
    got = {}
    for mode in ("eager", "static"):
        student = copy.deepcopy(model).requires_grad_(True)
        diagnostics = SearchDiagnostics(CPU)
        out = langevin_unlearning(
            student,
            model.eval(),
            digits,
            forget_split,
            s,
            device=CPU,
            seed=0,
            progress=False,
            diagnostics=diagnostics,
            mode=mode,
        )
        got[mode] = (out, diagnostics.summary())
    (a, da), (b, db) = got["eager"], got["static"]
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    da.pop("search_seconds"), db.pop("search_seconds")  # wall time: the one entry that differs
    assert da == pytest.approx(db) and 0 < da["noise_flip_share"] < 1
    assert all(p.grad is None for p in b.parameters())


def test_cpu_inference_batch_changes_no_logit(digits):
    """predict_logits picks a smaller batch on CPUs (faster there); in eval mode every image's logits are its own."""
    from langevin_unlearning.engine.predict import CPU_BATCH, predict_logits

    model = small_model(digits)
    index = torch.arange(3 * CPU_BATCH + 5)  # several full batches and a partial one
    by_default = predict_logits(model, digits.train.images, index, "cpu")
    one_batch = predict_logits(model, digits.train.images, index, "cpu", batch_size=len(index))
    assert by_default.shape == (len(index), digits.num_classes)
    assert torch.allclose(by_default, one_batch, atol=1e-5) and torch.equal(by_default.argmax(1), one_batch.argmax(1))
    assert model.training  # the mode is restored
