"""The evaluation classifier: a small MNIST CNN whose hidden layer is our feature space.

FID, KID and precision/recall are measured in its penultimate (hidden) features; the
classifier Inception Score, class histogram and recognizable rate read its softmax. It is
trained on real MNIST only (scripts/train_classifier.py), never on generated images, and
bundled in checkpoints/classifier like any other model (ganlab.checkpoints.load_classifier).
"""

from __future__ import annotations


import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ganlab.config import ClassifierConfig
from ganlab.models import weights_version
from ganlab.paths import CLASSIFIER_PATH  # noqa: F401 (MNIST's; each dataset names its own in ganlab.datasets)



class Classifier(nn.Module):
    """image (B, 1, 28, 28) in [-1, 1] -> logits (B, 10), and the hidden features when asked."""

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ClassifierConfig()
        c1, c2 = config.channels
        self.convolutions = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False),  # (B, c1, 28, 28)
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),  # (B, c2, 14, 14)
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, c2, 7, 7)
            nn.Flatten(),  # (B, c2*49)
        )
        self.hidden = nn.Sequential(nn.Linear(c2 * 7 * 7, config.hidden), nn.ReLU())  # (B, hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.num_classes)  # (B, classes)

    @property
    def num_features(self) -> int:
        return self.config.hidden

    def forward(self, images: torch.Tensor, return_features: bool = False):
        convolutions = self.convolutions
        if not torch.is_grad_enabled():
            # Why: on a CPU, oneDNN's convolutions and max-pooling are ~2.5x faster in channels-last
            # layout (128 images: 42 -> 16 ms, 1 thread); the maths is unchanged.
            images = images.contiguous(memory_format=torch.channels_last)
            if not self.training:
                convolutions = self._folded_convolutions()
        # 1. convolutions: (B, 1, 28, 28) -> (B, c2*49)
        x = convolutions(images)
        # 2. hidden layer: the feature space of FID / KID / precision-recall, (B, hidden)
        features = self.hidden(x)
        # 3. logits (B, classes)
        logits = self.head(self.dropout(features))
        return (logits, features) if return_features else logits

    def _folded_convolutions(self) -> nn.Sequential:
        """The convolutions with each eval-mode BatchNorm folded into the conv before it
        (torch.nn.utils.fusion), rebuilt whenever a weight or statistic changes.

        Why: each BatchNorm was a separate pass over every activation; folded, the pass over 128
        images (Compare reads every digit it draws) went from 24.0 to 20.4 ms (2 threads, median of
        30). Equal to the module path within float rounding (tests/test_metrics.py).
        """
        key = weights_version(self)
        cached = getattr(self, "_folded_cache", None)
        if cached is None or cached[0] != key:
            layers = list(self.convolutions)
            with torch.no_grad():
                for index in (0, 4):  # (conv, BatchNorm2d) pairs
                    layers[index : index + 2] = [fuse_conv_bn_eval(layers[index], layers[index + 1]), nn.Identity()]
            cached = self._folded_cache = (key, nn.Sequential(*layers).eval())
        return cached[1]
