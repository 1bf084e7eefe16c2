"""This request's dataset: the one the visitor chose on the page (MNIST unless they chose another).

The choice travels with each request in the visitor's model choice (a gr.State, see
ganlab.lab.choice) and is made current for that request only, through a context variable: each
Gradio request runs its handler in one worker thread, so one visitor's dataset never reaches
another's request. The parts that depend on it (models, classifier, training images, the About
tables) read `current()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ganlab.datasets import DEFAULT_DATASET, get_dataset

_DATASET: ContextVar[str | None] = ContextVar("ganlab_dataset", default=None)


def current() -> str:
    """The dataset of this request: the visitor's choice inside `using(...)`, else MNIST."""
    return _DATASET.get() or DEFAULT_DATASET


@contextmanager
def using(name: str | None) -> Iterator[None]:
    """Within the block, `current()` is `name` (checked: an unknown name is one GanlabError)."""
    token = _DATASET.set(get_dataset(name).name if name else None)
    try:
        yield
    finally:
        _DATASET.reset(token)
