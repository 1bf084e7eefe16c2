"""Each quality metric against an oracle: a closed form, a hand computation or another library."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch

from ganlab import metrics
from ganlab.checkpoints import build_model, load_classifier, save_checkpoint
from ganlab.classifier import CLASSIFIER_PATH, Classifier
from ganlab.config import ClassifierConfig, GeneratorConfig, config_from_dict
from ganlab.errors import GanlabError
from ganlab.models import Generator, init_weights


def exact_gaussian_sample(n: int, mean: np.ndarray, covariance: np.ndarray, seed: int) -> torch.Tensor:
    """n points whose sample mean and unbiased sample covariance are exactly `mean` and `covariance`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, len(mean)))
    x -= x.mean(axis=0)
    whitening = np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False)))
    x = x @ whitening.T @ np.linalg.cholesky(covariance).T
    return torch.from_numpy(x + mean)


def closed_form_fid(mean_1, cov_1, mean_2, cov_2) -> float:
    """||m1 - m2||^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), with scipy's sqrtm."""
    root_1 = scipy.linalg.sqrtm(cov_1).real
    cross = scipy.linalg.sqrtm(root_1 @ cov_2 @ root_1).real
    return float(np.sum((mean_1 - mean_2) ** 2) + np.trace(cov_1 + cov_2 - 2 * cross))


