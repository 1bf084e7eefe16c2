"""`RunControl`: how a trainer is started, stopped, paused, stepped and listened to, between steps.

`stop(reason)` sets one threading.Event checked once per step, so a run ends within one step
(~0.2 s on a CPU), and the reason arrives in Finished. `pause()`, `resume()` and `advance(n)`
(n steps, then paused again) act between steps too. The Trainer is the one subclass: it supplies
`run()` and checks `_stop`, `_resume` and `_count_down()` in its loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ganlab.errors import GanlabError
from ganlab.events import Event


class RunControl:
    """Threads, stop, pause/resume/advance and listeners of one run."""

    def __init__(self, on_event: Callable[[Event], None] | None = None) -> None:
        self.listeners: list[Callable[[Event], None]] = [on_event] if on_event else []
        self._stop = threading.Event()
        self._stop_lock = threading.Lock()
        self._stop_reason = "stopped"
        self._resume = threading.Event()
        self._resume.set()
        self._steps_left: int | None = None  # set by advance(): steps to run before pausing again
        self._thread: threading.Thread | None = None

    def run(self):  # the subclass trains here
        raise NotImplementedError

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        self.listeners.append(listener)

    def start(self) -> threading.Thread:
        """Run in a daemon thread (a closed UI never keeps the process alive)."""
        if self._thread is not None:
            raise GanlabError("this trainer has already been started; build a new one for a new run")
        self._thread = threading.Thread(target=self._run_safely, name="ganlab-trainer", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, reason: str = "stopped", timeout: float | None = 5.0) -> bool:
        """Ask the run to end after the current step; True once the thread has ended.

        `reason` arrives in the run's Finished event (the first reason given wins).
        """
        with self._stop_lock:
            if not self._stop.is_set():
                self._stop_reason = reason
                self._stop.set()
        self._resume.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def pause(self) -> None:
        with self._stop_lock:
            if self._stop.is_set():  # a stop already released the loop; pausing now would only hold it
                return
            self._steps_left = None
            self._resume.clear()

    def resume(self) -> None:
        with self._stop_lock:
            self._steps_left = None
            self._resume.set()

    def advance(self, steps: int) -> None:
        """While paused: run `steps` more steps, then pause again (with fresh samples to look at)."""
        if steps < 1:
            raise GanlabError(f"advance needs at least one step, got {steps}")
        with self._stop_lock:
            self._steps_left = steps
            self._resume.set()

    def _count_down(self) -> bool:
        """After a step: True when an advance() has just run its last step (and paused the run)."""
        with self._stop_lock:
            if self._steps_left is None:
                return False
            self._steps_left -= 1
            if self._steps_left > 0:
                return False
            self._steps_left = None
            self._resume.clear()
            return True

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    @property
    def stepping(self) -> bool:
        """Whether an advance() is still running its steps (the run pauses again after them)."""
        with self._stop_lock:
            return self._steps_left is not None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- events ---------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def _run_safely(self) -> None:
        try:
            self.run()
        except Exception:
            pass  # run() has already emitted Failed; a daemon thread has no one to raise to
