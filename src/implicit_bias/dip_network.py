"""The Deep Image Prior "skip" hourglass (Ulyanov, Vedaldi, Lempitsky 2018), the network
``phi(theta)`` of the image experiments of You, Zhu, Qu, Ma (NeurIPS 2020, Sec. 4.2).

Written from its description: ``scales`` levels; on the way down each level applies a
stride-2 3x3 convolution and a 3x3 convolution; on the way up the deeper result is upsampled
bilinearly (x2), concatenated with a skip branch (a 1x1 convolution to ``skip_channels``
channels of the level's input), batch-normalized, and passed through a 3x3 and a 1x1
convolution. Every convolution is followed by BatchNorm and LeakyReLU(0.2) and pads by
reflection; a final 1x1 convolution to the output channels and a sigmoid give the image.
As in the reference implementation, the concatenation of skip and deeper branch has its own
BatchNorm, every convolution has a bias, and the weights keep PyTorch's default (Kaiming
uniform) initialization.

Input: a fixed tensor of uniform noise ``U[0, 1) * input_scale`` with ``input_channels``
channels and the image's height and width, which must be multiples of ``2**scales`` and
at least ``2**(scales + 1)``.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_block(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Reflection padding, a convolution (with bias), BatchNorm and LeakyReLU(0.2).

    :param c_in: input channels.
    :param c_out: output channels.
    :param kernel: odd kernel size; ``(kernel - 1) / 2`` pixels are reflected on each side.
    :param stride: 2 halves the height and width (the downsampling of the hourglass).
    """
    pad = (kernel - 1) // 2
    layers: list[nn.Module] = [nn.ReflectionPad2d(pad)] if pad else []
    layers += [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, bias=True),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    ]
    return nn.Sequential(*layers)


class SkipLevel(nn.Module):
    """One level of the hourglass; it holds the levels below it (``inner``).

    .. math::

        \\mathrm{out} = \\mathrm{up}\\big(\\mathrm{BN}[\\,\\mathrm{skip}(x),\\;
            \\mathrm{Upsample}(\\mathrm{inner}(\\mathrm{down}(x)))\\,]\\big)

    :param c_in: channels of the level's input.
    :param width: channels of every 3x3 and 1x1 convolution of the level.
    :param skip_channels: channels of the skip branch (0 disables it).
    :param inner: the next level down, or None at the bottom.
    """

    def __init__(self, c_in: int, width: int, skip_channels: int, inner: SkipLevel | None):
        super().__init__()
        self.skip = conv_block(c_in, skip_channels, 1) if skip_channels else None
        self.down = nn.Sequential(conv_block(c_in, width, 3, stride=2), conv_block(width, width, 3))
        self.inner = inner
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear")
        self.merge_bn = nn.BatchNorm2d(skip_channels + width)
        self.up = nn.Sequential(conv_block(skip_channels + width, width, 3), conv_block(width, width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deeper = self.down(x)
        if self.inner is not None:
            deeper = self.inner(deeper)
        deeper = self.upsample(deeper)
        branches = [deeper] if self.skip is None else [self.skip(x), deeper]
        return self.up(self.merge_bn(torch.cat(branches, dim=1)))


class SkipNet(nn.Module):
    """The DIP skip hourglass: ``scales`` :class:`SkipLevel` s, a 1x1 convolution, a sigmoid.

    :param input_channels: channels of the network input (DIP: 32).
    :param output_channels: channels of the image (3 for colour).
    :param width: channels of every convolution inside the hourglass (paper: 128).
    :param scales: number of levels (5); inputs must be multiples of ``2**scales`` in size,
        and at least ``2**(scales + 1)`` a side.
    :param skip_channels: channels of each skip branch (4).
    """

    def __init__(
        self,
        input_channels: int = 32,
        output_channels: int = 3,
        width: int = 128,
        scales: int = 5,
        skip_channels: int = 4,
    ):
        super().__init__()
        if scales < 1 or width < 1:
            raise ValueError(f"need scales >= 1 and width >= 1, got scales={scales}, width={width}")
        self.scales = scales
        level = None
        for i in reversed(range(scales)):
            level = SkipLevel(input_channels if i == 0 else width, width, skip_channels, level)
        self.body = level
        self.head = nn.Conv2d(width, output_channels, 1, bias=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        factor = 2**self.scales
        if z.shape[-1] % factor or z.shape[-2] % factor:
            raise ValueError(f"input height and width must be multiples of {factor}, got {tuple(z.shape[-2:])}")
        if min(z.shape[-2:]) < 2 * factor:
            raise ValueError(
                f"a {tuple(z.shape[-2:])} input reaches the deepest level with a side of 1 pixel, "
                f"too small for its reflection padding: use at least {2 * factor} pixels a side"
            )
        features = self.body(z)
        # The last convolution and the sigmoid run in float32 even under autocast, so the
        # image (and its PSNR) is not quantized to the low-precision format.
        with torch.autocast(device_type=z.device.type, enabled=False):
            return torch.sigmoid(self.head(features.float()))


def skip_net_parameter_count(
    input_channels: int = 32, output_channels: int = 3, width: int = 128, scales: int = 5, skip_channels: int = 4
) -> int:
    """The number of trainable parameters of :class:`SkipNet`, by hand.

    A ``k x k`` convolution from ``a`` to ``b`` channels has ``k^2 a b + b`` parameters and
    a BatchNorm of ``b`` channels ``2 b``. Level ``i`` (input ``c_i`` channels, ``c_0 =
    input_channels``, else ``width``; ``w = width``, ``s = skip_channels``) holds

    .. math::

        \\underbrace{(c_i s + 3s)}_{\\text{skip}} + \\underbrace{(9 c_i w + 3w)
        + (9 w^2 + 3w)}_{\\text{down}} + \\underbrace{2(s+w)}_{\\text{merge BN}}
        + \\underbrace{(9 (s+w) w + 3w) + (w^2 + 3w)}_{\\text{up}}

    and the head ``w \\cdot \\mathrm{out} + \\mathrm{out}``.
    """
    w, s = width, skip_channels
    total = 0
    for i in range(scales):
        c = input_channels if i == 0 else w
        skip = (c * s + 3 * s) if s else 0
        total += skip + (9 * c * w + 3 * w) + (9 * w * w + 3 * w) + 2 * (s + w)
        total += (9 * (s + w) * w + 3 * w) + (w * w + 3 * w)
    return total + w * output_channels + output_channels
