import pytest
import torch

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.models import MODELS, create_model

STATS = dict(mean=(0.5,), std=(0.25,))


@pytest.mark.parametrize("size", [8, 28, 32, 96])
def test_allcnn_takes_any_input_size(size):
    m = create_model("allcnn", num_classes=10, in_channels=1, width=0.1, **STATS).eval()
    x = torch.rand(2, 1, size, size)
    assert m(x).shape == (2, 10)
    assert m.features(x).shape == (2, round(192 * 0.1))
    assert torch.allclose(m.classifier(m.features(x)), m(x))


def test_allcnn_full_width_has_the_paper_filters():
    m = create_model("allcnn", num_classes=10, in_channels=3, mean=(0.5,) * 3, std=(0.2,) * 3)
    convs = [mod.out_channels for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    assert convs == [96, 96, 192, 192, 192, 192, 192, 192]


def test_allcnn_on_a_large_image():
    m = create_model("allcnn", num_classes=3, in_channels=3, width=0.05, mean=(0.5,) * 3, std=(0.2,) * 3).eval()
    with torch.no_grad():
        assert m(torch.rand(1, 3, 512, 512)).shape == (1, 3)


@pytest.mark.parametrize("name, channels", [("resnet18", 3), ("resnet18", 1), ("resnet50", 1)])
def test_resnets(name, channels):
    width = 0.25 if name == "resnet18" else 1.0
    m = create_model(
        name, num_classes=7, in_channels=channels, width=width, mean=(0.5,) * channels, std=(0.2,) * channels
    ).eval()
    x = torch.rand(2, channels, 32, 32)
    with torch.no_grad():
        assert m(x).shape == (2, 7)
        assert torch.allclose(m.classifier(m.features(x)), m(x), atol=1e-5)
    assert m.blocks()[-1] is m.classifier


def test_normalization_lives_in_the_model_and_its_state():
    m = create_model("allcnn", num_classes=10, in_channels=1, width=0.1, mean=(0.3,), std=(0.2,))
    x = torch.full((1, 1, 8, 8), 0.5)
    assert torch.allclose(m.normalize(x), torch.full_like(x, 1.0))
    assert "normalize.mean" in m.state_dict()


def test_registry_errors():
    assert {"allcnn", "resnet18", "resnet50"} <= set(MODELS.names())
    with pytest.raises(UserError, match="unknown model 'vgg'"):
        create_model("vgg", num_classes=10, in_channels=1, **STATS)
    with pytest.raises(UserError, match="width"):
        create_model("allcnn", num_classes=10, in_channels=1, width=0, **STATS)
