"""Evaluation scripts in --quick mode on tiny checkpoints: each writes the JSON it promises.

The scripts run in this process (runpy, as `python scripts/x.py` would): a fresh
interpreter per script would spend more time importing torch and torchmetrics than running.
"""

from __future__ import annotations

import json
import runpy

import pytest
import torch

from conftest import REPO, run_in_process
from ganlab.checkpoints import load_classifier, save_checkpoint
from ganlab.classifier import Classifier
from ganlab.config import ClassifierConfig, GeneratorConfig
from ganlab.errors import GanlabError
from ganlab.models import Generator, init_weights

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", autouse=True)
def need_mnist():
    from ganlab.data import load_mnist

    try:
        load_mnist("test")
    except GanlabError as error:
        pytest.skip(f"MNIST is not available: {error}")


def run(script: str, *args: str, capsys) -> tuple[int, str, str]:
    """scripts/<script> in-process with one torch thread: on a shared 2-core machine two threads
    next to another busy process make each training step ~20x slower; these runs check outputs."""
    return run_in_process(script, *args, "--threads", "1", capsys=capsys)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Where each script test leaves its JSON for the results test."""
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Untrained teacher, student, narrow baseline and a tiny evaluation classifier, as checkpoints."""
    folder = tmp_path_factory.mktemp("tiny")
    for name, config in (("teacher", GeneratorConfig.teacher()), ("student", GeneratorConfig.student()), ("baseline", GeneratorConfig.student(16))):
        generator = Generator(config)
        init_weights(generator, torch.Generator().manual_seed(1))
        save_checkpoint(generator, folder / name, training={"mode": "test", "steps": 0})
    torch.manual_seed(0)
    save_checkpoint(Classifier(ClassifierConfig(channels=(4, 8), hidden=16)), folder / "classifier", training={"test_accuracy": 0.5})
    return folder


def test_train_classifier_quick_run_saves_a_loadable_classifier(tmp_path, capsys):
    out = tmp_path / "clf"
    code, stdout, _ = run("train_classifier.py", "--steps", "4", "--limit", "256", "--test-limit", "500", "--batch-size", "32", "--min-accuracy", "0", "--out", str(out), capsys=capsys)
    assert code == 0 and "test accuracy" in stdout
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == 4 and info["test_images"] == 500 and 0 <= info["test_accuracy"] <= 1 and info["wall_time_s"] >= 0
    assert isinstance(load_classifier(out), Classifier)
    code, _, stderr = run("train_classifier.py", "--steps", "1", "--limit", "64", "--test-limit", "100", "--min-accuracy", "1", "--out", str(out), capsys=capsys)
    assert code == 1 and "below --min-accuracy" in stderr


