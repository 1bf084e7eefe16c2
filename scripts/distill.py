"""`python scripts/distill.py ...` runs `ganlab-distill ...`: the command lives in ganlab/commands/distill.py."""

from ganlab.commands.distill import run

if __name__ == "__main__":
    run()
