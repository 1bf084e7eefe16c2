"""ONNX export of a generator's inference path, checked against PyTorch with onnxruntime.

The graph is the eval-mode forward that sampling runs (BatchNorm folded into the weights, the
output stage as a matrix product + Col2Im), with a dynamic batch axis:

    z (batch, latent_dim) float32  ->  image (batch, 1, 28, 28) float32 in [-1, 1]

An export is verified before it is written: a file that disagrees with PyTorch never lands.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganlab.errors import GanlabError
from ganlab.models import Generator

OPSET = 18  # Col2Im, the output stage's fold, exists from opset 18
INPUT_NAME, OUTPUT_NAME = "z", "image"
ONNX_NAME = "model.onnx"  # the file's name beside model.safetensors in a Hub repo
VERIFY_SAMPLES = 256
TOLERANCE = 1e-4  # max |onnxruntime - PyTorch| over the verification images


def to_onnx(model: nn.Module) -> bytes:
    """The serialized ONNX model of a generator's eval-mode inference path (weights inside)."""
    if not isinstance(model, Generator):
        raise GanlabError(f"only generators can be exported to ONNX, got a {type(model).__name__}")
    # A copy in eval mode whose folded weights are computed here, eagerly: torch.export traces the
    # inference maths (Generator.infer) with them as constants, not the cache bookkeeping around
    # them (data pointers, version counters, module copies), which it cannot trace.
    fresh = Generator(model.config)
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    with torch.no_grad():
        folded = fresh._folded()
    fresh._folded = lambda dtype=torch.float32: folded
    example = torch.zeros(2, model.latent_dim)  # batch 2: a batch of 1 would be specialised away
    batch = torch.export.Dim("batch", min=1)
    # dynamo=True (torch.export + onnxscript): the TorchScript exporter (dynamo=False) cannot
    # translate the output stage's fold, whose col2im output size it traces from a shape.
    # no_grad selects the same folded inference path as sampling.generate.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.export's notes on the constants; the check below is the test
        try:
            program = torch.onnx.export(
                fresh, (example,), None, dynamo=True, opset_version=OPSET, input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},), external_data=False, verbose=False,
            )
        except Exception as error:  # torch.onnx's errors carry pages of report; keep its first line
            raise GanlabError(f"torch could not export the generator to ONNX: {str(error).strip().splitlines()[0]}") from None
    proto = program.model_proto
    proto.doc_string = "ganlab generator: z (batch, latent_dim) ~ N(0, I) -> image (batch, 1, 28, 28) in [-1, 1]"
    for key, value in (("ganlab_config", json.dumps(model.config.to_dict())), ("latent_dim", str(model.latent_dim))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def session(model: bytes | str | os.PathLike, *, threads: int = 0):
    """An onnxruntime CPU session for an ONNX model (bytes or a path); threads=0: onnxruntime's default."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def max_difference(onnx_model: bytes, model: nn.Module, *, samples: int = VERIFY_SAMPLES, seed: int = 0) -> float:
    """Largest |onnxruntime - PyTorch| over `samples` images from the seed's noise, at batch `samples` and 1."""
    from ganlab.sampling import generate, noise

    z = noise(samples, seed, model.latent_dim)
    expected = generate(model, z).numpy()  # (samples, 1, 28, 28)
    runner = session(onnx_model)
    try:
        whole = runner.run([OUTPUT_NAME], {INPUT_NAME: z.numpy()})[0]
        single = runner.run([OUTPUT_NAME], {INPUT_NAME: z[:1].numpy()})[0]  # the batch axis is dynamic
    except Exception as error:  # onnxruntime raises its own exception types
        raise GanlabError(f"onnxruntime could not run the exported graph: {str(error).splitlines()[0]}") from None
    if whole.shape != expected.shape or single.shape != expected[:1].shape:
        raise GanlabError(f"the exported graph returns shape {whole.shape}, PyTorch {expected.shape}")
    return float(max(np.abs(whole - expected).max(), np.abs(single - expected[:1]).max()))


def export_onnx(model: nn.Module, out: str | os.PathLike, *, tolerance: float = TOLERANCE) -> float:
    """Export a generator to `out` after checking onnxruntime against PyTorch; returns the max difference.

    Outside the tolerance it raises a GanlabError and writes nothing.
    """
    from ganlab.checkpoints import atomic_write_bytes

    out = Path(out)
    onnx_model = to_onnx(model)
    difference = max_difference(onnx_model, model)
    if not difference <= tolerance:  # also catches NaN
        raise GanlabError(
            f"the ONNX graph differs from PyTorch by {difference:.3g} (tolerance {tolerance:g}) on "
            f"{VERIFY_SAMPLES} samples; nothing written to {out}"
        )
    atomic_write_bytes(out, onnx_model)
    return difference
