"""`python scripts/sample.py ...` runs `ganlab-sample ...`: the command lives in ganlab/commands/sample.py."""

from ganlab.commands.sample import run

if __name__ == "__main__":
    run()
