"""The inner loop's math: projection, proximity (lamda), determinism, the published units, the 8-bit grid,
the diagnostics, and the noise laws' scales."""

import math

import pytest
import torch

from langevin_unlearning.methods.boundary_search import (
    SearchDiagnostics,
    boundary_search,
    drift,
    input_std,
    to_pixel_grid,
)
from langevin_unlearning.methods.noise import NOISE, sample_noise
from langevin_unlearning.models import create_model


@pytest.fixture(scope="module")
def f0():
    torch.manual_seed(0)
    return create_model("allcnn", num_classes=10, in_channels=1, mean=(0.3,), std=(0.3,), width=0.1).eval()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(1)
    x0 = (torch.rand(16, 1, 8, 8, generator=g) * 255).round() / 255
    x0[:4] = 0.0  # images at the pixel-range edges test the clip to [0,1]
    x0[4:8] = 1.0
    return x0, torch.randint(0, 10, (16,), generator=g)


@pytest.mark.parametrize("steps, gamma", [(1, 0.0), (5, 0.0), (5, 1.0), (20, 10.0)])
def test_projection_keeps_eps_ball_and_pixel_range(f0, batch, steps, gamma):
    x0, y = batch
    eps = 0.05
    x = boundary_search(
        f0, x0, y, eps=eps, alpha=0.03, steps=steps, gamma=gamma, generator=torch.Generator().manual_seed(0)
    )
    assert (x - x0).abs().max() <= eps + 1e-6
    assert x.min() >= 0 and x.max() <= 1
    assert (x != x0).any()


def test_quantize_stays_on_the_pixel_grid(f0, batch):
    x0, y = batch
    x = boundary_search(
        f0, x0, y, eps=0.1, alpha=0.037, steps=3, gamma=1.0, quantize=True, generator=torch.Generator().manual_seed(0)
    )
    assert torch.allclose(x * 255, (x * 255).round(), atol=1e-4)
    assert (x - x0).abs().max() <= 0.1 + 1e-6


def test_one_step_is_fgsm(f0, batch):
    x0, y = batch
    x = boundary_search(f0, x0, y, eps=0.1, alpha=0.1, steps=1)
    x_req = x0.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(f0(x_req), y, reduction="sum").backward()
    expected = (x0 + 0.1 * x_req.grad.sign()).clamp(0, 1)
    assert torch.allclose(x, expected)


def test_larger_lamda_stays_closer_to_x0(original_run, digits, forget_split):
    f0 = original_run[1].eval()
    idx = forget_split.train_forget[:32]
    x0, y = digits.train.images[idx].float() / 255, digits.train.labels[idx]
    dist = []
    for lamda in (0.0, 0.01, 0.1):
        x = boundary_search(f0, x0, y, eps=0.3, alpha=0.01, steps=20, lamda=lamda)
        dist.append((x - x0).pow(2).sum().item())
    assert dist[0] > dist[1] > dist[2]


def test_gamma_zero_is_deterministic_and_gamma_adds_seeded_noise(f0, batch):
    x0, y = batch
    a = boundary_search(f0, x0, y, eps=0.1, alpha=0.02, steps=5, gamma=0.0, generator=torch.Generator().manual_seed(0))
    b = boundary_search(f0, x0, y, eps=0.1, alpha=0.02, steps=5, gamma=0.0, generator=torch.Generator().manual_seed(99))
    assert torch.equal(a, b)
    c = boundary_search(f0, x0, y, eps=0.1, alpha=0.02, steps=5, gamma=10.0, generator=torch.Generator().manual_seed(0))
    d = boundary_search(f0, x0, y, eps=0.1, alpha=0.02, steps=5, gamma=10.0, generator=torch.Generator().manual_seed(0))
    e = boundary_search(f0, x0, y, eps=0.1, alpha=0.02, steps=5, gamma=10.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(c, d) and not torch.equal(c, e) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "law, statistic, expected",
    [
        ("normal", lambda z: z.std(), 1.0),
        ("laplace", lambda z: z.abs().mean(), 1.0),
        ("cauchy", lambda z: z.abs().median(), 1.0),
        ("uniform", lambda z: z.abs().mean(), 0.5),
    ],
)
def test_noise_laws_have_the_stated_scale(law, statistic, expected):
    z = sample_noise(law, (200_000,), torch.Generator().manual_seed(0), "cpu")
    assert abs(z.median().item()) < 0.02  # centred
    assert math.isclose(statistic(z).item(), expected, rel_tol=0.02)


def test_uniform_is_bounded_and_cauchy_is_heavy_tailed():
    g = torch.Generator().manual_seed(0)
    u = sample_noise("uniform", (100_000,), g, "cpu")
    assert u.min() >= -1 and u.max() <= 1 and u.max() > 0.99
    c = sample_noise("cauchy", (100_000,), g, "cpu")
    assert c.abs().max() > 1000  # a normal sample of this size never exceeds ~5
    assert set(NOISE.names()) == {"normal", "laplace", "cauchy", "uniform"}


@pytest.fixture(scope="module")
def forget_batch(original_run, digits, forget_split):
    """The digits fixture model and one forget batch of 64."""
    idx = forget_split.train_forget[:64]
    return original_run[1].eval(), digits.train.images[idx].float() / 255, digits.train.labels[idx]


