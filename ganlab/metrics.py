"""Sample quality in the evaluation classifier's space: FID, KID, IS, precision/recall and more.

Images are embedded once (hidden features + logits, `embed`); every metric then reads the
embedding. FID, KID and the Inception Score come from torchmetrics, fed our classifier's
features through an identity "feature extractor" (its Inception weights are neither
downloadable here nor meaningful for 28x28 digits). torchmetrics has no k-NN precision /
recall, class histogram or teacher-student fidelity, so those are written here.

`evaluate_generator` is the one entry point the scripts and the app share.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ganlab.errors import GanlabError
from ganlab.sampling import noise

RECOGNIZABLE_THRESHOLD = 0.9  # max softmax at or above this counts as a recognizable digit
NEAREST_NEIGHBOURS = 3  # k of the k-NN manifolds (Kynkäänniemi et al. 2019 use 3)
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
REFERENCE_SEED = 0  # which reference subset precision/recall compares against; fixed for all models


# ---- embedding ------------------------------------------------------------------------------
@dataclass
class Embedding:
    """A set of images as the classifier sees them."""

    features: torch.Tensor  # float64 (N, D): the classifier's hidden layer
    logits: torch.Tensor  # float64 (N, C)

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def probabilities(self) -> torch.Tensor:
        return self.logits.softmax(dim=1)

    @property
    def labels(self) -> torch.Tensor:
        return self.logits.argmax(dim=1)


@dataclass
class Reference(Embedding):
    """The real set generated images are compared with (MNIST test); caches its k-NN radii."""

    _radii: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)

    def subset_with_radii(self, size: int, k: int = NEAREST_NEIGHBOURS) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed random subset of `size` features and their k-NN radii, computed once."""
        key = (size, k)
        if key not in self._radii:
            if size >= len(self):
                subset = self.features
            else:
                order = torch.randperm(len(self), generator=torch.Generator().manual_seed(REFERENCE_SEED))
                subset = self.features[order[:size]]
            self._radii[key] = (subset, knn_radii(subset, k))
        return self._radii[key]


@torch.inference_mode()
def embed(classifier: nn.Module, images: torch.Tensor, *, batch_size: int = 1000) -> Embedding:
    """Features and logits of images (N, 1, 28, 28) in [-1, 1], computed in batches in eval mode."""
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise GanlabError(f"images must have shape (N, 1, 28, 28), got {tuple(images.shape)}")
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        batch_logits, batch_features = classifier(images[start : start + batch_size].to(device), return_features=True)
        features.append(batch_features.double().cpu())
        logits.append(batch_logits.double().cpu())
    classifier.train(was_training)
    return Embedding(torch.cat(features), torch.cat(logits))


def make_reference(classifier: nn.Module, images: torch.Tensor) -> Reference:
    """The reference embedding of real images (normally all 10k MNIST test images)."""
    embedding = embed(classifier, images)
    return Reference(embedding.features, embedding.logits)


# ---- distances between feature sets ---------------------------------------------------------
class _Precomputed(nn.Module):
    """An identity 'feature extractor': torchmetrics receives features we already computed."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """FID: ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) of the two feature sets (float64).

    torchmetrics takes the matrix square root's trace from the eigenvalues of S_r S_f, which
    is exact (no iterative sqrtm); tests check it against the closed form for Gaussians.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_features(real_features, fake_features, minimum=2)
    metric = FrechetInceptionDistance(feature=_Precomputed(real_features.shape[1]))
    metric.update(real_features.double(), real=True)
    metric.update(fake_features.double(), real=False)
    return float(metric.compute())


