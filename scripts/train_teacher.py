"""`python scripts/train_teacher.py ...` runs `ganlab-train ...`: the command lives in ganlab/commands/train_teacher.py."""

from ganlab.commands.train_teacher import run

if __name__ == "__main__":
    run()