def test_direction_is_the_mean_ce_gradient_in_normalized_units(f0, batch):
    """g - lamda*d equals autograd of CE_mean - lamda/2 |x_n - x0_n|^2 taken on the normalized input itself."""
    x0, y = batch
    assert not torch.allclose(input_std(f0), torch.ones(1))  # the units matter for this model
    x = (x0 + 0.05 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    for lamda in (0.0, 0.7):
        xn = f0.normalize(x).detach().requires_grad_(True)
        x0n = f0.normalize(x0)
        objective = (
            torch.nn.functional.cross_entropy(f0.classifier(f0.body(xn)), y) - lamda / 2 * (xn - x0n).pow(2).sum()
        )
        (expected,) = torch.autograd.grad(objective, xn)
        got = drift(f0, x, x0, y, lamda)
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-7 * expected.abs().max().item())
    # and the published scale: the summed pixel gradient times std / batch size
    x_req = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(f0(x_req), y, reduction="sum").backward()
    assert torch.allclose(drift(f0, x, x0, y), x_req.grad * 0.3 / len(y), rtol=1e-4, atol=1e-9)


def test_model_without_normalize_layer_uses_pixel_units(batch):
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    x0, y = batch
    assert input_std(plain) == 1.0
    x_req = x0.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(plain(x_req), y).backward()
    assert torch.allclose(drift(plain, x0, x0, y), x_req.grad)
    x = boundary_search(
        plain, x0, y, eps=0.1, alpha=0.05, steps=3, lamda=0.1, gamma=1e-3, generator=torch.Generator().manual_seed(0)
    )
    assert (x - x0).abs().max() <= 0.1 + 1e-6


def flip_share(f0, x0, y, gamma, steps=5, seed=0):
    diagnostics = SearchDiagnostics("cpu")
    boundary_search(
        f0,
        x0,
        y,
        eps=0.1,
        alpha=0.05,
        steps=steps,
        gamma=gamma,
        generator=torch.Generator().manual_seed(seed),
        diagnostics=diagnostics,
    )
    return diagnostics.summary()["noise_flip_share"]


def test_noise_flip_share_is_zero_without_noise_grows_with_gamma_and_tends_to_one_half(forget_batch):
    shares = [flip_share(*forget_batch, gamma) for gamma in (0.0, 1e-5, 1e-4, 1e-3, 1e6)]
    assert shares[0] == 0.0
    assert all(a < b for a, b in zip(shares, shares[1:])), shares
    assert abs(shares[-1] - 0.5) < 0.02  # 64 x 64 pixels x 5 steps: the binomial spread is ~0.004


def test_lamda_keeps_x_k_near_x0_in_the_published_units(forget_batch):
    f0, x0, y = forget_batch
    dist = {
        lamda: (boundary_search(f0, x0, y, eps=0.1, alpha=0.02, steps=10, lamda=lamda) - x0).pow(2).sum().item()
        for lamda in (0.0, 1e-3, 1e-1)
    }
    assert dist[0.0] > dist[1e-3] > dist[1e-1]
    # one step starts at x0, where the proximity gradient is zero
    one = [boundary_search(f0, x0, y, eps=0.1, alpha=0.1, steps=1, lamda=lamda) for lamda in (0.0, 1.0)]
    assert torch.equal(one[0], one[1])


def test_crossed_share_counts_images_f0_no_longer_labels_y(forget_batch):
    f0, x0, y = forget_batch
    shares = []
    for eps in (1e-6, 0.5):
        diagnostics = SearchDiagnostics("cpu")
        x = boundary_search(f0, x0, y, eps=eps, alpha=eps / 4, steps=10, diagnostics=diagnostics)
        with torch.no_grad():
            logits = f0(x)
            diagnostics.record_crossing(logits, y)
        shares.append(diagnostics.summary()["crossed_share"])
        assert shares[-1] == (logits.argmax(1) != y).float().mean().item()
    with torch.no_grad():
        assert (
            shares[0] == (f0(x0).argmax(1) != y).float().mean().item()
        )  # a search that barely moves crosses nothing new
    assert shares[1] > shares[0] + 0.5


def test_pixel_grid_rounds_to_nearest_grey_level_inside_the_eps_ball():
    g = torch.Generator().manual_seed(0)
    eps = 0.1
    x0 = torch.rand(4000, generator=g)  # off the grid, as after resizing
    x0[:100], x0[100:200] = 0.0, 1.0
    x = (x0 + eps * (2 * torch.rand(4000, generator=g) - 1)).clamp(0, 1)
    q = to_pixel_grid(x, x0, eps)
    assert torch.equal(q * 255, (q * 255).round())
    assert (q - x0).abs().max() <= eps + 1e-6 and q.min() >= 0 and q.max() <= 1
    nearest = (x * 255).round() / 255
    inside = (nearest - x0).abs() <= eps
    assert inside.float().mean() > 0.8 and torch.equal(q[inside], nearest[inside])
    assert (q - x).abs().max() <= 1 / 255 + 1e-6  # outside the ball: the next grey level toward x0
