"""Reliability: no code in the repository unpickles (checked with ast, and the checker checked on a sample)."""

from __future__ import annotations

import ast

from conftest import REPO
from reliability_helpers import record_figure


def _pickle_uses(tree: ast.AST) -> list[tuple[int, str]]:
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] in ("pickle", "cPickle", "dill") for alias in node.names):
            problems.append((node.lineno, "import pickle"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("pickle", "cPickle", "dill"):
            problems.append((node.lineno, f"from {node.module} import"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("pickle", "dill"):
            problems.append((node.lineno, f"{node.value.id}.{node.attr}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
            keywords = {k.arg: k.value for k in node.keywords}
            if owner == "torch" and node.func.attr == "load":
                safe = keywords.get("weights_only")
                if not (isinstance(safe, ast.Constant) and safe.value is True):
                    problems.append((node.lineno, "torch.load without weights_only=True"))
            if owner in ("np", "numpy") and node.func.attr == "load":
                allow = keywords.get("allow_pickle")
                if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                    problems.append((node.lineno, "numpy.load with allow_pickle"))
    return problems


def test_the_checker_catches_every_form_of_unpickling():
    sample = (
        "import pickle\nfrom pickle import loads\nimport numpy as np\nimport torch\n"
        "pickle.loads(b'')\ntorch.load('x')\ntorch.load('x', weights_only=False)\ntorch.load('x', weights_only=True)\n"
        "np.load('x', allow_pickle=True)\nnp.load('x')\n"
    )
    found = [what for _, what in _pickle_uses(ast.parse(sample))]
    assert found.count("torch.load without weights_only=True") == 2
    assert {"import pickle", "from pickle import", "pickle.loads", "numpy.load with allow_pickle"} <= set(found)
    assert len(found) == 6  # the safe torch.load and the plain np.load pass


def test_no_code_in_the_repository_unpickles():
    files = [p for p in REPO.rglob("*.py") if not ({".git", ".venv", "venv", "node_modules", "data"} & set(p.relative_to(REPO).parts))]
    assert len(files) > 20  # ganlab/, scripts/, tests/ and app.py were found
    problems = [f"{path.relative_to(REPO)}:{line}: {what}" for path in files for line, what in _pickle_uses(ast.parse(path.read_text(encoding="utf-8")))]
    # this file's own sample source is a string, not code: ast does not see into it
    assert problems == []
    record_figure("no_pickle", {"python_files_scanned": len(files), "problems": len(problems)})
