"""The Distill tab's live quality curve: one fixed batch of samples scored by the bundled classifier.

Losses alone do not say whether a GAN is getting better. Every few seconds of a UI run, the
trainer hands its sampling generator to a QualityProbe, which scores PROBE_SAMPLES images from
one fixed noise batch: the share the classifier reads confidently, each digit counted up to a tenth
of the batch (balanced: a run that collapses onto one blob the classifier likes scores 0.1, not 1.0;
the plain recognizable rate is kept beside it), the share whose
digit matches the teacher's on the same z (agreement), and FID against a fixed subset of real
test digits. With 512 samples FID is biased upwards against the evaluation's 10,000 (see
docs/results.md): the curve is for watching a run improve, and the reference lines are the
teacher and the committed student scored by this same probe.
"""

from __future__ import annotations

import os
import weakref

import torch
from torch import nn

from ganlab.metrics import balanced_recognizable_rate, embed, frechet_distance, recognizable_rate
from ganlab.sampling import noise

PROBE_SAMPLES = 512
PROBE_SEED = 4321  # not the sample grid's noise: the curve scores images the visitor is not shown
REFERENCE_IMAGES = 2_000  # real digits the probe's FID compares with (the first of the test split)
QUALITY_CURVES = ("balanced", "agreement", "fid")  # the curves drawn; "recognizable" is reported, not drawn


class QualityProbe:
    """Scores a generator on a fixed noise batch; built once per teacher (its labels are the agreement's key)."""

    def __init__(self, classifier: nn.Module, teacher: nn.Module, reference_images: torch.Tensor) -> None:
        self.classifier = classifier
        self.z = noise(PROBE_SAMPLES, PROBE_SEED)
        self.reference = embed(classifier, reference_images[:REFERENCE_IMAGES]).features
        self.teacher_labels = self._embed(teacher).labels
        self._fixed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its values, scored once

    @torch.inference_mode()
    def _embed(self, model: nn.Module):
        was_training = model.training
        model.eval()
        try:
            device = next(model.parameters()).device
            images = model(self.z.to(device)).float().cpu()
        finally:
            model.train(was_training)
        return embed(self.classifier, images)

    def __call__(self, model: nn.Module) -> dict[str, float]:
        # the trainer waits for its probe, so the probe may use every core meanwhile (per-thread
        # setting, restored after): on 2 cores a UI run's 1-thread trainer otherwise leaves one idle
        threads = torch.get_num_threads()
        torch.set_num_threads(max(threads, os.cpu_count() or 1))
        try:
            embedding = self._embed(model)
        finally:
            torch.set_num_threads(threads)
        return {
            "recognizable": recognizable_rate(embedding.logits),
            "balanced": balanced_recognizable_rate(embedding.logits),
            "agreement": float((embedding.labels == self.teacher_labels).double().mean()),
            "fid": frechet_distance(self.reference, embedding.features),
        }

    def reference_values(self, model: nn.Module) -> dict[str, float]:
        """The probe's values for a model that does not change (the teacher, the committed student), scored once."""
        if model not in self._fixed:
            self._fixed[model] = self(model)
        return self._fixed[model]
