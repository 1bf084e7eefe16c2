"""`Gallery`: Compare, the latent walk and their downloads: teacher and student drawn from one z."""

from __future__ import annotations

import math
import random
import weakref
from typing import Any

import numpy as np
import torch

from ganlab.config import MAX_SEED, SEED
from ganlab.digits import DigitNoise, digit_noise
from ganlab.downloads import png_zip, walk_gif
from ganlab.datasets import get_dataset
from ganlab.errors import GanlabError
import ganlab.lab.settings as lab_settings
from ganlab.lab.choice import ModelChoice
from ganlab.lab.files import ImageFiles, OnnxFiles
from ganlab.lab.request import count
from ganlab.lab.sampler import Sampler
from ganlab.lab.scope import current as current_dataset
from ganlab.lab.settings import ANY_DIGIT, DEFAULT_SAMPLES, LabSettings
from ganlab.lab.sources import STUDENT_CHOICES
from ganlab.lab.views import CompareView, WalkView, compare_markdown, describe, labelled_frames, scale_for
from ganlab.sampling import grid, interpolate, noise, to_uint8
from ganlab.trainer import FIXED_NOISE_SEED


def as_digit(value: Any) -> int | None:
    """Compare's class choice in this request's dataset: None for "any" (or left out), else the class
    index (a class name, or its index as text: MNIST's digits are both)."""
    if value is None or value == ANY_DIGIT or value == "":
        return None
    dataset = get_dataset(current_dataset())
    text = str(value).strip()
    names = dataset.class_names
    if not isinstance(value, bool):
        if text in names:
            return names.index(text)
        if text.isdigit() and int(text) < len(names):
            return int(text)
    raise GanlabError(f"{dataset.item} must be {ANY_DIGIT!r} or one of {', '.join(names)}, got {value!r:.60}")


