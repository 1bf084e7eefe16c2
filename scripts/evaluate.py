"""`python scripts/evaluate.py ...` runs `ganlab-evaluate ...`: the command lives in ganlab/commands/evaluate.py."""

from ganlab.commands.evaluate import run

if __name__ == "__main__":
    run()
