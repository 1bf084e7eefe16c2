"""`python scripts/fetch_mnist.py ...` runs `ganlab-fetch-data ...`: the command lives in ganlab/commands/fetch_mnist.py."""

from ganlab.commands.fetch_mnist import run

if __name__ == "__main__":
    run()
