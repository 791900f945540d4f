"""The boundary search run ahead of the updates (search_ahead.py) against a per-update search, on digits."""

import copy
import statistics

import pytest
import torch

from langevin_unlearning.engine.batches import BatchStream
from langevin_unlearning.engine.loop import run_steps
from langevin_unlearning.engine.optim import make_optimizer
from langevin_unlearning.evaluation.metrics import split_accuracies
from langevin_unlearning.methods import langevin, search_ahead
from langevin_unlearning.methods.boundary_search import SearchDiagnostics, boundary_search, drift
from langevin_unlearning.methods.langevin import LangevinSettings, cross_entropy, langevin_unlearning
from langevin_unlearning.methods.search_ahead import SearchAhead, inference_form, new_targets

CPU = torch.device("cpu")


def per_update_search(f0, forget: BatchStream, s, updates: int, generator, diagnostics=None):
    """The search as each update used to run it: one batch of ``batch_size`` at a time, in the pass's order."""
    got = []
    for _ in range(updates):
        x0, y = forget.batch(forget.next_index())
        x_k = boundary_search(
            f0,
            x0,
            y,
            eps=s.eps,
            alpha=s.step_size,
            steps=s.steps,
            lamda=s.lamda,
            gamma=s.gamma,
            noise=s.noise,
            quantize=s.quantize,
            generator=generator,
            diagnostics=diagnostics,
        )
        with torch.no_grad():
            logits = f0(x_k)
        if diagnostics is not None:
            diagnostics.record_crossing(logits, y)
        got.append((x_k, new_targets(logits, s.soft_labels, s.top_k, exclude=y if s.wrong_class_only else None)))
    return got


def stream(digits, split, s, seed=0):
    return BatchStream(
        digits, split.train_forget, s.batch_size, device=CPU, generator=torch.Generator().manual_seed(seed)
    )


@pytest.mark.parametrize("steps, quantize", [(1, True), (3, False)])
def test_boundary_shrink_search_once_equals_the_per_update_search(original_run, digits, forget_split, steps, quantize):
    """No noise, lamda 0: the one search of the forget set gives every batch the labels and perturbed images a
    per-update search gives it, bit for bit, and the crossed share counts each use as before."""
    f0 = original_run[1].eval()
    s = LangevinSettings(gamma=0.0, lamda=0.0, steps=steps, quantize=quantize)
    updates = 2 * stream(digits, forget_split, s).steps_per_pass() + 1  # two passes and a bit
    old_d, new_d = SearchDiagnostics(CPU), SearchDiagnostics(CPU)
    old = per_update_search(f0, stream(digits, forget_split, s), s, updates, torch.Generator(), old_d)

    forget = stream(digits, forget_split, s)
    ahead = SearchAhead(f0, forget, s, total=updates, lamdas=None, generator=torch.Generator(), diagnostics=new_d)
    assert ahead.once
    searched = []  # the perturbed images of the one search, as _steps returns them
    steps = ahead._steps
    ahead._steps = lambda *a: searched.append(steps(*a)) or searched[-1]
    position = {int(i): p for p, i in enumerate(forget.index)}
    for t, (x_old, target_old) in enumerate(old):
        idx, key = ahead.next_batch(t)
        assert torch.equal(ahead.targets(key), target_old)
        assert torch.equal(searched[0][0][[position[int(i)] for i in idx]], x_old)
    assert ahead.stats["search_images"] == len(forget.index)  # searched once, used in every pass
    assert new_d.summary()["crossed_share"] == old_d.summary()["crossed_share"] > 0
    assert new_d.summary()["noise_flip_share"] == old_d.summary()["noise_flip_share"] == 0


