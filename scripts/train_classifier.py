"""`python scripts/train_classifier.py ...` runs `ganlab-train-classifier ...`: the command lives in ganlab/commands/train_classifier.py."""

from ganlab.commands.train_classifier import run

if __name__ == "__main__":
    run()
