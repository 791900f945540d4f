"""All-CNN (Springenberg et al., 2015) as used by the unlearning papers: 96/192 filters with BatchNorm.

A global average pool replaces the fixed 8x8 pool, so any input from 8x8 to 512x512 works.
"""

from __future__ import annotations

from torch import nn

from .base import Classifier, Normalize
from .registry import register_model


def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class AllCNN(Classifier):
    def __init__(self, num_classes: int, in_channels: int, mean, std, width: float = 1.0):
        super().__init__()
        c1, c2 = max(1, round(96 * width)), max(1, round(192 * width))
        self.normalize = Normalize(mean, std)
        self.body = nn.Sequential(
            nn.Sequential(conv_bn(in_channels, c1), conv_bn(c1, c1)),
            nn.Sequential(conv_bn(c1, c2, stride=2), conv_bn(c2, c2), conv_bn(c2, c2)),
            nn.Sequential(conv_bn(c2, c2, stride=2), conv_bn(c2, c2), conv_bn(c2, c2, kernel=1)),
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        )
        self.classifier = nn.Linear(c2, num_classes)


@register_model("allcnn")
def allcnn(num_classes: int, in_channels: int, mean, std, width: float = 1.0) -> AllCNN:
    return AllCNN(num_classes, in_channels, mean, std, width=width)
