import pytest
import torch

from langevin_unlearning.evaluation.metrics import js_divergence
from langevin_unlearning.evaluation.mia import attack_accuracy, balanced_members


def test_separable_losses_are_found():
    g = torch.Generator().manual_seed(0)
    members = torch.rand(200, generator=g) * 0.01  # trained-on images: tiny loss
    nonmembers = 1 + torch.rand(200, generator=g)
    mean, std = attack_accuracy(members, nonmembers)
    assert mean > 0.98 and std < 0.02


def test_identically_distributed_losses_give_a_coin_flip():
    torch.manual_seed(0)
    losses = torch.distributions.Exponential(1.0).sample((2000,))
    mean, _ = attack_accuracy(losses[:1000], losses[1000:])
    assert abs(mean - 0.5) < 0.05


def test_members_are_train_forget_and_nonmembers_test_of_the_same_classes():
    train_labels = torch.tensor([0] * 10 + [1] * 10 + [2] * 10)
    test_labels = torch.tensor([0] * 3 + [1] * 20 + [2] * 5)
    forget = torch.cat([torch.arange(0, 10), torch.arange(10, 14)])  # all of class 0, four of class 1
    members, nonmembers = balanced_members(train_labels, forget, test_labels, seed=0)
    assert set(members.tolist()) <= set(forget.tolist())
    assert len(members) == len(nonmembers) == 3 + 4
    assert sorted(train_labels[members].tolist()) == sorted(test_labels[nonmembers].tolist())
    assert 2 not in test_labels[nonmembers].tolist()


def test_js_divergence_bounds():
    a = torch.tensor([[10.0, -10.0], [0.0, 0.0]])
    assert js_divergence(a, a) == pytest.approx(0.0, abs=1e-6)
    assert js_divergence(torch.tensor([[50.0, -50.0]]), torch.tensor([[-50.0, 50.0]])) == pytest.approx(1.0, abs=1e-4)


def test_svc_mia_efficacy_calls_low_confidence_images_non_members():
    from langevin_unlearning.evaluation.mia import svc_mia_efficacy

    g = torch.Generator().manual_seed(0)
    members = 0.9 + 0.1 * torch.rand(500, generator=g)  # trained-on images: confident
    nonmembers = 0.5 * torch.rand(500, generator=g)
    assert svc_mia_efficacy(members, nonmembers, 0.2 * torch.rand(100, generator=g)) > 0.95
    assert svc_mia_efficacy(members, nonmembers, 0.95 + 0.05 * torch.rand(100, generator=g)) < 0.05


@pytest.mark.slow
def test_svc_attack_tells_retrained_from_original_on_class_forgetting(
    original_run, retrained_run, digits, forget_split
):
    from langevin_unlearning.evaluation.metrics import evaluate

    original = evaluate(original_run[1], digits, forget_split)["mia_efficacy"]
    retrained = evaluate(retrained_run[1], digits, forget_split)["mia_efficacy"]
    assert retrained > 0.9 and original < 0.3  # the retrained model never saw class 3: its images look unseen
