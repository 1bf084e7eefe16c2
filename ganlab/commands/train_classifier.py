"""Train the evaluation classifier on real MNIST and save it to checkpoints/classifier.

    python scripts/train_classifier.py                      # ~5 min on 1 CPU thread, >= 99.0% test accuracy
    python scripts/train_classifier.py --steps 20 --limit 2000 --out /tmp/clf --min-accuracy 0   # seconds

Real images only (train split; random shifts of up to 2 pixels), never generated ones: the
classifier is the ruler the generators are measured with, so it must not learn from them.
The test split is read once, at the end, to report accuracy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ganlab.cli import ArgumentParser, add_dataset_arguments, float_in, int_in, run_main, setting

MAX_SHIFT = 2  # pixels of random translation, each axis


def random_shift(images, generator):
    """Translate each image (B, 1, 28, 28) by its own integer offset in [-2, 2]^2, padding with -1 (black)."""
    import torch
    import torch.nn.functional as F

    batch, size = images.shape[0], images.shape[-1]
    padded = F.pad(images, (MAX_SHIFT,) * 4, value=-1.0)  # (B, 1, 32, 32)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (batch, 2), generator=generator)
    rows = (offsets[:, 0, None] + torch.arange(size))[:, :, None]  # (B, 28, 1)
    columns = (offsets[:, 1, None] + torch.arange(size))[:, None, :]  # (B, 1, 28)
    return padded[torch.arange(batch)[:, None, None], 0, rows, columns].unsqueeze(1)  # (B, 1, 28, 28)


def accuracy(model, images, labels, batch_size: int = 1000) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            logits = model(images[start : start + batch_size])
            correct += (logits.argmax(1) == labels[start : start + batch_size]).sum().item()
    return correct / len(images)


def fit(model, images, labels, *, steps: int, batch_size: int, lr: float, seed: int) -> float:
    """AdamW with a one-cycle schedule on shuffled batches, each randomly shifted; the seconds it took."""
    import torch
    import torch.nn.functional as F

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    sampler = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    model.train()
    order, cursor = torch.randperm(len(images), generator=sampler), 0
    for step in range(1, steps + 1):
        if cursor + batch_size > len(order):  # a new epoch; the ragged tail is dropped
            order, cursor = torch.randperm(len(images), generator=sampler), 0
        index = order[cursor : cursor + batch_size]
        cursor += batch_size
        loss = F.cross_entropy(model(random_shift(images[index], sampler)), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 200 == 0 or step == steps:
            print(f"step {step}/{steps}  loss {loss.item():.4f}  {time.perf_counter() - start:.0f} s", flush=True)
    return time.perf_counter() - start


def main() -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int_in(1, 1_000_000), default=2000, help="optimisation steps")
    parser.add_argument("--batch-size", type=int_in(1, 4096), default=128)
    parser.add_argument("--lr", type=float_in(0, 1, open_low=True), default=3e-3, help="peak learning rate (one-cycle)")
    parser.add_argument("--seed", type=setting("seed"), default=0)
    parser.add_argument("--threads", type=int_in(1, 1024), default=1, help="torch CPU threads (1 leaves a core free)")
    parser.add_argument("--limit", type=int_in(0, 1_000_000), default=0, help="train on the first N images (0: all)")
    parser.add_argument("--test-limit", type=int_in(0, 1_000_000), default=0, help="score on the first N test images (0: all)")
    add_dataset_arguments(parser)
    parser.add_argument("--out", default=None, help="output checkpoint folder (default: the dataset's, checkpoints/classifier for MNIST)")
    parser.add_argument("--min-accuracy", type=float_in(0, 1), default=0.99, help="exit 1 below this test accuracy")
    args = parser.parse_args()

    import torch

    from ganlab.checkpoints import save_checkpoint
    from ganlab.classifier import Classifier
    from ganlab.config import ClassifierConfig
    from ganlab.data import load_split, to_unit_range
    from ganlab.datasets import get_dataset

    dataset = get_dataset(args.dataset)
    args.out = args.out or dataset.classifier
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # weight init and dropout
    train_images, train_labels = load_split(dataset.name, "train", args.data)
    if args.limit:
        train_images, train_labels = train_images[: args.limit], train_labels[: args.limit]
    train_images = to_unit_range(train_images)  # (N, 1, 28, 28) in [-1, 1]
    test_images, test_labels = load_split(dataset.name, "test", args.data)
    if args.test_limit:
        test_images, test_labels = test_images[: args.test_limit], test_labels[: args.test_limit]
    test_images = to_unit_range(test_images)

    model = Classifier(ClassifierConfig(num_classes=dataset.num_classes))
    batch_size = min(args.batch_size, len(train_images))
    wall_time = fit(model, train_images, train_labels, steps=args.steps, batch_size=batch_size, lr=args.lr, seed=args.seed)

    test_accuracy = accuracy(model, test_images, test_labels)
    train_accuracy = accuracy(model, train_images[:10000], train_labels[:10000])
    training = {
        "test_accuracy": round(test_accuracy, 5),
        "test_images": len(test_images),
        "train_accuracy_first_10k": round(train_accuracy, 5),
        "steps": args.steps,
        "batch_size": batch_size,
        "epochs": round(args.steps * batch_size / len(train_images), 2),
        "peak_lr": args.lr,
        "seed": args.seed,
        "threads": args.threads,
        "wall_time_s": round(wall_time, 1),
        "augmentation": f"random integer shifts up to {MAX_SHIFT} px",
        "data": f"{dataset.title} train (real images only)" + (f", first {args.limit}" if args.limit else ""),
        "dataset": dataset.name,
        "torch": torch.__version__,
    }
    save_checkpoint(model, Path(args.out), training=training)
    print(f"test accuracy {test_accuracy:.4f} after {args.steps} steps in {wall_time:.0f} s -> {args.out}")
    if test_accuracy < args.min_accuracy:
        print(f"error: test accuracy {test_accuracy:.4f} is below --min-accuracy {args.min_accuracy}", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """The `ganlab-train-classifier` console command."""
    run_main(main)


if __name__ == "__main__":
    run()