class Gallery:
    """What Compare and the latent walk draw, and the files they hand out (zips, GIFs, ONNX)."""

    def __init__(self, settings: LabSettings, sampler: Sampler, models: ModelChoice, *, images: ImageFiles, onnx: OnnxFiles) -> None:
        self.settings, self.sampler, self.models = settings, sampler, models
        self.images, self.onnx = images, onnx
        self._teacher_fixed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # teacher model -> its fixed-noise grid

    @staticmethod
    def random_seed() -> int:
        return random.randint(0, MAX_SEED)

    # ---- Compare ----------------------------------------------------------------------------------
    def _compare(self, seed: Any, n: Any, student: str, digit: Any) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Compare's samples: (teacher images, student images) from one z, (n, 1, 28, 28), and their details."""
        seed = SEED.check(seed, text=True)
        n = count("number of samples", n, 1, self.settings.max_samples)
        digit = as_digit(digit)
        student_model = self.models.student_for(student)
        teacher = self.models.teacher
        details: dict[str, Any] = {"seed": seed, "n": n, "dataset": current_dataset(), "item": get_dataset(current_dataset()).item}
        if digit is None:
            z = noise(n, seed)  # (n, latent): one batch, both models
        else:
            search = self._digit_noise(digit, n, seed)
            dataset = get_dataset(current_dataset())
            z = search.z  # (found, latent): the kept z, rendered by both models
            details["n"] = search.found
            details["digit"] = {
                "digit": digit, "wanted": n, "found": search.found, "tried": search.tried,
                "acceptance_rate": search.acceptance_rate, "summary": search.summary(f"{dataset.item} {dataset.class_names[digit]}"),
            }  # fmt: skip
        teacher_images, teacher_s = self.sampler.sample(teacher.model, z)
        student_images, student_s = self.sampler.sample(student_model.model, z)
        details["teacher"] = describe(teacher, teacher_s)
        details["student"] = describe(student_model, student_s)
        return teacher_images, student_images, details

    def _digit_noise(self, digit: int, n: int, seed: int) -> DigitNoise:
        """The seed's first n z whose teacher image the classifier reads as `digit` (bounded: DIGIT_MAX_TRIES, DIGIT_MAX_SECONDS)."""
        dataset = get_dataset(current_dataset())
        if self.sampler.classifier is None:
            raise GanlabError(
                f"asking for a {dataset.item} needs the evaluation classifier ({dataset.classifier}), which is not loaded; "
                f"choose 'any' or train it with ganlab-train-classifier --dataset {dataset.name}"
            )
        search = self.sampler.run(digit_noise, self.models.teacher.model, self.sampler.classifier, digit, n, seed,
                                  max_tries=lab_settings.DIGIT_MAX_TRIES, max_seconds=lab_settings.DIGIT_MAX_SECONDS)  # fmt: skip
        if not search.found:
            raise GanlabError(f"{search.summary(f'{dataset.item} {dataset.class_names[digit]}')}: the teacher draws no {dataset.class_names[digit]} this seed's search can find; try another seed or {dataset.item}")
        return search

    def generate(self, seed: Any = 0, n: Any = DEFAULT_SAMPLES, student: str = STUDENT_CHOICES[0], digit: Any = ANY_DIGIT) -> CompareView:
        """Teacher and student grids from the same noise, with sizes, timings and predictions.

        digit "0".."9" keeps only the z whose teacher image the classifier reads as that digit
        (ganlab.digits); "any" (the default) takes the seed's noise as it comes.
        """
        teacher_images, student_images, details = self._compare(seed, n, student, digit)
        n = details["n"]
        # one classifier pass over both grids: (2n, 1, 28, 28) -> 2n labels
        labels = self.sampler.predict(torch.cat([teacher_images, student_images]))
        columns = max(1, math.ceil(math.sqrt(n)))
        scale = scale_for(columns)
        teacher_labels = student_labels = differ = None
        if labels is not None:
            teacher_labels, student_labels = labels[:n], labels[n:]
            differ = teacher_labels != student_labels  # marked on both grids
            details["teacher_digits"] = teacher_labels.tolist()
            details["student_digits"] = student_labels.tolist()
            details["agreement"] = float(1.0 - differ.mean())
        # each digit with the classifier's reading under it (no reading without the classifier)
        teacher_grid = labelled_frames(to_uint8(teacher_images), teacher_labels, columns=columns, scale=scale, marked=differ)
        student_grid = labelled_frames(to_uint8(student_images), student_labels, columns=columns, scale=scale, marked=differ)
        info = compare_markdown(details, self.models.notes())
        dataset = get_dataset(current_dataset())
        if labels is not None and dataset.class_names != tuple(str(index) for index in range(dataset.num_classes)):
            # the number under each image is its class: say which names they stand for
            info += "\n\nUnder each image, its class: " + ", ".join(f"{index} {name}" for index, name in enumerate(dataset.class_names)) + "."
        return CompareView(teacher_grid, student_grid, info, details)

    def compare_pngs(self, seed: Any = 0, n: Any = DEFAULT_SAMPLES, student: str = STUDENT_CHOICES[0], digit: Any = ANY_DIGIT) -> str:
        """Compare's samples as a zip of one 28x28 PNG per image (teacher/000.png, student/000.png, ...); its path."""
        teacher_images, student_images, _ = self._compare(seed, n, student, digit)
        data = png_zip({"teacher": to_uint8(teacher_images), "student": to_uint8(student_images)})
        return self.images.keep(data, ".zip", prefix="ganlab-samples-")

    # ---- Latent walk --------------------------------------------------------------------------------
    def _walk(self, seed_a: Any, seed_b: Any, frames: Any, student: str) -> tuple[torch.Tensor, torch.Tensor, str]:
        """Teacher and student images along the slerp path, (frames, 1, 28, 28) each, and a line saying which."""
        seed_a = SEED.check(seed_a, label="first seed", text=True)
        seed_b = SEED.check(seed_b, label="second seed", text=True)
        frames = count("frames", frames, 2, self.settings.max_frames)
        student_model = self.models.student_for(student)
        z = interpolate(seed_a, seed_b, frames)  # (frames, latent)
        teacher_images, _ = self.sampler.sample(self.models.teacher.model, z)
        student_images, _ = self.sampler.sample(student_model.model, z)
        return teacher_images, student_images, f"{frames} frames from seed {seed_a} to seed {seed_b} (spherical interpolation of z)"

    def latent_walk(self, seed_a: Any = 0, seed_b: Any = 1, frames: Any = 10, student: str = STUDENT_CHOICES[0]) -> WalkView:
        """Teacher and student along the same slerp path between two seeds' noise, as strips."""
        teacher_images, student_images, info = self._walk(seed_a, seed_b, frames, student)
        strips = [labelled_frames(to_uint8(images), self.sampler.predict(images)) for images in (teacher_images, student_images)]
        return WalkView(strips[0], strips[1], info)

    def latent_walk_gif(self, seed_a: Any = 0, seed_b: Any = 1, frames: Any = 10, student: str = STUDENT_CHOICES[0]) -> str:
        """The same walk as an animated GIF, teacher left and student right, one frame per step; its path."""
        teacher_images, student_images, _ = self._walk(seed_a, seed_b, frames, student)
        data = walk_gif(to_uint8(teacher_images), to_uint8(student_images))
        return self.images.keep(data, ".gif", prefix="ganlab-walk-")

    # ---- Downloads and the Distill tab's fixed teacher grid -------------------------------------------
    def onnx_files(self) -> list[str]:
        """The teacher and the student Compare shows as ONNX files (exported once per model, verified)."""
        return [str(self.onnx.path(loaded.role, loaded.model)) for loaded in (self.models.teacher, self.models.student)]

    def teacher_fixed_samples(self) -> np.ndarray:
        """The teacher on the trainer's fixed noise batch: what the live student is compared with."""
        model = self.models.teacher.model  # the app's, or the visitor's Hub teacher (a grid each, gone with the model)
        if model not in self._teacher_fixed:
            images, _ = self.sampler.sample(model, noise(64, FIXED_NOISE_SEED))
            self._teacher_fixed[model] = grid(to_uint8(images), columns=8, scale=2)
        return self._teacher_fixed[model]
