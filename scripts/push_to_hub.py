"""`python scripts/push_to_hub.py ...` runs `ganlab-push ...`: the command lives in ganlab/commands/push_to_hub.py."""

from ganlab.commands.push_to_hub import run

if __name__ == "__main__":
    run()
