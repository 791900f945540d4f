"""ResNet-18 in the CIFAR style (3x3 stem, no max-pool) and torchvision's ResNet-50."""

from __future__ import annotations

from torch import nn

from .base import Classifier, Normalize
from .registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        return (out + self.shortcut(x)).relu()


class ResNet18(Classifier):
    def __init__(self, num_classes: int, in_channels: int, mean, std, width: float = 1.0):
        super().__init__()
        widths = [max(1, round(w * width)) for w in (64, 128, 256, 512)]
        self.normalize = Normalize(mean, std)
        stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        )
        stages, cin = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w, 1)))
            cin = w
        self.body = nn.Sequential(stem, *stages, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
        self.classifier = nn.Linear(cin, num_classes)


class ResNet50(Classifier):
    def __init__(self, num_classes: int, in_channels: int, mean, std, width: float = 1.0):
        super().__init__()
        import torchvision

        if width != 1.0:
            raise ValueError("resnet50 has no width multiplier; use width 1")
        net = torchvision.models.resnet50(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.normalize = Normalize(mean, std)
        stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.body = nn.Sequential(
            stem, net.layer1, net.layer2, net.layer3, net.layer4, nn.Sequential(net.avgpool, nn.Flatten())
        )
        self.classifier = nn.Linear(2048, num_classes)


@register_model("resnet18")
def resnet18(num_classes: int, in_channels: int, mean, std, width: float = 1.0) -> ResNet18:
    return ResNet18(num_classes, in_channels, mean, std, width=width)


@register_model("resnet50")
def resnet50(num_classes: int, in_channels: int, mean, std, width: float = 1.0) -> ResNet50:
    return ResNet50(num_classes, in_channels, mean, std, width=width)