def kernel_inception_distance(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    *,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic polynomial kernel, (mean, std) over random subsets.

    subset_size shrinks to the smaller set when either is smaller; the subsets are drawn
    from torch's global RNG inside torchmetrics, so it is seeded here and restored after.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_features(real_features, fake_features, minimum=2)
    size = min(subset_size, len(real_features), len(fake_features))
    with _quiet():  # torchmetrics warns that it keeps all features: 2 x (N, D), known and small
        metric = KernelInceptionDistance(feature=_Precomputed(real_features.shape[1]), subsets=subsets, subset_size=size)
    # float32: 300 kernel matrices of 1000 x 1000 cost seconds in float64 and change KID
    # by < 1e-5 relative here (torch sums pairwise); FID below keeps float64 statistics.
    metric.update(real_features.float(), real=True)
    metric.update(fake_features.float(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def standardize(features: torch.Tensor, reference_features: torch.Tensor) -> torch.Tensor:
    """features shifted and scaled per dimension by the reference's mean and std (a constant dimension keeps scale 1)."""
    mean = reference_features.mean(dim=0)
    std = reference_features.std(dim=0)
    return (features - mean) / torch.where(std > 0, std, torch.ones_like(std))


def standardized_kid(embedding: Embedding, reference: Embedding, *, seed: int = 0) -> dict[str, float]:
    """KID on features standardised by the reference: {"kid_standardized", "kid_standardized_subset_std"}.

    Why: KID's cubic kernel (a.b / d + 1)^3 is not scale-free. On the classifier's raw ReLU
    features (norm about 40) the teacher read 57 and real MNIST against itself 0.6 ± 0.3, numbers
    that look broken; on standardised features real against real reads 0.0009 and the teacher
    0.047, the scale KID has in the literature (Inception-feature KIDs of GANs are ~0.01-0.1).
    """
    mean, std = kernel_inception_distance(
        standardize(reference.features, reference.features), standardize(embedding.features, reference.features), seed=seed
    )
    return {"kid_standardized": mean, "kid_standardized_subset_std": std}


def inception_score(logits: torch.Tensor) -> float:
    """Classifier IS: exp(E_x KL(p(y|x) || p(y))), over the whole set (1 = useless, 10 = ideal MNIST).

    One split: the spread comes from repeating over sampling seeds instead of from splits.
    """
    from torchmetrics.image.inception import InceptionScore

    if logits.ndim != 2 or len(logits) < 1:
        raise GanlabError(f"logits must have shape (N, C) with N >= 1, got {tuple(logits.shape)}")
    with _quiet():  # the same memory warning as KID's
        metric = InceptionScore(feature=_Precomputed(logits.shape[1]), splits=1)
    metric.update(logits.double())
    with _quiet():  # the std of a single split is NaN, and unused
        mean, _ = metric.compute()
    return float(mean)


def knn_radii(features: torch.Tensor, k: int = NEAREST_NEIGHBOURS, *, chunk: int = 1000) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point (the point itself is skipped)."""
    if len(features) <= k:
        raise GanlabError(f"k-NN radii need more than k={k} points, got {len(features)}")
    points = features.float()
    radii = []
    for start in range(0, len(points), chunk):
        distances = torch.cdist(points[start : start + chunk], points)  # (chunk, N)
        # k + 1: the point itself is at distance 0 (topk is ~5x faster than kthvalue here)
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, -1])
    return torch.cat(radii)


def manifold_coverage(queries: torch.Tensor, support: torch.Tensor, radii: torch.Tensor, *, chunk: int = 1000) -> float:
    """Share of queries inside at least one support point's k-NN ball."""
    support = support.float()
    inside = 0
    for start in range(0, len(queries), chunk):
        distances = torch.cdist(queries[start : start + chunk].float(), support)  # (chunk, M)
        inside += (distances <= radii[None, :]).any(dim=1).sum().item()
    return inside / len(queries)


def precision_recall(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    *,
    k: int = NEAREST_NEIGHBOURS,
    real_radii: torch.Tensor | None = None,
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) on k-NN manifolds.

    Precision: share of fakes inside the real manifold (quality). Recall: share of reals
    inside the fake manifold (coverage). Sets of equal size compare fairly.
    """
    _check_features(real_features, fake_features, minimum=k + 1)
    if real_radii is None:
        real_radii = knn_radii(real_features, k)
    precision = manifold_coverage(fake_features, real_features, real_radii)
    recall = manifold_coverage(real_features, fake_features, knn_radii(fake_features, k))
    return precision, recall


# ---- predicted classes ----------------------------------------------------------------------
def class_histogram(logits: torch.Tensor) -> np.ndarray:
    """Share of samples predicted as each class, float64 (C,) summing to 1."""
    counts = torch.bincount(logits.argmax(dim=1), minlength=logits.shape[1]).double()
    return (counts / counts.sum()).numpy()


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats for histograms; 0 log 0 = 0, and inf where p > 0 but q = 0."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise GanlabError(f"histograms differ in shape: {p.shape} vs {q.shape}")
    p, q = p / p.sum(), q / q.sum()
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def recognizable_rate(logits: torch.Tensor, threshold: float = RECOGNIZABLE_THRESHOLD) -> float:
    """Share of samples the classifier is confident about: max softmax >= threshold."""
    return float((logits.softmax(dim=1).max(dim=1).values >= threshold).double().mean())


def balanced_recognizable_rate(logits: torch.Tensor, threshold: float = RECOGNIZABLE_THRESHOLD) -> float:
    """Recognizable, counting each class up to 1/classes of the samples: sum_c min(confident share read as c, 1/C).

    Why: the classifier is confident on some blobs too, so a collapsed generator that draws one
    shape it reads as one digit scores a plain recognizable rate of ~1.0; here it scores at most
    1/C. A generator that draws every class equally often, all confidently, scores 1.0.
    """
    probabilities = logits.softmax(dim=1)
    confident = probabilities.max(dim=1).values >= threshold
    classes = logits.shape[1]
    counts = torch.bincount(probabilities.argmax(dim=1)[confident], minlength=classes).double() / max(1, logits.shape[0])
    return float(counts.clamp(max=1.0 / classes).sum())


def fidelity(student_images: torch.Tensor, teacher_images: torch.Tensor, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> dict[str, float]:
    """How closely a student copies its teacher on the same z: pixel MSE (in [-1, 1]) and label agreement."""
    if student_images.shape != teacher_images.shape:
        raise GanlabError(f"image sets differ in shape: {tuple(student_images.shape)} vs {tuple(teacher_images.shape)}")
    mse = float((student_images.double() - teacher_images.double()).square().mean())
    agreement = float((student_logits.argmax(dim=1) == teacher_logits.argmax(dim=1)).double().mean())
    return {"pixel_mse": mse, "label_agreement": agreement}


# ---- putting it together --------------------------------------------------------------------
def compare(embedding: Embedding, reference: Reference, *, seed: int = 0) -> dict[str, Any]:
    """Every distribution metric of one embedded set against the reference."""
    real_subset, real_radii = reference.subset_with_radii(min(len(embedding), len(reference)))
    precision, recall = precision_recall(real_subset, embedding.features, real_radii=real_radii)
    histogram = class_histogram(embedding.logits)
    return {
        "fid": frechet_distance(reference.features, embedding.features),
        **standardized_kid(embedding, reference, seed=seed),
        "inception_score": inception_score(embedding.logits),
        "precision": precision,
        "recall": recall,
        "class_histogram": [round(float(share), 5) for share in histogram],
        # None when infinite (a class the reference never shows): JSON has no infinity
        "class_kl": _finite_or_none(kl_divergence(histogram, class_histogram(reference.logits))),
        "recognizable": recognizable_rate(embedding.logits),
    }


@torch.inference_mode()
def generate_images(generator: nn.Module, z: torch.Tensor, *, batch_size: int = 1000, precision: str = "fp32") -> torch.Tensor:
    """Images (n, 1, 28, 28) for noise z, in batches, with the generator in eval mode (in `precision`)."""
    from ganlab.sampling import generate

    return torch.cat([generate(generator, z[start : start + batch_size], precision) for start in range(0, len(z), batch_size)])


def evaluate_images(images: torch.Tensor, classifier: nn.Module, reference: Reference | torch.Tensor, *, seed: int = 0) -> dict[str, Any]:
    """All metrics of a set of images (e.g. real train images: the real-vs-real floor)."""
    if not isinstance(reference, Reference):
        reference = make_reference(classifier, reference)
    return {"n": len(images), "seed": seed, **compare(embed(classifier, images), reference, seed=seed)}


def evaluate_generator(
    generator: nn.Module,
    classifier: nn.Module,
    reference: Reference | torch.Tensor,
    n: int,
    seed: int,
    teacher: nn.Module | None = None,
) -> dict[str, Any]:
    """All metrics of n samples from noise(n, seed); with a teacher, also fidelity on the same z.

    reference: a Reference (reuse it across calls: its k-NN radii are cached) or real images
    (N, 1, 28, 28) in [-1, 1].
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < NEAREST_NEIGHBOURS + 1:
        raise GanlabError(f"n must be an integer >= {NEAREST_NEIGHBOURS + 1} samples, got {n!r}")
    if not isinstance(reference, Reference):
        reference = make_reference(classifier, reference)
    z = noise(n, seed, generator.latent_dim)
    images = generate_images(generator, z)
    embedding = embed(classifier, images)
    result: dict[str, Any] = {"n": n, "seed": seed, **compare(embedding, reference, seed=seed)}
    if teacher is not None:
        teacher_images = generate_images(teacher, z)
        teacher_logits = embed(classifier, teacher_images).logits
        result.update(fidelity(images, teacher_images, embedding.logits, teacher_logits))
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample std (ddof 1; 0 for a single run) of every metric that is a finite number in all runs."""
    summary = {}
    for key in runs[0]:
        values = [run.get(key) for run in runs]
        if key in ("n", "seed") or not all(_is_finite_number(value) for value in values):
            continue
        values = np.array(values, dtype=np.float64)
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        summary[key] = {"mean": float(values.mean()), "std": std}
    return summary


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence torchmetrics' UserWarnings for one call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _check_features(real: torch.Tensor, fake: torch.Tensor, *, minimum: int) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise GanlabError(f"feature sets must be (N, D) with the same D, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if len(real) < minimum or len(fake) < minimum:
        raise GanlabError(f"need at least {minimum} samples in each set, got {len(real)} and {len(fake)}")
