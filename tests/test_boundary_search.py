"""The inner loop's math: projection, proximity (lamda), determinism, and the noise laws' scales."""

import math

import pytest
import torch

from langevin_unlearning.methods.boundary_search import boundary_search
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
    x = boundary_search(f0, x0, y, eps=eps, alpha=0.03, steps=steps, gamma=gamma, generator=torch.Generator().manual_seed(0))
    assert (x - x0).abs().max() <= eps + 1e-6
    assert x.min() >= 0 and x.max() <= 1
    assert (x != x0).any()


def test_quantize_stays_on_the_pixel_grid(f0, batch):
    x0, y = batch
    x = boundary_search(f0, x0, y, eps=0.1, alpha=0.037, steps=3, gamma=1.0, quantize=True, generator=torch.Generator().manual_seed(0))
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
