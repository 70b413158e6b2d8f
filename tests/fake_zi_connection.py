"""A thin fake of the LabOne data server (``ziDAQServer``) and ``zhinst.toolkit.Session`` for the
SHFQC+ readout driver: the ZI data server cannot run here.

:class:`FakeDAQServer` records every write in order and refuses, like the data server, writes the
SHFQC+ node tree does not accept (unknown or read-only node, wrong type, value outside an enum;
see :mod:`shfqc_node_tree`). It answers ``listNodesJSON`` from that description, the LabOne
version and device status nodes, and ``generator/ready`` / ``awg/ready`` only after
``ready_after`` polls following an ELF upload (``None``: never). When the internal trigger is
enabled with the QA generator and both SG sequencers running, it "runs" the acquisition:
``result/length`` results per integrator, from

* ``drive_states(drive_cycles)`` if given: ``drive_cycles[sg_channel]`` is the phase, in cycles,
  of that SG channel's drive carrier (synthesiser + digital oscillator) at each shot's
  pre-rotation, trigger ``k`` at ``k * holdoff``; the oscillator restarts at every trigger only if
  the uploaded program (the seqc source the ELF carries) calls ``resetOscPhase()`` right after
  each ``waitDigTrigger``;
* else ``states(n)`` (discrimination) or ``integrated(n)`` (integration), default all 0.

``triggers_lost = True`` makes the acquisition never run (the result logger waits forever).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable

import numpy as np
import zhinst.core
from elftools.elf.elffile import ELFFile
from shfqc_node_tree import check_write, node_info

LABONE_VERSION = ".".join(f"{int(part):02d}" for part in zhinst.core.__version__.split(".")[:2])


def seqc_source(elf: bytes) -> str:
    """The seqc source an ELF from ``zhinst.core.compile_seqc`` carries (section ``.c``)."""
    section = ELFFile(io.BytesIO(bytes(elf))).get_section_by_name(".c")
    return section.data().decode() if section is not None else ""


class FakeDAQServer:
    def __init__(
        self,
        serial: str = "dev12345",
        states: Callable[[int], np.ndarray] | None = None,
        *,
        integrated: Callable[[int], np.ndarray] | None = None,
        drive_states: Callable[[dict[int, np.ndarray]], np.ndarray] | None = None,
        ready_after: int | None = 2,
        labone_version: str = LABONE_VERSION,
        status_flags: int = 0,
        options: str = "QC6CH\nPLUS",
        coerce_center: Callable[[str, float], float] | None = None,
    ):
        self.serial = serial.lower()
        self.writes: list[tuple[str, str, object]] = []
        self.nodes: dict[str, object] = {
            f"/{self.serial}/features/devtype": "SHFQC",
            f"/{self.serial}/features/options": options,
        }
        for channel in range(6):  # SG channels pair on synthesisers 1..3 (0 is the QA's)
            self.nodes[f"/{self.serial}/sgchannels/{channel}/synthesizer"] = 1 + channel // 2
        self.states = states or (lambda n: np.zeros((2, n), dtype=int))
        self.integrated = integrated or (lambda n: np.zeros((2, n), dtype=complex))
        self.drive_states = drive_states
        self.ready_after = ready_after
        self._polls_until_ready: dict[str, int | None] = {}
        self.labone_version = labone_version
        self.status_flags = status_flags
        self.coerce_center = coerce_center
        self.holdoff_errors = 0
        self.triggers_lost = False
        self.syncs = 0
        self.ready_polls = 0
        self.disconnected: list[str] = []

    # writes --------------------------------------------------------------------------------
    def _write(self, kind: str, path: str, value: object) -> None:
        path = path.lower()
        check_write(path, value)
        self.writes.append((kind, path, value))
        if path.endswith("/centerfreq") and self.coerce_center is not None:
            value = self.coerce_center(path, float(value))
        self.nodes[path] = value
        if path.endswith("/elf/data"):
            ready = path.replace("/elf/data", "/ready")
            self._polls_until_ready[ready] = self.ready_after
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

    def disconnectDevice(self, serial):
        self.disconnected.append(serial.lower())

    # reads ---------------------------------------------------------------------------------
    def getString(self, path):
        path = path.lower()
        if path == "/zi/about/version":
            return self.labone_version
        if path == "/zi/devices":
            return json.dumps({self.serial.upper(): {"STATUSFLAGS": self.status_flags}})
        return str(self.nodes[path])

    def getInt(self, path):
        path = path.lower()
        if path.endswith("/ready"):
            self.ready_polls += 1
            remaining = self._polls_until_ready.get(path, 0)
            if remaining is None:
                return 0
            if remaining > 0:
                self._polls_until_ready[path] = remaining - 1
                return 0
            return 1
        return int(self.nodes.get(path, 0))

    def getDouble(self, path):
        return float(self.nodes.get(path.lower(), 0.0))

    def get(self, path, flat=True, settingsonly=False, **kwargs):
        path = path.lower()
        return {path: [{"vector": np.asarray(self.nodes[path])}]}

    def listNodesJSON(self, path, *args, **kwargs):
        return json.dumps({path.upper(): {"Node": path.upper(), **node_info(path)}})

    # the simulated acquisition ---------------------------------------------------------------
    def _on(self, path: str) -> bool:
        return int(self.nodes.get(f"/{self.serial}/{path}", 0)) == 1

    def _running_sg_channels(self) -> list[int]:
        return [c for c in range(6) if self._on(f"sgchannels/{c}/awg/enable")]

    def _run(self):
        qa = f"/{self.serial}/qachannels/0"
        if self.triggers_lost or not self._on("qachannels/0/generator/enable") or len(self._running_sg_channels()) < 2:
            return  # no results: the result logger keeps waiting
        n = int(self.nodes[f"{qa}/readout/result/length"])
        source = self.nodes.get(f"{qa}/readout/result/source")
        if source in ("result_of_integration", 1):
            results = np.asarray(self.integrated(n), dtype=complex)
        elif self.drive_states is not None:
            results = np.asarray(self.drive_states(self.drive_cycles(n)))
        else:
            results = np.asarray(self.states(n))
        for slot in (0, 1):
            self.nodes[f"{qa}/readout/result/data/{slot}/wave"] = results[slot].astype(
                complex if np.iscomplexobj(results) else float
            )
        self.nodes[f"{qa}/readout/result/acquired"] = n
        self.nodes[f"{qa}/readout/result/errors"] = self.holdoff_errors
        for path in ("qachannels/0/readout/result/enable", "qachannels/0/generator/enable", "system/internaltrigger/enable",
                     *(f"sgchannels/{c}/awg/enable" for c in self._running_sg_channels())):
            self.nodes[f"/{self.serial}/{path}"] = 0

    def resets_phase_every_trigger(self, channel: int) -> bool:
        """Whether the program uploaded to SG ``channel`` restarts its oscillator after each trigger."""
        source = seqc_source(self.nodes[f"/{self.serial}/sgchannels/{channel}/awg/elf/data"])
        waits = re.findall(r"waitDigTrigger\(1\);\s*(resetOscPhase\(\);)?", source)
        return bool(waits) and all(waits)

    def drive_cycles(self, n: int) -> dict[int, np.ndarray]:
        """Phase in cycles (mod 1) of each running SG channel's drive at shot ``0 .. n-1``."""
        holdoff = float(self.nodes[f"/{self.serial}/system/internaltrigger/holdoff"])
        k = np.arange(n)
        cycles = {}
        for channel in self._running_sg_channels():
            sg = f"/{self.serial}/sgchannels/{channel}"
            carrier = float(self.nodes[f"/{self.serial}/synthesizers/{self.nodes[f'{sg}/synthesizer']}/centerfreq"])
            oscillator = float(self.nodes[f"{sg}/oscs/0/freq"])
            per_shot = (carrier * holdoff) % 1.0  # the synthesiser runs freely
            if not self.resets_phase_every_trigger(channel):
                per_shot = (per_shot + oscillator * holdoff) % 1.0  # so does the oscillator
            cycles[channel] = (k * per_shot) % 1.0
        return cycles

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

    def last_index(self, path: str) -> int:
        """Position of the last write to ``path``."""
        return max(i for i, (_, written, _) in enumerate(self.writes) if written == path.lower())


class FakeSession:
    """``zhinst.toolkit.Session`` at its boundary: the data-server connection (a
    :class:`FakeDAQServer`) and the device connect/disconnect the driver may call."""

    def __init__(self, host: str, port: int | None = None, *, daq: FakeDAQServer | None = None,
                 refuse: str | None = None):
        if refuse is not None:
            raise RuntimeError(refuse)
        self.host, self.port = host, port
        self.daq_server = daq or FakeDAQServer()
        self.connected: list[tuple[str, str]] = []
        self.disconnected: list[str] = []

    def connect_device(self, serial: str, *, interface: str | None = None):
        self.connected.append((serial, interface))
        return object()

    def disconnect_device(self, serial: str) -> None:
        self.disconnected.append(serial)