def test_inference_form_matches_f0(original_run, digits):
    f0 = original_run[1].eval()
    fused = inference_form(f0)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())  # BatchNorm folded away
    x = digits.train.images[:100].float().div(255)
    y = digits.train.labels[:100]
    with torch.no_grad():
        torch.testing.assert_close(fused(x), f0(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(drift(fused, x, x, y), drift(f0, x, x, y), rtol=1e-4, atol=1e-9)
    assert all(p.requires_grad for p in f0.parameters())  # f0 itself is untouched


def test_noisy_search_matches_the_per_update_shares(original_run, digits, forget_split):
    """With noise the random stream differs, the distribution does not: over seeds, the noise flip share and the
    crossed share of the search ahead are those of a per-update search within sampling error."""
    f0 = original_run[1].eval()
    s = LangevinSettings(gamma=1e-2, lamda=0.1, steps=3)
    updates = 3 * stream(digits, forget_split, s).steps_per_pass()
    shares = {"old": [], "new": []}
    for seed in range(4):
        d = SearchDiagnostics(CPU)
        per_update_search(f0, stream(digits, forget_split, s, seed), s, updates, torch.Generator().manual_seed(seed), d)
        shares["old"].append(d.summary())
        d = SearchDiagnostics(CPU)
        ahead = SearchAhead(
            f0,
            stream(digits, forget_split, s, seed),
            s,
            total=updates,
            lamdas=None,
            generator=torch.Generator().manual_seed(seed),
            diagnostics=d,
        )
        for t in range(updates):
            ahead.targets(ahead.next_batch(t)[1])
        shares["new"].append(d.summary())
    for key, tolerance in (("noise_flip_share", 0.01), ("crossed_share", 0.05)):
        old = statistics.mean(r[key] for r in shares["old"])
        new = statistics.mean(r[key] for r in shares["new"])
        assert 0 < old < 1 and abs(new - old) < tolerance, (key, old, new)


@pytest.mark.parametrize(
    "settings, window_bytes",
    [
        (dict(gamma=1e-2), None),  # several whole passes per window, then the partial last pass in order
        (dict(gamma=1e-2), 3 * 4 * 64 * 70),  # a window smaller than a pass: windows of one update
        (dict(gamma=1e-2, lamda_schedule="inverse"), None),  # a schedule: each pass searched in its order
        (dict(gamma=0.0), None),  # deterministic: searched once
    ],
)
def test_every_used_image_is_searched_and_counted_once(
    original_run, digits, forget_split, monkeypatch, settings, window_bytes
):
    """Whatever the windows, the diagnostics count exactly the images the updates use (nothing searched in vain)."""
    if window_bytes is not None:
        monkeypatch.setattr(search_ahead, "WINDOW_BYTES", window_bytes)
    f0 = original_run[1].eval()
    s = LangevinSettings(steps=2, **settings)
    forget = stream(digits, forget_split, s)
    total = 2 * forget.steps_per_pass() + 1
    lamdas = [s.lamda_at(k, total) for k in range(total)] if s.lamda_schedule != "none" else None
    d = SearchDiagnostics(CPU)
    ahead = SearchAhead(f0, forget, s, total=total, lamdas=lamdas, generator=torch.Generator(), diagnostics=d)
    used = 0
    for t in range(total):
        idx, key = ahead.next_batch(t)
        assert ahead.targets(key).shape[0] == len(idx)
        used += len(idx)
    assert int(d.images) == used == 2 * len(forget.index) + s.batch_size
    assert int(d.signs) == used * s.steps * 64  # 8x8 digits
    if not ahead.once:
        assert ahead.stats["search_images"] == used


@pytest.mark.filterwarnings("ignore:lamda has no effect")  # one step: only which lamda is passed is checked
def test_a_lamda_schedule_searches_each_image_with_its_updates_lamda(original_run, digits, forget_split, monkeypatch):
    """The lamda an image is searched with is the one of the update that uses it."""
    seen = []
    real = search_ahead.search_step

    def spy(*args, lamda, **kwargs):
        seen.append(lamda.flatten().clone() if isinstance(lamda, torch.Tensor) else torch.tensor([lamda]))
        return real(*args, lamda=lamda, **kwargs)

    monkeypatch.setattr(search_ahead, "search_step", spy)
    f0 = original_run[1].eval()
    s = LangevinSettings(gamma=1e-2, lamda=0.5, lamda_schedule="linear", steps=1, search_batch=10_000)
    forget = stream(digits, forget_split, s)
    total = 2 * forget.steps_per_pass()
    lamdas = [s.lamda_at(k, total) for k in range(total)]
    ahead = SearchAhead(f0, forget, s, total=total, lamdas=lamdas, generator=torch.Generator(), diagnostics=None)
    expected = []
    for t in range(total):
        idx, _ = ahead.next_batch(t)
        expected.append(torch.full((len(idx),), lamdas[t]))
    torch.testing.assert_close(torch.cat(seen), torch.cat(expected))


def old_langevin(model, f0, data, split, s, seed):
    """The unlearning loop with the search inside every update, as it ran before the search moved ahead."""
    shuffle, noise = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    forget = BatchStream(data, split.train_forget, s.batch_size, device=CPU, generator=shuffle)
    remain = BatchStream(data, split.train_remain, s.batch_size, device=CPU, generator=shuffle, images=forget.images)
    total = max(s.epochs * forget.steps_per_pass(), s.min_steps)
    opt = make_optimizer(model.parameters(), "sgd", lr=s.lr, momentum=s.momentum, device=CPU)
    model.train(s.bn == "train")

    def loss_at(forget_idx, remain_idx):
        x0, y = forget.batch(forget_idx)
        x_k = boundary_search(
            f0, x0, y, eps=s.eps, alpha=s.step_size, steps=s.steps, lamda=s.lamda, gamma=s.gamma, generator=noise
        )
        with torch.no_grad():
            target = new_targets(f0(x_k), False, None, exclude=y)
        xr, yr = remain.batch(remain_idx)
        return cross_entropy(model(x0), target) + s.phi * cross_entropy(model(xr), yr)

    run_steps(
        model,
        loss_at,
        total,
        opt,
        progress=False,
        desc="old",
        batches=lambda _: (forget.next_index(), remain.next_index()),
    )
    opt.release()
    return model.eval()


@pytest.mark.slow
def test_unlearned_accuracies_stay_within_seed_noise_of_the_per_update_loop(original_run, digits, forget_split):
    f0 = original_run[1].eval()
    s = LangevinSettings(min_steps=40)
    rows = {"old": [], "new": []}
    for seed in range(3):
        old = old_langevin(copy.deepcopy(f0).requires_grad_(True), f0, digits, forget_split, s, seed)
        new = langevin_unlearning(
            copy.deepcopy(f0).requires_grad_(True), f0, digits, forget_split, s, device=CPU, seed=seed, progress=False
        )
        rows["old"].append(split_accuracies(old, digits, forget_split, CPU))
        rows["new"].append(split_accuracies(new, digits, forget_split, CPU))
    for key, tolerance in (("forget_acc", 0.1), ("remain_acc", 0.03), ("test_acc", 0.03)):
        old = statistics.mean(r[key] for r in rows["old"])
        new = statistics.mean(r[key] for r in rows["new"])
        assert abs(new - old) <= tolerance, (key, old, new)


def test_boundary_shrink_method_records_a_single_search(original_run, digits, forget_split):
    method = langevin.BoundaryShrink()
    method.unlearn(original_run[1], digits, forget_split, device=CPU, seed=0, progress=False)
    d = method.diagnostics
    assert d["search_images"] == len(forget_split.train_forget)
    assert d["search_batch"] == search_ahead.CPU_SEARCH_BATCH and d["search_peak_mib"] > 0
