"""The first blocks of the teacher's pretrained EfficientNet-Lite0, for the student's eyes.

A small CNN trained from scratch on ~15k emoji and clip-art pictures learns those pictures
and little else: on pictures unlike them (held-out clip art, photos) it follows its teacher
about half the time. The first blocks of a network trained on ImageNet's photographs see
edges, colours, textures and simple parts in any picture. So the student's picture branch
starts with the first `blocks` blocks of the teacher's own image backbone, frozen, run at
the student's small input size, and trains its own conv stages on top (`Student`).

Built for speed at batch 1, where a small network's time goes mostly to per-operation
overhead: each batch norm is folded into the convolution before it. The result computes
what the teacher's own blocks compute (TensorFlow's "same" padding included, `SamePad`),
on the student's pixels, (x - 0.5) / 0.5, which the stem's weights map to
EfficientNet-Lite's (x - 0.498) / 0.502.

Frozen means frozen: the parameters never require gradients and the student's checkpoint
stores them, so a saved student loads without the EfficientNet package.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kd.models.backbones import EfficientNetLite0

# EfficientNet-Lite0 has 16 blocks; past the 11th they work at 1/32 of the input's side,
# which at a student's 32-64 px is a single pixel.
MAX_BLOCKS = 11


class SamePad(nn.Module):
    """TensorFlow's "same" padding before a strided convolution: the output has
    ceil(side / stride) pixels, and an odd amount of padding puts the extra pixel after."""

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = x.shape[-1]
        total = max((-(-side // self.stride) - 1) * self.stride + self.kernel - side, 0)
        return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Module:
    """`conv` then `bn` (eval mode) as one convolution with a bias, padded as TensorFlow's "same"."""
    k, stride = conv.kernel_size[0], conv.stride[0]
    # At stride 1 "same" is symmetric: the convolution pads by itself.
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, k, stride, k // 2 if stride == 1 else 0, groups=conv.groups, bias=True)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C,)
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale[:, None, None, None])
        folded.bias.copy_(bn.bias - bn.running_mean * scale)
    return folded if stride == 1 else nn.Sequential(SamePad(k, stride), folded)


class FoldedBlock(nn.Module):
    """One MBConv block of EfficientNet-Lite (no squeeze-excitation, ReLU6): expand (1x1),
    depthwise (k x k), project (1x1), plus the input where the shapes allow."""

    def __init__(self, block: nn.Module):
        super().__init__()
        args = block._block_args
        layers = []
        if args.expand_ratio != 1:
            layers += [_folded(block._expand_conv, block._bn0), nn.ReLU6(inplace=True)]
        layers += [_folded(block._depthwise_conv, block._bn1), nn.ReLU6(inplace=True), _folded(block._project_conv, block._bn2)]
        self.body = nn.Sequential(*layers)
        stride = args.stride[0] if isinstance(args.stride, (list, tuple)) else args.stride
        self.residual = args.id_skip and stride == 1 and args.input_filters == args.output_filters
        self.out_channels = args.output_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class PretrainedTrunk(nn.Module):
    """Stem and first `blocks` blocks of EfficientNet-Lite0, BN-folded and frozen:
    (B, 3, S, S) student pixels -> (B, out_channels, S', S') feature maps.

    `pretrained=False` gives the same shapes with random weights (for tests, and for a
    saved student, whose checkpoint holds the weights).
    """

    def __init__(self, blocks: int, pretrained: bool = True):
        super().__init__()
        if not 1 <= blocks <= MAX_BLOCKS:
            raise ValueError(f"trunk_blocks must be between 1 and {MAX_BLOCKS}, got {blocks}")
        net = EfficientNetLite0(pretrained=pretrained).net
        stem = _folded(net._conv_stem, net._bn0)
        conv = stem[-1]
        # Student pixels s = (x - 0.5) / 0.5; EfficientNet-Lite reads (x - 0.498) / 0.502 = a * s + b.
        # (Its padding is 0 in its own units, -b / a in the student's: a border 0.4% off, ignored.)
        mean, std = EfficientNetLite0.mean[0], EfficientNetLite0.std[0]
        a, b = 0.5 / std, (0.5 - mean) / std
        with torch.no_grad():
            conv.bias.add_(b * conv.weight.sum(dim=(1, 2, 3)))
            conv.weight.mul_(a)
        self.layers = nn.Sequential(stem, nn.ReLU6(inplace=True), *[FoldedBlock(block) for block in net._blocks[:blocks]])
        self.out_channels = self.layers[-1].out_channels
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