def random_covariance(dim: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


# ---- FID -------------------------------------------------------------------------------------
def test_fid_matches_the_closed_form_for_diagonal_gaussians():
    # commuting covariances: Tr(S1 + S2 - 2 (S1 S2)^1/2) = sum (sqrt(s1) - sqrt(s2))^2, no sqrtm needed
    var_1, var_2 = np.array([1.0, 4.0, 9.0, 0.25]), np.array([4.0, 1.0, 9.0, 1.0])
    mean_1, mean_2 = np.zeros(4), np.array([1.0, -2.0, 0.0, 0.5])
    expected = np.sum((mean_1 - mean_2) ** 2) + np.sum((np.sqrt(var_1) - np.sqrt(var_2)) ** 2)  # 5.25 + 2.25
    real = exact_gaussian_sample(500, mean_1, np.diag(var_1), seed=0)
    fake = exact_gaussian_sample(700, mean_2, np.diag(var_2), seed=1)
    assert metrics.frechet_distance(real, fake) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert expected == pytest.approx(7.5)


def test_fid_matches_scipy_sqrtm_for_general_gaussians():
    dim = 16
    mean_1, mean_2 = np.zeros(dim), np.linspace(-1, 1, dim)
    cov_1, cov_2 = random_covariance(dim, 0), random_covariance(dim, 1)
    real = exact_gaussian_sample(400, mean_1, cov_1, seed=2)
    fake = exact_gaussian_sample(300, mean_2, cov_2, seed=3)
    expected = closed_form_fid(mean_1, cov_1, mean_2, cov_2)
    assert metrics.frechet_distance(real, fake) == pytest.approx(expected, rel=1e-7)
    assert metrics.frechet_distance(fake, real) == pytest.approx(expected, rel=1e-7)  # symmetric


def test_fid_of_a_set_with_itself_is_zero():
    features = exact_gaussian_sample(200, np.zeros(8), random_covariance(8, 4), seed=5)
    assert abs(metrics.frechet_distance(features, features)) < 1e-6


def test_fid_refuses_mismatched_features():
    with pytest.raises(GanlabError, match="same D"):
        metrics.frechet_distance(torch.zeros(10, 3), torch.zeros(10, 4))
    with pytest.raises(GanlabError, match="at least 2"):
        metrics.frechet_distance(torch.zeros(1, 3), torch.zeros(10, 3))


# ---- KID -------------------------------------------------------------------------------------
def numpy_kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 (Bińkowski et al. 2018), written out."""
    d, m = x.shape[1], len(x)
    kernel = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / m**2)


def test_kid_matches_a_numpy_reimplementation():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 5)), rng.standard_normal((60, 5)) * 1.3 + 0.4
    # one subset of every point: the permutation inside torchmetrics cannot change the value
    mean, std = metrics.kernel_inception_distance(torch.from_numpy(x), torch.from_numpy(y), subsets=1, subset_size=60)
    assert mean == pytest.approx(numpy_kid(x, y), rel=1e-4)
    assert std == 0.0


def test_kid_is_near_zero_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(1)
    a, b = (torch.from_numpy(rng.standard_normal((300, 8))) for _ in range(2))
    same_mean, same_std = metrics.kernel_inception_distance(a, b, subsets=10, subset_size=150)
    shifted_mean, _ = metrics.kernel_inception_distance(a, b + 1.0, subsets=10, subset_size=150)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert shifted_mean > 100 * abs(same_mean)
    # seeded subsets: the same seed gives the same answer
    assert metrics.kernel_inception_distance(a, b, subsets=5, subset_size=100, seed=7) == metrics.kernel_inception_distance(
        a, b, subsets=5, subset_size=100, seed=7
    )


def test_standardized_kid_is_kid_on_features_standardised_by_the_reference():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((60, 5)) * [1.0, 3.0, 10.0, 0.5, 40.0] + 7.0
    fake = real[::-1] * 1.2 + 0.5
    real[:, 3] = 2.0  # a constant dimension of the reference keeps scale 1 instead of dividing by 0
    mean, std = real.mean(axis=0), real.std(axis=0, ddof=1)
    std[std == 0] = 1.0
    expected = numpy_kid((real - mean) / std, (fake - mean) / std)
    reference, embedding = (metrics.Embedding(torch.from_numpy(x), torch.zeros(len(x), 10)) for x in (real, fake))
    result = metrics.standardized_kid(embedding, reference)
    assert result["kid_standardized"] == pytest.approx(expected, rel=1e-4)


def test_standardized_kid_does_not_depend_on_the_scale_of_the_features():
    # the point of the scale: raw KID grows with the features' magnitude (cubic kernel), standardised KID does not
    rng = np.random.default_rng(3)
    real, fake = torch.from_numpy(rng.standard_normal((400, 8))), torch.from_numpy(rng.standard_normal((400, 8)) + 0.3)
    scale, shift = torch.from_numpy(rng.uniform(0.1, 50.0, 8)), torch.from_numpy(rng.standard_normal(8) * 20)
    kid = lambda a, b: metrics.standardized_kid(  # noqa: E731
        metrics.Embedding(b, torch.zeros(len(b), 10)), metrics.Embedding(a, torch.zeros(len(a), 10)), seed=4
    )["kid_standardized"]
    assert kid(real * scale + shift, fake * scale + shift) == pytest.approx(kid(real, fake), rel=1e-3)
    raw, raw_scaled = (metrics.kernel_inception_distance(a, b, seed=4)[0] for a, b in ((real, fake), (real * 10, fake * 10)))
    assert raw_scaled > 100 * raw
    # one distribution against itself reads about 0 on this scale, another one clearly more
    same = kid(real[:200], real[200:])
    assert abs(same) < 0.01 < kid(real, fake)


# ---- Inception Score -------------------------------------------------------------------------
def one_hot_logits(labels: list[int], classes: int = 10, margin: float = 60.0) -> torch.Tensor:
    logits = torch.full((len(labels), classes), -margin, dtype=torch.float64)
    logits[torch.arange(len(labels)), torch.tensor(labels)] = margin
    return logits


def test_inception_score_known_values():
    assert metrics.inception_score(torch.zeros(50, 10, dtype=torch.float64)) == pytest.approx(1.0)  # uniform p(y|x)
    assert metrics.inception_score(one_hot_logits([i % 10 for i in range(100)])) == pytest.approx(10.0)  # ideal
    assert metrics.inception_score(one_hot_logits([3] * 40)) == pytest.approx(1.0)  # mode collapse
    assert metrics.inception_score(one_hot_logits([0, 1] * 20)) == pytest.approx(2.0)


def test_inception_score_matches_its_definition():
    logits = torch.from_numpy(np.random.default_rng(2).standard_normal((30, 10)) * 3)
    p = logits.softmax(1).numpy()
    marginal = p.mean(0)
    expected = math.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1)))
    assert metrics.inception_score(logits) == pytest.approx(expected, rel=1e-9)


# ---- precision / recall ----------------------------------------------------------------------
def test_precision_recall_of_identical_and_disjoint_sets():
    features = torch.from_numpy(np.random.default_rng(3).standard_normal((100, 6)))
    assert metrics.precision_recall(features, features) == (1.0, 1.0)
    assert metrics.precision_recall(features, features + 1000.0) == (0.0, 0.0)


def test_precision_recall_by_hand_in_one_dimension():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])  # k=1 radii: 1, 1, 1, 1
    fake = torch.tensor([[0.5], [10.0]])  # 0.5 lies in a real ball, 10 in none; fake radii 9.5
    precision, recall = metrics.precision_recall(real, fake, k=1)
    assert precision == 0.5
    assert recall == 1.0
    assert metrics.knn_radii(real, 2).tolist() == [2.0, 1.0, 1.0, 2.0]


# ---- classes, recognizable rate, fidelity ------------------------------------------------------
def test_class_histogram_and_kl_against_scipy():
    histogram = metrics.class_histogram(one_hot_logits([0, 0, 1, 2], classes=4))
    assert histogram.tolist() == [0.5, 0.25, 0.25, 0.0]
    reference = np.array([0.1, 0.2, 0.3, 0.4])
    assert metrics.kl_divergence(histogram, reference) == pytest.approx(scipy.stats.entropy(histogram, reference))
    assert metrics.kl_divergence(reference, reference) == 0.0
    assert metrics.kl_divergence(reference, histogram) == math.inf  # class 3 never predicted


def test_recognizable_rate_counts_confident_samples():
    probabilities = torch.tensor([[0.95, 0.05], [0.09, 0.91], [0.89, 0.11], [0.2, 0.8]], dtype=torch.float64)
    assert metrics.recognizable_rate(probabilities.log()) == 0.5  # 0.95 and 0.91, not 0.89 or 0.8
    assert metrics.recognizable_rate(probabilities.log(), threshold=0.85) == 0.75


def test_fidelity_by_hand():
    student = torch.zeros(4, 1, 28, 28)
    same = metrics.fidelity(student, student.clone(), one_hot_logits([1, 2, 3, 4]), one_hot_logits([1, 2, 3, 4]))
    assert same == {"pixel_mse": 0.0, "label_agreement": 1.0}
    shifted = metrics.fidelity(student, student + 0.5, one_hot_logits([1, 2, 3, 4]), one_hot_logits([1, 2, 0, 0]))
    assert shifted["pixel_mse"] == pytest.approx(0.25)
    assert shifted["label_agreement"] == 0.5


# ---- the classifier and the end-to-end entry points --------------------------------------------
def tiny_classifier(seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(ClassifierConfig(channels=(4, 8), hidden=16)).eval()


def tiny_generator(seed: int = 0) -> Generator:
    generator = Generator(GeneratorConfig.student(8))
    init_weights(generator, torch.Generator().manual_seed(seed))
    return generator.eval()


def test_classifier_returns_features_explicitly_and_round_trips(tmp_path):
    classifier = tiny_classifier()
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    logits, features = classifier(images, return_features=True)
    assert logits.shape == (5, 10) and features.shape == (5, 16)
    assert torch.equal(classifier(images), logits)
    assert config_from_dict(classifier.config.to_dict()) == classifier.config
    assert isinstance(build_model(classifier.config), Classifier)
    save_checkpoint(classifier, tmp_path / "clf")
    loaded = load_classifier(tmp_path / "clf")
    # load_classifier returns channels-last weights: the same maths, summed in another order
    assert torch.allclose(loaded(images), logits, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(loaded(images), logits, atol=1e-6)
    with pytest.raises(GanlabError, match="train_classifier.py"):
        load_classifier(tmp_path / "missing")


def test_classifier_folds_batchnorm_for_inference_and_refolds_after_a_change():
    classifier = tiny_classifier()
    for bn in (classifier.convolutions[1], classifier.convolutions[5]):  # statistics far from (0, 1)
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)
    images = torch.rand(6, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        folded = classifier(images)
        assert classifier._folded_cache is not None
        assert all(not isinstance(layer, torch.nn.BatchNorm2d) for layer in classifier._folded_convolutions())
    assert torch.allclose(folded, classifier(images), atol=1e-5)  # with grad: the module path
    classifier.convolutions[1].running_mean.add_(0.5)  # as load_state_dict or training would
    with torch.no_grad():
        refolded = classifier(images)
    assert not torch.allclose(refolded, folded, atol=1e-3)
    assert torch.allclose(refolded, classifier(images), atol=1e-5)


def test_embed_is_independent_of_the_batch_size():
    classifier = tiny_classifier()
    images = torch.rand(7, 1, 28, 28) * 2 - 1
    whole, pieces = metrics.embed(classifier, images), metrics.embed(classifier, images, batch_size=3)
    assert torch.allclose(whole.features, pieces.features, atol=1e-6)
    assert torch.allclose(whole.logits, pieces.logits, atol=1e-6)
    with pytest.raises(GanlabError, match="shape"):
        metrics.embed(classifier, torch.zeros(2, 28, 28))


def test_evaluate_generator_end_to_end():
    classifier, generator = tiny_classifier(), tiny_generator()
    real = torch.rand(64, 1, 28, 28) * 2 - 1
    reference = metrics.make_reference(classifier, real)
    result = metrics.evaluate_generator(generator, classifier, reference, 48, seed=3, teacher=generator)
    expected_keys = {"fid", "kid_standardized", "kid_standardized_subset_std", "inception_score", "precision", "recall", "class_histogram", "class_kl", "recognizable"}
    assert expected_keys | {"n", "seed", "pixel_mse", "label_agreement"} == set(result)
    assert result["pixel_mse"] == 0.0 and result["label_agreement"] == 1.0  # the teacher is itself
    assert sum(result["class_histogram"]) == pytest.approx(1.0, abs=1e-4)
    assert 1.0 <= result["inception_score"] <= 10.0 and result["fid"] > 0
    again = metrics.evaluate_generator(generator, classifier, real, 48, seed=3)  # images as reference
    assert {key: again[key] for key in expected_keys} == {key: result[key] for key in expected_keys}
    # real images scored against themselves: no distance, full manifold overlap
    self_score = metrics.evaluate_images(real, classifier, reference)
    assert abs(self_score["fid"]) < 1e-6 and self_score["precision"] == 1.0 and self_score["recall"] == 1.0
    with pytest.raises(GanlabError, match="n must be"):
        metrics.evaluate_generator(generator, classifier, reference, 2, seed=0)


def test_summarize_gives_mean_and_sample_std():
    runs = [{"fid": 1.0, "n": 5, "class_histogram": [1.0], "class_kl": None}, {"fid": 3.0, "n": 5, "class_histogram": [1.0], "class_kl": 0.1}]
    assert metrics.summarize(runs) == {"fid": {"mean": 2.0, "std": pytest.approx(math.sqrt(2.0))}}  # KL missing once: left out
    assert metrics.summarize(runs[:1]) == {"fid": {"mean": 1.0, "std": 0.0}}


@pytest.mark.skipif(not (CLASSIFIER_PATH / "model.safetensors").exists(), reason="no bundled classifier")
def test_bundled_classifier_recognizes_mnist_test_digits():
    from ganlab.data import load_mnist, to_unit_range

    try:
        images, labels = load_mnist("test")
    except GanlabError:
        pytest.skip("MNIST is not available")
    classifier = load_classifier()
    predictions = metrics.embed(classifier, to_unit_range(images[:2000])).labels
    assert (predictions == labels[:2000]).double().mean() >= 0.98


def test_balanced_recognizable_rate_does_not_reward_collapse():
    """Every sample confidently one digit: plain recognizable 1.0, balanced 0.1; all ten digits equally: 1.0 both."""
    collapsed = torch.full((100, 10), -10.0)
    collapsed[:, 3] = 10.0
    assert metrics.recognizable_rate(collapsed) == 1.0
    assert metrics.balanced_recognizable_rate(collapsed) == pytest.approx(0.1)
    balanced = torch.full((100, 10), -10.0)
    balanced[torch.arange(100), torch.arange(100) % 10] = 10.0
    assert metrics.balanced_recognizable_rate(balanced) == pytest.approx(1.0)
    balanced[:50] = 0.0  # half of them unsure: half the rate
    assert metrics.balanced_recognizable_rate(balanced) == pytest.approx(0.5)
