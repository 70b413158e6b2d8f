"""A thin fake of the LabOne ``ziDAQServer`` boundary for the SHFQC readout driver.

It records every node write in order, answers the few reads the driver makes, and when the
internal trigger is enabled it "runs" the acquisition: the result logger of each integrator fills
with ``result/length`` discriminated states taken from ``states(n)`` (default: all 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class FakeDAQServer:
    def __init__(self, serial: str = "dev12345", states: Callable[[int], np.ndarray] | None = None):
        self.serial = serial
        self.writes: list[tuple[str, str, object]] = []
        self.nodes: dict[str, object] = {
            f"/{serial}/features/devtype": "SHFQC",
            f"/{serial}/features/options": "QC6CH\nPLUS",
        }
        self.states = states or (lambda n: np.zeros((2, n), dtype=int))
        self.syncs = 0

    # writes --------------------------------------------------------------------------------
    def _write(self, kind: str, path: str, value: object) -> None:
        path = path.lower()
        self.writes.append((kind, path, value))
        self.nodes[path] = value
        if path.endswith("/system/internaltrigger/enable") and value == 1:
            self._run()

    def set(self, settings, value=None):
        if isinstance(settings, str):
            self._write("set", settings, value)
            return
        for path, item in settings:
            self._write("set", path, item)

    def setVector(self, path, value):
        self._write("setVector", path, value)

    def setInt(self, path, value):
        self._write("setInt", path, int(value))

    def setDouble(self, path, value):
        self._write("setDouble", path, float(value))

    def syncSetInt(self, path, value):
        self._write("syncSetInt", path, int(value))
        return int(value)

    def sync(self):
        self.syncs += 1

    # reads ---------------------------------------------------------------------------------
    def getString(self, path):
        return str(self.nodes[path.lower()])

    def getInt(self, path):
        path = path.lower()
        if path.endswith("/ready"):
            return 1
        return int(self.nodes.get(path, 0))

    def get(self, path, flat=True, settingsonly=False, **kwargs):
        path = path.lower()
        return {path: [{"vector": np.asarray(self.nodes[path])}]}

    # the simulated acquisition ---------------------------------------------------------------
    def _run(self):
        qa = f"/{self.serial}/qachannels/0/readout/result"
        n = int(self.nodes[f"{qa}/length"])
        states = np.asarray(self.states(n))
        for slot in (0, 1):
            self.nodes[f"{qa}/data/{slot}/wave"] = states[slot].astype(float)
        self.nodes[f"{qa}/enable"] = 0

    # helpers for the tests -------------------------------------------------------------------
    def value(self, path: str):
        """Last value written to ``path`` (KeyError if never written)."""
        for kind, written, value in reversed(self.writes):
            if written == path.lower():
                return value
        raise KeyError(path)

    def index(self, path: str) -> int:
        """Position of the first write to ``path``."""
        return next(i for i, (_, written, _) in enumerate(self.writes) if written == path.lower())
