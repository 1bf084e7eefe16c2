"""The one stateful object: a step-based GAN / distillation trainer that reports through events.

It trains a teacher GAN (mode "teacher") or distils a frozen teacher into a student (mode
"distill") against a discriminator on real images. It runs in the caller's thread (`run`) or
in a daemon thread (`start`), and says everything it does through `on_event` callbacks:
Started, Step, Samples, Quality, CheckpointWritten, then Finished or Failed. `stop(reason)`
sets one threading.Event checked once per step, so a run ends within one step (~0.2 s on a
CPU), and the reason arrives in Finished. `pause()`, `resume()` and `advance(n)` (n steps, then
paused again) act between steps too. The event types live in ganlab.events.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ganlab.checkpoints import save_checkpoint
from ganlab.config import TrainConfig
from ganlab.data import InMemoryBatches
from ganlab.errors import GanlabError
from ganlab.events import CheckpointWritten, Event, Failed, Finished, Quality, Samples, Started, Step
from ganlab.gan_step import StepModels, train_step
from ganlab.models import Discriminator, Generator
from ganlab.run_control import RunControl
from ganlab.sampling import noise, to_uint8
from ganlab.training_state import Resumable

log = logging.getLogger("ganlab.trainer")

FIXED_NOISE_SEED = 1234  # the fixed sample batch, the same for every run and every model


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanlabError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")
    return torch.device(name)


@dataclass
class _Averages:
    """Running means of the loss parts over the last `window` steps, for the final report."""

    window: int = 50
    history: list[dict[str, float]] = field(default_factory=list)

    def add(self, parts: dict[str, float]) -> None:
        self.history.append(parts)
        del self.history[: -self.window]

    def mean(self) -> dict[str, float]:
        if not self.history:
            return {}
        keys = self.history[-1].keys()
        return {key: float(np.mean([h[key] for h in self.history if key in h])) for key in keys}


class Trainer(RunControl, Resumable):
    """Trains `generator` against `discriminator` on `images`, distilling `teacher` if given."""

    def __init__(
        self,
        *,
        generator: Generator,
        discriminator: Discriminator,
        images: torch.Tensor,
        config: TrainConfig,
        teacher: Generator | None = None,
        output_dir: str | Path | None = None,
        on_event: Callable[[Event], None] | None = None,
        num_samples: int = 64,
        extra_info: dict[str, Any] | None = None,
        probe: Callable[[nn.Module], dict[str, float]] | None = None,
        probe_every_s: float = 10.0,
    ) -> None:
        if teacher is None and config.uses_teacher:
            raise GanlabError("distillation with alpha > 0 needs a teacher")
        super().__init__(on_event)
        self.config = config
        self.device = resolve_device(config.device)
        self.generator = generator.to(self.device).train().requires_grad_(True)
        self.discriminator = discriminator.to(self.device).train()
        self.teacher = None
        if teacher is not None and config.uses_teacher:
            # frozen: eval mode (BN running statistics), no gradients
            self.teacher = teacher.to(self.device).eval().requires_grad_(False)
        self.images = images
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.fixed_noise = noise(num_samples, FIXED_NOISE_SEED, generator.latent_dim)
        self.extra_info = dict(extra_info or {})
        self.step = 0
        self.elapsed_before = 0.0  # seconds trained before a resume
        # every random stream a step draws from, owned here so a training state can hold them
        self.noise_generator = torch.Generator().manual_seed(config.seed)
        self.batches = InMemoryBatches(self.images, config.batch_size, seed=config.seed)
        self.averages = _Averages()
        self._torch_rng: torch.Tensor | None = None  # set by a resume; else seeded at the start
        # scores the sampling generator between steps (in this thread, so it never sees a half-updated
        # model) every `probe_every_s` seconds of training; its time counts in the run's elapsed time
        self.probe = probe
        self.probe_every_s = probe_every_s
        self._probed_step = -1
        self._build_optimisation()

    # ---- set-up -------------------------------------------------------------------------------
    def _build_optimisation(self) -> None:
        config = self.config
        self.projections = nn.ModuleDict()
        if self.teacher is not None:
            # Narrow students (width sweep) map their features up with a learned 1x1 conv.
            with torch.no_grad():
                z = torch.zeros(2, self.generator.latent_dim, device=self.device)
                _, student_features = self.generator.eval()(z, return_features=True)
                _, teacher_features = self.teacher(z, return_features=True)
                self.generator.train()
            for layer in config.layers:
                s, t = student_features[layer].shape, teacher_features[layer].shape
                if s != t:
                    self.projections[layer] = nn.Conv2d(s[1], t[1], 1, bias=False)
            self.projections.to(self.device)
        generator_parameters = list(self.generator.parameters()) + list(self.projections.parameters())
        betas = (config.beta1, config.beta2)
        self.optimizer_g = torch.optim.Adam(generator_parameters, lr=config.lr_generator, betas=betas)
        self.optimizer_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_discriminator, betas=betas)
        schedules = []
        for optimizer in (self.optimizer_g, self.optimizer_d):
            schedules.append(torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor))
        self.schedulers = schedules
        self.ema = None
        if config.ema_decay > 0:
            decay = config.ema_decay

            def ema_update(averaged, current, num_averaged):
                # warm-up: early on the average follows the weights closely (decay 0.9 -> target)
                rate = min(decay, (1.0 + float(num_averaged)) / (10.0 + float(num_averaged)))
                return rate * averaged + (1.0 - rate) * current

            self.ema = AveragedModel(self.generator, avg_fn=ema_update, use_buffers=True)
        self.models = StepModels(self.generator, self.discriminator, self.optimizer_g, self.optimizer_d, self.projections, self.ema, self.teacher)

    def _lr_factor(self, step: int) -> float:
        if not self.config.lr_decay:
            return 1.0
        half = self.config.steps / 2
        return 1.0 if step < half else max(0.0, (self.config.steps - step) / half)

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator to sample and save: the EMA copy when enabled."""
        return self.ema.module if self.ema is not None else self.generator

    # ---- the run (start, stop, pause, listeners: ganlab.run_control) ----------------------------
    def run(self) -> Finished:
        """Train to completion, a stop request or the time budget; return the Finished event."""
        try:
            return self._run()
        except Exception as error:
            message = str(error) if isinstance(error, GanlabError) else f"{type(error).__name__}: {error}"
            self._emit(Failed(step=self.step, error=message))
            raise

    def _run(self) -> Finished:
        config = self.config
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        if self._torch_rng is not None:
            torch.set_rng_state(self._torch_rng)
        else:
            torch.manual_seed(config.seed)  # dropout; noise and batch order have their own generators
        batches: Iterator[torch.Tensor] = iter(self.batches)
        averages = self.averages
        self._emit(Started(total_steps=config.steps, config=config.to_dict()))
        if config.sample_every:
            self._emit_samples()
        elapsed, last_resume = 0.0, time.perf_counter()  # this invocation's time; the budget counts it
        next_probe = 0.0  # the probe's clock: training seconds (pauses excluded), first at the start
        reason = "completed"
        while self.step < config.steps:
            if self._stop.is_set():
                reason = self._stop_reason
                break
            if not self._resume.is_set():  # paused: the clock stops too
                elapsed += time.perf_counter() - last_resume
                while not self._resume.wait(0.1) and not self._stop.is_set():
                    pass
                last_resume = time.perf_counter()
                continue
            parts = self._train_step(next(batches), self.noise_generator)
            if not all(math.isfinite(value) for value in parts.values()):
                bad = ", ".join(k for k, v in parts.items() if not math.isfinite(v))
                raise GanlabError(
                    f"training diverged at step {self.step + 1} ({bad} became NaN/inf): lower the learning "
                    "rates; the last checkpoint written is kept"
                )
            self.step += 1
            averages.add(parts)
            for scheduler in self.schedulers:
                scheduler.step()
            now = elapsed + time.perf_counter() - last_resume
            self._emit(Step(self.step, parts, self.elapsed_before + now, self.optimizer_g.param_groups[0]["lr"]))
            stepped_to_pause = self._count_down()
            if config.sample_every and (self.step % config.sample_every == 0 or stepped_to_pause):
                self._emit_samples()
            if self.probe is not None and (now >= next_probe or stepped_to_pause):
                self._emit_quality()
                next_probe = now + self.probe_every_s
            if config.checkpoint_every and self.step % config.checkpoint_every == 0 and self.step < config.steps:
                self._save(self.elapsed_before + now, averages.mean(), "running")
            if config.keep_every and self.step % config.keep_every == 0:
                self._keep(self.elapsed_before + now, averages.mean())
            if config.time_budget_s and now >= config.time_budget_s:
                reason = "time budget"
                break
        elapsed += time.perf_counter() - last_resume
        total = self.elapsed_before + elapsed
        final = averages.mean()
        if config.sample_every and self.step % config.sample_every:
            self._emit_samples()
        if self.probe is not None and self.step > 0 and self._probed_step != self.step:
            self._emit_quality()
        if self.step > 0:
            self._save(total, final, reason)
        finished = Finished(step=self.step, reason=reason, elapsed=total, losses=final)
        self._emit(finished)
        return finished

    # ---- training state: save_training_state / load_training_state (ganlab.training_state.Resumable) ----

    def _train_step(self, real: torch.Tensor, noise_generator: torch.Generator) -> dict[str, float]:
        z = torch.randn(real.shape[0], self.generator.latent_dim, generator=noise_generator).to(self.device)
        return train_step(self.models, self.config, real.to(self.device, non_blocking=True), z, self.step)

    def _emit_samples(self) -> None:
        model = self.sampling_generator
        was_training = model.training
        model.eval()
        with torch.no_grad():
            images = model(self.fixed_noise.to(self.device))
        model.train(was_training)
        self._emit(Samples(step=self.step, images=to_uint8(images)))

    def _emit_quality(self) -> None:
        model = self.sampling_generator
        was_training = model.training
        model.eval()
        start = time.perf_counter()
        self._probed_step = self.step
        try:
            with torch.no_grad():
                values = self.probe(model)
        except Exception:  # a curve point is not worth a run: skip it, keep training
            log.exception("the quality probe failed at step %d", self.step)
            return
        finally:
            model.train(was_training)
        self._emit(Quality(step=self.step, values=values, seconds=time.perf_counter() - start))

    def _keep(self, elapsed: float, losses: dict[str, float]) -> None:
        """A lasting copy of this step's sampling model, beside the run (the run's own model is overwritten)."""
        if self.output_dir is not None:
            self._write_model(Path(self.output_dir) / "snapshots" / f"step-{self.step}", elapsed, losses, "running")

    def _save(self, elapsed: float, losses: dict[str, float], status: str) -> None:
        """The run's checkpoint: its model folder, the training state when resumable, and the event."""
        if self.output_dir is None:
            return
        try:
            path = self._write_model(self.output_dir, elapsed, losses, status)
            if self.config.checkpoint_every:
                self.save_training_state(elapsed)
        except (OSError, GanlabError) as error:  # a full disk, a folder gone read-only: the trained weights must not be lost
            raise GanlabError(self._rescue(elapsed, losses, status, error)) from None
        self._emit(CheckpointWritten(step=self.step, path=str(path)))

    def _rescue(self, elapsed: float, losses: dict[str, float], status: str, error: Exception) -> str:
        """Write the model and its training state into a fresh temporary folder; the message that says where."""
        reason = getattr(error, "strerror", None) or str(error)
        output_dir = self.output_dir
        try:
            rescue = Path(tempfile.mkdtemp(prefix="ganlab-rescue-"))
            self._write_model(rescue, elapsed, losses, status)
            self.save_training_state(elapsed, rescue)
        except (OSError, GanlabError) as second:
            return f"could not write the checkpoint to {output_dir} ({reason}), nor a rescue copy ({getattr(second, 'strerror', None) or second}): the run at step {self.step} is lost"
        return (f"could not write the checkpoint to {output_dir} ({reason}); step {self.step}'s model and training state "
                f"are kept in {rescue}: copy them to a folder with space (or --resume {rescue} --out FOLDER)")

    def _write_model(self, folder: str | Path, elapsed: float, losses: dict[str, float], status: str) -> Path:
        training = {
            "mode": self.config.mode,
            "status": status,
            "steps": self.step,
            "wall_time_s": round(elapsed, 1),
            "final_losses": {k: round(v, 5) for k, v in losses.items()},
            "train_config": self.config.to_dict(),
            "torch": torch.__version__,
            "device": str(self.device),
            **self.extra_info,
        }
        return save_checkpoint(self.sampling_generator, folder, training=training)  # it copies the tensors to the CPU

