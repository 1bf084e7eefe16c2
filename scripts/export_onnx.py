"""`python scripts/export_onnx.py ...` runs `ganlab-export-onnx ...`: the command lives in ganlab/commands/export_onnx.py."""

from ganlab.commands.export_onnx import run

if __name__ == "__main__":
    run()
