"""Five ways to run a generator's stride-2 transposed convolution (kernel 4, padding 1), equal in
value: what scripts/bench_precision.py times to choose the one Generator.infer uses.

Each takes x (B, C, n, n), weight (C, C', 4, 4) as ConvTranspose2d holds it, and bias (C',), and
returns (B, C', 2n, 2n) in x's dtype. Why a stride-2 k4 layer splits into four 2x2 convolutions:
output row 2m takes input rows m-1 and m through kernel rows 3 and 1; output row 2m+1 takes
rows m and m+1 through kernel rows 2 and 0 (the same for columns). Measured fastest where each was
timed: oneDNN's own, channels-last in bf16 on an AMX Xeon (all five), NCHW in fp32 on an AVX2
EPYC (four, channels-last not among them); docs/development.md has the figures.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

# kernel rows (or columns) used by output phase r, ordered as the 2x2 window reads the input:
# phase 0 reads input rows (m-1, m), phase 1 reads (m, m+1)
_TAPS = {0: (3, 1), 1: (2, 0)}


def onednn_channels_last(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """torch's conv_transpose2d on channels-last activations: the form Generator.infer runs in bf16."""
    return F.conv_transpose2d(x.contiguous(memory_format=torch.channels_last), weight, bias, stride=2, padding=1)


def onednn_nchw(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """torch's conv_transpose2d on contiguous (NCHW) activations: the form infer runs in fp32."""
    return F.conv_transpose2d(x.contiguous(), weight, bias, stride=2, padding=1)


def phase_weights(weight: torch.Tensor) -> torch.Tensor:
    """(4C', C, 2, 2): the four 2x2 convolutions, phase (ry, rx) at channels (2 ry + rx) C' ..."""
    parts = [weight[:, :, list(_TAPS[ry])][:, :, :, list(_TAPS[rx])].transpose(0, 1) for ry in (0, 1) for rx in (0, 1)]
    return torch.cat(parts)


def phase_convolutions(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One 2x2 convolution to 4C' channels over the input padded by 1 ((n+1) x (n+1) windows), then
    each phase's n x n crop written to its interleaved places (channels-last throughout)."""
    batch, _, n, _ = x.shape
    c_out = weight.shape[1]
    y = F.conv2d(x.contiguous(memory_format=torch.channels_last), phase_weights(weight), bias.repeat(4), padding=1)
    phases = y.permute(0, 2, 3, 1).reshape(batch, n + 1, n + 1, 2, 2, c_out)  # (B, p, q, ry, rx, C')
    out = x.new_empty((batch, n, 2, n, 2, c_out))
    for ry in (0, 1):
        for rx in (0, 1):  # phase (ry, rx) at (m, k) is window (m + ry, k + rx)
            out[:, :, ry, :, rx] = phases[:, ry : ry + n, rx : rx + n, ry, rx]
    return out.view(batch, 2 * n, 2 * n, c_out).permute(0, 3, 1, 2)


def subpixel_convolution(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One 3x3 convolution to 4C' channels (each phase uses 4 of its 9 taps) + pixel_shuffle: 2.25x
    the multiply-adds, in a shape oneDNN runs well."""
    c_in, c_out = weight.shape[:2]
    full = weight.new_zeros((c_out, 2, 2, c_in, 3, 3))  # pixel_shuffle reads channel c*4 + 2 ry + rx
    for ry in (0, 1):
        for rx in (0, 1):
            for dy, ky in enumerate(_TAPS[ry]):
                for dx, kx in enumerate(_TAPS[rx]):  # phase r reads input offsets r-1 and r: 3x3 index r + d
                    full[:, ry, rx, :, ry + dy, rx + dx] = weight[:, :, ky, kx].t()
    y = F.conv2d(x.contiguous(memory_format=torch.channels_last), full.view(4 * c_out, c_in, 3, 3), bias.repeat_interleave(4), padding=1)
    return F.pixel_shuffle(y, 2)


def gemm_fold(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One matrix product to each input pixel's 4x4 patch of every output channel, then `fold`
    (col2im) sums the overlapping patches: the form infer's single-channel output stage uses."""
    batch, c_in, n, _ = x.shape
    c_out = weight.shape[1]
    rows = x.permute(0, 2, 3, 1).reshape(-1, c_in)  # (B n n, C)
    columns = torch.mm(rows, weight.reshape(c_in, c_out * 16)).view(batch, n * n, c_out * 16).transpose(1, 2)
    out = F.fold(columns.float(), (2 * n, 2 * n), 4, stride=2, padding=1)  # col2im has no bf16 kernel on every build
    return (out + bias.float().view(1, -1, 1, 1)).to(x.dtype)


FORMS = {
    "oneDNN, channels-last": onednn_channels_last,
    "oneDNN, NCHW": onednn_nchw,
    "four 2x2 convolutions (phases)": phase_convolutions,
    "3x3 convolution + pixel_shuffle": subpixel_convolution,
    "matrix product + fold (col2im)": gemm_fold,
}
