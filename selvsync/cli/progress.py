"""Progress of an apply on stderr: done/total, the phase, elapsed time.

The runner reports each change as ``"<env>: <action> <key> ..."`` when it starts and
``"...: done"`` or ``"...: FAILED"`` when it ends. This wraps that stream:

* every end line carries ``[done/total]``;
* with ``-v``, the start lines are shown too, and each new environment and phase is announced
  (``test: phase 2 of 6 (adopt, update)``);
* when stderr is a terminal, every line also says how long the apply has run, so a long apply
  (hundreds of clients) visibly moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from selvsync.plan.actions import Action, apply_phases
from selvsync.plan.changes import Change

Clock = Callable[[], float]


class ApplyProgress:
    def __init__(
        self,
        changes: Sequence[Change],
        emit: Callable[[str], None],
        *,
        verbose: int = 0,
        terminal: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        self.total = sum(1 for c in changes if not c.manual)
        self.done = 0
        self.emit = emit
        self.verbose = verbose
        self.terminal = terminal
        self.clock = clock
        self.started = clock()
        self.phases = apply_phases()
        self._seen: set[tuple[str, int]] = set()

    def _phase(self, action: str) -> tuple[int, tuple[Action, ...]] | None:
        for number, phase in enumerate(self.phases, start=1):
            if any(str(a) == action for a in phase):
                return number, phase
        return None

    def _elapsed(self) -> str:
        seconds = int(self.clock() - self.started)
        return f", {seconds // 60}:{seconds % 60:02d} elapsed" if self.terminal else ""

    def __call__(self, message: str) -> None:
        if message.endswith(" ..."):
            self._start(message)
            return
        if message.endswith(": done") or message.endswith(": FAILED"):
            self.done += 1
            self.emit(f"[{self.done}/{self.total}{self._elapsed()}] {message}")
            return
        self.emit(message)

    def _start(self, message: str) -> None:
        env, _, rest = message.partition(": ")
        action = rest.split(" ", 1)[0]
        found = self._phase(action)
        if found is not None and self.verbose:
            number, phase = found
            if (env, number) not in self._seen:
                self._seen.add((env, number))
                names = ", ".join(str(a) for a in phase)
                self.emit(
                    f"{env}: phase {number} of {len(self.phases)} ({names}); "
                    f"{self.done}/{self.total} done{self._elapsed()}"
                )
        if self.verbose or self.terminal:
            self.emit(message)