def test_evaluate_quick_writes_metrics_for_every_model_and_the_floor(tiny, shared, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    code, stdout, stderr = run(
        "evaluate.py", "--quick", "--n", "64", "--reference-size", "300", "--seeds", "0", "1", "2",
        "--classifier", str(tiny / "classifier"), "--teacher", str(tiny / "teacher"),
        "--models", f"teacher={tiny / 'teacher'}", f"student (distilled)={tiny / 'student'}", f"baseline student (α = 0)={tiny / 'baseline'}",
        "--out", str(out), capsys=capsys,
    )
    assert code == 0, stderr
    metrics = json.loads(out.read_text())
    assert metrics["meta"]["n"] == 64 and metrics["meta"]["seeds"] == [0, 1, 2]
    assert metrics["meta"]["order"] == ["teacher", "student (distilled)", "baseline student (α = 0)"]
    assert metrics["floor"]["summary"]["fid"]["mean"] >= 0 and len(metrics["floor"]["runs"]) == 3
    for name, entry in metrics["models"].items():
        assert [run_["seed"] for run_ in entry["runs"]] == [0, 1, 2]
        assert {"fid", "kid_standardized", "inception_score", "precision", "recall", "recognizable"} <= set(entry["summary"])
        # an untrained classifier may never predict a class: KL is then infinite, stored as null
        assert all(run_["class_kl"] is None or run_["class_kl"] >= 0 for run_ in entry["runs"])
        assert ("label_agreement" in entry["summary"]) == (name != "teacher")  # fidelity is to the teacher
    assert metrics["models"]["teacher"]["parameters"]["keras"] == 1_961_728
    # real digits look more like the test set than untrained generators' output does
    assert metrics["floor"]["summary"]["fid"]["mean"] < metrics["models"]["teacher"]["summary"]["fid"]["mean"]
    assert set(metrics["checks"]) == {
        "teacher FID <= 40", "teacher recognizable >= 0.80", "distilled FID <= 1.3x teacher's (aim 1.15x)", "distilled FID <= 0.5x baseline's",
        "student recognizable >= 0.82", "teacher-student label agreement >= 0.9",
    }
    teacher_fid = metrics["models"]["teacher"]["summary"]["fid"]["mean"]
    assert metrics["checks"]["teacher FID <= 40"] == {"value": round(teacher_fid, 4), "target": 40, "met": teacher_fid <= 40}
    assert "| model | FID ↓" in stdout and stdout.index("| teacher |") < stdout.index("| student (distilled) |")
    (shared / "metrics.json").write_text(out.read_text())  # for the results test


def test_default_run_presses_start_with_the_uis_defaults_and_scores_the_student(tmp_path, capsys, monkeypatch):
    from ganlab.lab import RUN_DEFAULTS

    monkeypatch.setenv("GANLAB_TRAIN_DATA", "synthetic")  # the run's data; scoring still uses MNIST test
    monkeypatch.setenv("GANLAB_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "default-run.json"
    code, stdout, stderr = run("default_run.py", "--time-budget", "2", "--n", "50", "--seeds", "0", "--out", str(out), capsys=capsys)
    assert code == 0, stderr
    result = json.loads(out.read_text())
    settings = result["settings"]
    assert settings["time_budget_s"] == 2 and settings["alpha"] == RUN_DEFAULTS.alpha and settings["ema_decay"] == RUN_DEFAULTS.ema_decay
    assert settings["layers"] == list(RUN_DEFAULTS.layers) and result["state"] == "finished" and result["steps"] >= 1
    assert 0 <= result["summary"]["recognizable"]["mean"] <= 1 and result["summary"]["fid"]["mean"] > 0
    assert "fid:" in stdout and "label_agreement:" in stdout
    recognizable = result["summary"]["recognizable"]["mean"]
    fid = result["summary"]["fid"]["mean"]
    assert result["checks"] == {
        "the default 2-s run's student recognizable >= 0.8": {"value": round(recognizable, 4), "target": 0.8, "met": recognizable >= 0.8},
        "the default 2-s run's student FID <= 60": {"value": round(fid, 2), "target": 60, "met": fid <= 60},
    }
    assert "logical CPUs" in result["machine"]


def test_default_run_with_fashion_mnist_chosen_trains_against_its_teacher_and_scores_with_its_classifier(tmp_path, capsys, monkeypatch):
    from ganlab.data import dataset_present

    if not dataset_present("fashion-mnist"):
        pytest.skip("needs Fashion-MNIST (python scripts/fetch_mnist.py --dataset fashion-mnist)")
    monkeypatch.setenv("GANLAB_TRAIN_DATA", "synthetic")  # blobs for speed; the teacher, classifier and test split are Fashion's
    monkeypatch.setenv("GANLAB_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "default-run.json"
    code, _, stderr = run("default_run.py", "--dataset", "fashion-mnist", "--time-budget", "2", "--n", "50", "--seeds", "0", "--out", str(out), capsys=capsys)
    assert code == 0, stderr
    result = json.loads(out.read_text())
    assert result["dataset"] == "fashion-mnist" and result["settings"]["dataset"] == "fashion-mnist" and result["steps"] >= 1
    assert result["checks"] == {}  # MNIST's targets are not applied to another dataset
    assert 0 <= result["summary"]["label_agreement"]["mean"] <= 1


def test_evaluate_refuses_a_missing_model(tiny, tmp_path, capsys):
    code, _, stderr = run("evaluate.py", "--quick", "--classifier", str(tiny / "classifier"), "--models", str(tmp_path / "nothing"), "--out", str(tmp_path / "m.json"), capsys=capsys)
    assert code == 2 and "does not exist" in stderr
    assert not (tmp_path / "m.json").exists()


def test_benchmark_quick_compares_teacher_and_student(tiny, shared, tmp_path, capsys):
    out = tmp_path / "benchmark.json"
    code, stdout, stderr = run("benchmark.py", "--quick", "--teacher", str(tiny / "teacher"), "--student", str(tiny / "student"), "--out", str(out), capsys=capsys)
    assert code == 0, stderr
    bench = json.loads(out.read_text())
    teacher, student = bench["models"]["teacher"], bench["models"]["student"]
    assert (teacher["parameters"]["keras"], student["parameters"]["keras"]) == (1_961_728, 784_640)
    assert teacher["macs_per_image"] == pytest.approx(33.6e6, rel=0.01) and student["macs_per_image"] == pytest.approx(7.25e6, rel=0.01)
    assert teacher["file_bytes"] > student["file_bytes"] > 0
    assert set(bench["inference"]) == {"1", "64"}
    for entry in bench["inference"].values():
        assert entry["teacher"]["median_s"] > 0 and entry["speedup"] == pytest.approx(entry["teacher"]["median_s"] / entry["student"]["median_s"])
    modes = {"GAN step (teacher)", "distillation step (student)"}
    assert set(bench["training"]["modes"]) == modes | {f"{mode}, bf16 autocast" for mode in modes}
    for entry in bench["training"]["modes"].values():
        assert entry["project"]["images_per_s"] > 0 and entry["reference"]["images_per_s"] > 0
    data = bench["training"]["data"]
    assert data["reference_dataloader_s"] > 0 and data["in_memory_s"] > 0
    assert bench["meta"]["threads"] == 1 and bench["meta"]["order"] == ["teacher", "student"]
    assert "student >= 2.5x teacher at batch 1" in bench["checks"]
    assert "| MACs per image | 33.57 M | 7.25 M |" in stdout
    (shared / "benchmark.json").write_text(out.read_text())


def test_ablation_quick_shares_identical_runs_between_groups(tiny, shared, tmp_path, capsys):
    out = tmp_path / "ablation.json"
    code, stdout, stderr = run(
        "ablation.py", "--quick", "--groups", "seeds", "alpha", "--seeds", "0", "--teacher", str(tiny / "teacher"),
        "--classifier", str(tiny / "classifier"), "--out", str(out), capsys=capsys,
    )
    assert code == 0, stderr
    ablation = json.loads(out.read_text())
    seeds, alpha = ablation["groups"]
    assert [v["label"] for v in seeds["variants"]] == ["distilled (α = 0.5, layers 14x14)", "baseline (α = 0)"]
    assert [v["alpha"] for v in alpha["variants"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert ablation["meta"]["unique_runs"] == 5  # alpha 0 and 0.5 reuse the seeds group's students
    assert alpha["variants"][2]["runs"] == seeds["variants"][0]["runs"]
    assert all(run_["steps"] == 3 for v in alpha["variants"] for run_ in v["runs"])
    assert "distilled FID <= 0.8x baseline at equal steps" in ablation["checks"]
    assert "**Distillation weight α" in stdout
    (shared / "ablation.json").write_text(out.read_text())


def test_bench_precision_quick_times_both_precisions_and_measures_faithfulness(tiny, tmp_path, capsys):
    from lab_fixtures import tiny_checkpoints

    out = tmp_path / "precision.json"
    # 8x narrower generators: bf16 is emulated on CPUs without AMX, ~60 s for the full-size teacher here
    teacher, student = tiny_checkpoints(tmp_path)
    code, stdout, stderr = run(
        "bench_precision.py", "--quick", "--threads", "1", "--teacher", str(teacher), "--student", str(student),
        "--classifier", str(tiny / "classifier"), "--out", str(out), capsys=capsys,
    )  # fmt: skip
    assert code == 0, stderr
    data = json.loads(out.read_text())
    assert set(data["speed"]) == {"1", "64"} and set(data["speed"]["64"]["student"]) == {"fp32", "bf16"}
    assert all(entry["images_per_s"] > 0 and entry["share_of_peak"] > 0 for entry in data["speed"]["1"]["teacher"].values())
    faithful = data["faithfulness"]["models"]["student"]
    assert 0.5 < faithful["within_1_gray_level"] <= 1 and set(faithful["fid"]) == {"fp32", "bf16"}
    assert "| 64 | student |" in stdout and "within 1 gray level" in stdout
    # the largest batch in chunks (16 and whole in --quick), and the hidden layer in every form, each checked against torch's
    assert data["chunks"]["batch"] == 64 and set(data["chunks"]["images_per_s"]["teacher"]) == {"16", "whole"}
    forms = data["hidden_forms"]["forms"]
    assert len(forms) == 5 and all(row["median_ms"] > 0 and 0 < row["share_of_peak"] and row["max_gap"] < 0.1 for row in forms.values())
    assert "| oneDNN, channels-last |" in stdout and "| whole |" in stdout


def test_recipe_study_quick_trains_each_variant_once_and_resumes_by_scoring(tiny, tmp_path, capsys):
    out, runs = tmp_path / "study.json", tmp_path / "study-runs"
    args = ("recipe_study.py", "--quick", "--only", "plain", "spectral norm, dropout 0", "--threads", "1",
            "--classifier", str(tiny / "classifier"), "--runs", str(runs), "--out", str(out))  # fmt: skip
    code, _, stderr = run(*args, "--only", "plain", "--train-only", capsys=capsys)  # one variant, as run side by side
    assert code == 0 and "trained: plain" in stderr and not out.exists(), stderr
    code, stdout, stderr = run(*args, capsys=capsys)
    assert code == 0, stderr
    assert stderr.count("trained before") == 1, stderr  # plain is scored; spectral norm trains here
    study = json.loads(out.read_text())
    assert [v["label"] for v in study["variants"]] == ["plain", "spectral norm, dropout 0"]
    assert study["variants"][1]["changes"] == {"spectral_norm": True, "discriminator_dropout": 0.0}
    assert json.loads((runs / "spectral-norm-dropout-0" / "config.json").read_text())  # a loadable teacher folder
    assert "| plain |" in stdout and "3 steps of batch 16" in stdout
    code, _, stderr = run(*args, capsys=capsys)  # again: both are finished, so scored without training
    assert code == 0 and stderr.count("trained before") == 2, stderr


def test_distill_study_quick_scores_each_variant_against_its_teacher_and_reuses_finished_ones(tiny, tmp_path, capsys):
    out, runs = tmp_path / "distill-study.json", tmp_path / "distill-runs"
    args = ("distill_study.py", "--quick", "--only", "committed", "R1 + pixel L1", "--threads", "1", "--teacher", str(tiny / "teacher"),
            "--classifier", str(tiny / "classifier"), "--runs", str(runs), "--out", str(out))  # fmt: skip
    code, stdout, stderr = run(*args, capsys=capsys)
    assert code == 0, stderr
    study = json.loads(out.read_text())
    assert [v["label"] for v in study["variants"]] == ["committed", "R1 + pixel L1"]
    assert study["variants"][1]["changes"] == {"r1_gamma": 10.0, "discriminator_dropout": 0.0, "pixel_distance": "l1"}
    assert "label_agreement" in study["variants"][0]["summary"] and "fid" in study["meta"]["teacher_summary"]
    assert json.loads((runs / "r1-pixel-l1" / "training.json").read_text())["train_config"]["pixel_distance"] == "l1"
    assert "| teacher |" in stdout and "× the teacher's FID" in stdout
    code, _, stderr = run(*args, capsys=capsys)  # both finished with these recipes: scored, not trained again
    assert code == 0 and stderr.count("trained before") == 2, stderr


def test_teacher_progress_scores_each_snapshot_once_and_applies_the_stopping_rule(tiny, tmp_path, capsys):
    import shutil

    for step in (1000, 2000):
        shutil.copytree(tiny / "teacher", tmp_path / "run" / "snapshots" / f"step-{step}")
    out = tmp_path / "progress.json"
    args = ("teacher_progress.py", "--quick", "--run", str(tmp_path / "run"), "--classifier", str(tiny / "classifier"), "--out", str(out))
    code, stdout, stderr = run(*args, capsys=capsys)
    assert code == 0, stderr
    progress = json.loads(out.read_text())
    assert [p["step"] for p in progress["points"]] == [1000, 2000]
    assert progress["plateau"]["best_step"] == 1000 and progress["plateau"]["steps_without_improvement"] == 1000  # same weights: no gain
    assert "| 2,000 |" in stdout and "scored 2 new" in stderr
    code, _, stderr = run(*args, capsys=capsys)  # again: nothing new to score
    assert code == 0 and "scored 0 new" in stderr, stderr
    code, _, stderr = run("teacher_progress.py", "--run", str(tmp_path / "empty"), capsys=capsys)
    assert code != 0 and "--keep-every" in stderr


def test_the_stopping_rule_counts_steps_since_fid_last_beat_the_best_by_the_tolerance():
    plateau = runpy.run_path(str(REPO / "scripts" / "teacher_progress.py"))["plateau"]

    points = [{"step": s, "run": {"fid": f}} for s, f in ((1000, 100.0), (2000, 80.0), (3000, 79.5), (4000, 79.4), (5000, 78.0))]
    assert plateau(points[:4], 0.01) == {"best_step": 2000, "best_fid": 80.0, "steps_without_improvement": 2000, "tolerance": 0.01}
    assert plateau(points, 0.01)["best_step"] == 5000  # 78.0 < 80 x 0.99


def test_sweep_quick_writes_json_and_plot(tiny, shared, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, plot = tmp_path / "sweep.json", tmp_path / "sweep.png"
    code, _, stderr = run(
        "sweep_width.py", "--quick", "--widths", "32", "16", "--sampling-seeds", "0", "1", "--teacher", str(tiny / "teacher"),
        "--classifier", str(tiny / "classifier"), "--out", str(out), "--plot", str(plot), capsys=capsys,
    )
    assert code == 0, stderr
    sweep = json.loads(out.read_text())
    assert [p["width"] for p in sweep["points"]] == [None, 32, 16]
    parameters = [p["parameters"] for p in sweep["points"]]
    assert parameters[0] == 1_961_728 and parameters == sorted(parameters, reverse=True)
    assert all(p["latency_ms"] > 0 and len(p["runs"]) == 2 for p in sweep["points"])
    best = sweep["smallest_within_1_5x_teacher_fid"]
    assert best is None or best["width"] in (32, 16)
    assert plot.read_bytes()[:8] == PNG_MAGIC
    (shared / "sweep.json").write_text(out.read_text())
    (shared / "sweep.png").write_bytes(plot.read_bytes())


def test_sweep_keeps_each_width_and_a_rerun_loads_it(tiny, tmp_path, capsys):
    keep, out = tmp_path / "keep", tmp_path / "sweep.json"
    args = ("sweep_width.py", "--quick", "--widths", "16", "--sampling-seeds", "0", "--teacher", str(tiny / "teacher"),
            "--classifier", str(tiny / "classifier"), "--threads", "1", "--out", str(out), "--plot", "", "--keep", str(keep))  # fmt: skip
    code, _, stderr = run(*args, "--train-only", capsys=capsys)  # trains and keeps, scores nothing
    assert code == 0 and "width 16: 3 steps" in stderr and "trained: widths 16" in stderr, stderr
    assert not out.exists()
    kept = json.loads((keep / "w16" / "training.json").read_text())
    assert kept["made_from"]["width"] == 16 and kept["train_threads"] == 1
    code, _, stderr = run(*args, capsys=capsys)  # the same recipe and teacher: loaded and scored
    assert code == 0 and f"width 16: trained before, loaded from {keep / 'w16'}" in stderr, stderr
    first = json.loads(out.read_text())["points"][1]
    assert first["train_time_s"] == kept["train_time_s"] and first["train_threads"] == 1
    code, _, stderr = run(*args, capsys=capsys)
    assert code == 0 and f"width 16: trained before, loaded from {keep / 'w16'}" in stderr, stderr
    again = json.loads(out.read_text())["points"][1]
    assert again["runs"][0]["fid"] == first["runs"][0]["fid"] and again["train_time_s"] == first["train_time_s"]
    code, _, stderr = run(*args, "--lr-g", "5e-4", capsys=capsys)  # another recipe: trained again
    assert code == 0 and "width 16: 3 steps" in stderr, stderr
    code, _, stderr = run(*args[:-2], "--train-only", capsys=capsys)  # --quick keeps nothing unless told where
    assert code != 0 and "--train-only keeps each width in --keep" in stderr, stderr


def test_smallest_within_picks_the_fewest_parameters_under_the_limit():
    smallest_within = runpy.run_path(str(REPO / "scripts" / "sweep_width.py"))["smallest_within"]

    def point(width, parameters, fid):
        return {"label": f"w{width}", "width": width, "parameters": parameters, "summary": {"fid": {"mean": fid, "std": 0.0}}}

    teacher = point(None, 1000, 10.0)
    points = [teacher, point(64, 400, 12.0), point(32, 200, 14.9), point(16, 100, 15.1)]
    best = smallest_within(points, teacher)
    assert best["width"] == 32 and best["size_ratio"] == 5.0 and best["fid_limit"] == 15.0
    assert smallest_within([teacher, point(16, 100, 99.0)], teacher) is None


def test_results_rewrites_only_the_marked_regions_of_the_readme_and_docs(tiny, shared, capsys):
    if not all((shared / name).is_file() for name in ("metrics.json", "benchmark.json", "ablation.json")):
        pytest.skip("needs the JSON files the other script tests write")
    results = shared
    readme, docs = results / "README.md", results / "docs"
    readme.write_text("# ganlab\n\nIntro.\n\n<!-- results:start -->\nold text\n<!-- results:end -->\n\n## Licence\n\nMIT\n")
    models = ["--models", f"teacher={tiny / 'teacher'}", f"student={tiny / 'student'}"]
    paths = ["--readme", str(readme), "--docs", str(docs), "--folder", str(results)]
    code, _, stderr = run("results.py", *paths, *models, capsys=capsys)
    assert code == 0, stderr
    text = readme.read_text()
    assert text.startswith("# ganlab\n\nIntro.\n\n<!-- results:start -->\n") and text.endswith("<!-- results:end -->\n\n## Licence\n\nMIT\n")
    assert "old text" not in text
    assert "![teacher](samples-teacher.png)" in text and (results / "samples-teacher.png").read_bytes()[:8] == PNG_MAGIC
    assert "| model | parameters | FID ↓" in text and "KID×10³ ↓" in text and "real MNIST against itself reads" in text
    # the long tables live in docs/, created with their markers, linking the grids from there
    full = (docs / "results.md").read_text()
    assert full.startswith("# Results\n\n<!-- results:start -->\n") and "![teacher](../samples-teacher.png)" in full
    assert "| model | FID ↓" in full and "| MACs per image |" in full and "**Distillation weight α" in full
    assert "## Targets" in full and "student >= 2.5x teacher at batch 1" in full
    reliability = (docs / "reliability.md").read_text()
    assert "python scripts/reliability.py" in reliability and "| `max_steps` | `GANLAB_MAX_STEPS` |" in reliability
    code, stdout, _ = run("results.py", "--check", *paths, *models, capsys=capsys)
    assert code == 0 and "up to date" in stdout
    # a stale table in any page fails the check and names the page
    for page in (readme, docs / "results.md"):
        before = page.read_text()
        page.write_text(before.replace("| model |", "| model  |", 1))
        code, _, stderr = run("results.py", "--check", *paths, *models, capsys=capsys)
        assert code == 1 and "out of date" in stderr and str(page) in stderr
        page.write_text(before)
    # a README without markers gets a Results section appended
    plain = results / "PLAIN.md"
    plain.write_text("# Title\n")
    code, _, _ = run("results.py", "--readme", str(plain), "--docs", str(docs), "--folder", str(results), "--models", capsys=capsys)
    assert code == 0 and plain.read_text().startswith("# Title\n\n## Results\n\n<!-- results:start -->\n")


def test_the_readme_and_docs_are_up_to_date(capsys):
    """A JSON file in checkpoints/ or a setting changed without `python scripts/results.py` fails here."""
    paths = ["--readme", str(REPO / "README.md"), "--docs", str(REPO / "docs"), "--folder", str(REPO / "checkpoints")]
    code, _, stderr = run("results.py", "--check", *paths, capsys=capsys)
    assert code == 0, stderr


def test_the_readme_names_the_plain_teacher_recipe_against_the_best_regularised_one():
    from ganlab.report import headline_figures

    def variant(label, fid):
        return {"label": label, "summary": {"fid": {"mean": fid, "std": 0.0}}}

    study = {"meta": {"steps": 2000}, "variants": [variant("plain", 120.0), variant("R1 γ10, dropout 0", 90.0), variant("spectral norm, dropout 0", 130.0)]}
    line = headline_figures({"meta": {}, "models": {}}, None, None, study)
    assert line == "- **Teacher recipe**: at 2,000 steps the plain DCGAN discriminator reaches FID 120.0, the best of 2 regularised ones (R1 γ10, dropout 0) 90.0."
    assert headline_figures({"meta": {}, "models": {}}, None, None, {"meta": {"steps": 9}, "variants": [variant("plain", 1.0)]}) == ""


def test_student_progress_adds_agreement_with_the_teacher(tiny, tmp_path, capsys):
    import shutil

    shutil.copytree(tiny / "student", tmp_path / "run" / "snapshots" / "step-500")
    out = tmp_path / "student-progress.json"
    code, stdout, stderr = run("teacher_progress.py", "--quick", "--run", str(tmp_path / "run"), "--teacher", str(tiny / "teacher"),
                               "--classifier", str(tiny / "classifier"), "--out", str(out), capsys=capsys)  # fmt: skip
    assert code == 0, stderr
    point = json.loads(out.read_text())["points"][0]
    assert point["step"] == 500 and 0 <= point["run"]["label_agreement"] <= 1 and point["run"]["pixel_mse"] > 0
    assert "label agreement ↑" in stdout and "MSE to teacher ↓" in stdout


def test_bench_compile_times_the_apps_default_run_and_refuses_a_device_it_cannot_use(capsys):
    from conftest import run_in_process

    # a GPU asked for on a machine without one: one line before any model or data is loaded
    code, stdout, stderr = run_in_process("bench_compile.py", "--device", "cuda", capsys=capsys)
    if not torch.cuda.is_available():
        assert code == 2 and "no CUDA GPU" in stderr and len(stderr.strip().splitlines()) == 1 and not stdout, stderr
    code, _, stderr = run_in_process("bench_compile.py", "--device", "tpu", capsys=capsys)
    assert code == 2 and "GANLAB_DEVICE must be" in stderr and len(stderr.strip().splitlines()) == 1, stderr
    code, _, stderr = run_in_process("bench_compile.py", "--mode", "fastest", capsys=capsys)
    assert code == 2 and "invalid choice" in stderr