def new_trainer(
    config: TrainConfig,
    *,
    images: torch.Tensor,
    teacher: Generator | None = None,
    student_width: int = 128,
    output_dir: str | Path | None = None,
    on_event: Callable[[Event], None] | None = None,
    extra_info: dict[str, Any] | None = None,
    probe: Callable[[nn.Module], dict[str, float]] | None = None,
    probe_every_s: float = 10.0,
) -> Trainer:
    """A trainer with freshly initialised, seeded models: the one way scripts and the app start runs."""
    from ganlab.config import DiscriminatorConfig, GeneratorConfig
    from ganlab.models import init_weights

    init_generator = torch.Generator().manual_seed(config.seed)
    generator_config = GeneratorConfig.teacher() if config.mode == "teacher" else GeneratorConfig.student(student_width)
    generator = Generator(generator_config)
    with torch.random.fork_rng(devices=[]):  # spectral norm draws its power-iteration vectors from the global RNG
        torch.manual_seed(config.seed)
        discriminator = Discriminator(DiscriminatorConfig(dropout=config.discriminator_dropout, spectral_norm=config.spectral_norm))
    init_weights(generator, init_generator)
    init_weights(discriminator, init_generator)
    return Trainer(
        generator=generator,
        discriminator=discriminator,
        images=images,
        config=config,
        teacher=teacher,
        output_dir=output_dir,
        on_event=on_event,
        extra_info=extra_info,
        probe=probe,
        probe_every_s=probe_every_s,
    )
