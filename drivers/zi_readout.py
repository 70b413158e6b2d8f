"""Zurich Instruments SHFQC+ as the two-qubit tomography readout (through zhinst-toolkit).

One acquisition of ``shots`` single shots for each tomography setting runs as:

* **QA channel** ``qa_channel`` (readout mode): one readout pulse per qubit in generator slots 0 and
  1 (flat top with cosine ramps at the intermediate frequency ``f_readout - readout_center``),
  matched integration weights in integrators 0 and 1 (rotated by the calibrated IQ angle so the
  states separate along the real axis), discrimination thresholds, and the result logger on
  ``result_of_discrimination`` (one 0/1 result per shot and qubit).
* **SG channels** ``sg_channels`` (one per qubit, digital modulation at ``f_qubit - drive_center``):
  each sequencer plays, per setting and shot, the pre-rotation that maps the measured basis onto Z:
  ``Ry(-pi/2)`` (Q quadrature, negative) for X, ``Rx(pi/2)`` (I quadrature) for Y, nothing for Z.
* **Readout calibration** (:meth:`TwoQubitReadout.measure_prepared`): the same acquisition with
  the SG sequencers playing, per prepared basis state and shot, a pi pulse (``Rx(pi)``, I
  quadrature, ``qubitN_pi_amplitude``) on each qubit to be excited and nothing on the others.
* **Internal trigger** (``/system/internaltrigger``): ``n_settings * shots`` triggers spaced by
  ``repetition_time`` start the SG and QA sequencers together; the QA sequencer waits
  ``READOUT_DELAY`` (the drive pulse) and starts the readout of both qubits.

The sequencer programs are compiled offline with ``zhinst.core.compile_seqc`` and uploaded as ELF.
Results (index ``setting * shots + shot``) become counts ``(setting, outcome)`` with outcome
``2 b1 + b2``.

The zhinst boundary is a LabOne ``ziDAQServer``-like ``connection`` with the methods ``set``
(list of ``(path, value)``), ``setVector``, ``setInt``, ``syncSetInt``, ``getInt``, ``getString``,
``get`` and ``sync``. By default it is the data-server connection of a ``zhinst.toolkit.Session``
to ``host``; tests pass a fake.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import zhinst.core
import zhinst.utils.shfqa as shfqa_settings
import zhinst.utils.shfsg as shfsg_settings
from qcodes import validators as vals
from qcodes.parameters import Parameter
from zhinst.toolkit import Sequence as SeqcProgram

from .two_qubit_readout import TwoQubitReadout

#: Sampling rate of the SHF generators and integrators, Sa/s.
SAMPLING_RATE = 2.0e9
#: Longest readout waveform / integration weight, samples.
MAX_READOUT_SAMPLES = 4096
#: Longest result-logger record per acquisition, results per qubit.
MAX_RESULT_LENGTH = 2**19
#: Largest |intermediate frequency| of the digital modulation, Hz.
MAX_INTERMEDIATE_FREQUENCY = 1.0e9


def _samples(seconds: float, granularity: int = 16, minimum: int = 32) -> int:
    """Seconds -> samples, rounded up to the sequencer granularity."""
    samples = max(minimum, math.ceil(seconds * SAMPLING_RATE))
    return granularity * math.ceil(samples / granularity)


class ZurichInstrumentsSHFQC(TwoQubitReadout):
    """SHFQC+ multiplexed single-shot readout of two qubits with tomography pre-rotations.

    Parameters (units) on top of :class:`TwoQubitReadout`'s calibrated qubit parameters:
    ``readout_center_frequency`` (Hz, QA centre), ``qubit1_readout_frequency``,
    ``qubit2_readout_frequency`` (Hz, resonators), ``readout_amplitude`` (full scale per pulse),
    ``readout_pulse_length``, ``integration_length``, ``integration_delay`` (s),
    ``qubit1_iq_rotation``, ``qubit2_iq_rotation`` (rad), ``qubit1_threshold``,
    ``qubit2_threshold`` (a.u.), ``qa_input_range``, ``qa_output_range``, ``sg_output_range``
    (dBm), ``drive_center_frequency`` (Hz, SG centre), ``qubit1_pi_half_amplitude``,
    ``qubit2_pi_half_amplitude``, ``qubit1_pi_amplitude``, ``qubit2_pi_amplitude`` (full scale;
    pi pulses prepare the basis states of a readout calibration), ``drive_pulse_length`` (s,
    Gaussian of the same length for pi/2 and pi pulses, sigma an eighth of it),
    ``repetition_time`` (s, between shots: long enough for the link to return to
    its steady state), ``acquisition_timeout`` (s).

    Args:
        name: instrument name (``"readout"`` in the station).
        serial: device serial, e.g. ``"dev12345"``.
        host, port, interface: LabOne data server and device interface.
        connection: a ready ``ziDAQServer``-like connection (skips the session; tests).
        qa_channel: QA channel index; sg_channels: SG channel of qubit 1 and of qubit 2.
        trigger_source: trigger alias the sequencers wait on (``daq.help`` lists them).
        **kwargs: qubit parameters of :class:`TwoQubitReadout`.
    """

    #: The result logger holds at most MAX_RESULT_LENGTH shots of one setting.
    max_shots = MAX_RESULT_LENGTH

    def __init__(
        self,
        name: str,
        serial: str,
        host: str = "localhost",
        port: int = 8004,
        interface: str = "1GbE",
        *,
        connection: Any | None = None,
        qa_channel: int = 0,
        sg_channels: Sequence[int] = (0, 1),
        trigger_source: str = "internal_trigger",
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.serial = serial.lower()
        if connection is None:
            from zhinst.toolkit import Session

            self._session = Session(host, port)
            self._session.connect_device(self.serial, interface=interface)
            connection = self._session.daq_server
        self.connection = connection
        if len(tuple(sg_channels)) != 2:
            raise ValueError(f"sg_channels={sg_channels!r} must name two SG channels (qubit 1, qubit 2)")
        self.qa_channel = int(qa_channel)
        self.sg_channels = tuple(int(c) for c in sg_channels)
        self.trigger_source = trigger_source

        def add(name: str, unit: str, value: Any, validator: Any, doc: str) -> Parameter:
            return self.add_parameter(
                name, unit=unit, set_cmd=None, initial_value=value, vals=validator, docstring=doc,
                label=name.replace("_", " "),
            )

        add("readout_center_frequency", "Hz", 7.0e9, vals.Numbers(1e9, 8e9), "QA centre frequency, Hz.")
        add("qubit1_readout_frequency", "Hz", 7.05e9, vals.Numbers(0.5e9, 8.5e9), "Resonator of qubit 1, Hz.")
        add("qubit2_readout_frequency", "Hz", 7.15e9, vals.Numbers(0.5e9, 8.5e9), "Resonator of qubit 2, Hz.")
        add("readout_amplitude", "", 0.4, vals.Numbers(0.0, 0.5), "Amplitude of each readout pulse (sum <= 1).")
        add("readout_pulse_length", "s", 1.0e-6, vals.Numbers(32 / SAMPLING_RATE, MAX_READOUT_SAMPLES / SAMPLING_RATE),
            "Length of the readout pulses, s.")
        add("integration_length", "s", 1.0e-6, vals.Numbers(32 / SAMPLING_RATE, MAX_READOUT_SAMPLES / SAMPLING_RATE),
            "Length of the weighted integration, s.")
        add("integration_delay", "s", 200e-9, vals.Numbers(0.0, 131e-6), "Delay of the integration after the pulse starts, s.")
        add("qubit1_iq_rotation", "rad", 0.0, vals.Numbers(-math.pi, math.pi), "IQ angle of qubit 1's state separation, rad.")
        add("qubit2_iq_rotation", "rad", 0.0, vals.Numbers(-math.pi, math.pi), "IQ angle of qubit 2's state separation, rad.")
        add("qubit1_threshold", "", 0.0, vals.Numbers(), "Discrimination threshold of qubit 1 (integrated units).")
        add("qubit2_threshold", "", 0.0, vals.Numbers(), "Discrimination threshold of qubit 2 (integrated units).")
        add("qa_input_range", "dBm", 0, vals.Multiples(divisor=5, min_value=-50, max_value=10),
            "QA input range, dBm (-50..10, steps of 5).")
        add("qa_output_range", "dBm", -10, vals.Multiples(divisor=5, min_value=-30, max_value=10),
            "QA output range, dBm (-30..10, steps of 5).")
        add("sg_output_range", "dBm", 0, vals.Multiples(divisor=5, min_value=-30, max_value=10),
            "SG output range, dBm (-30..10, steps of 5).")
        add("drive_center_frequency", "Hz", 5.9e9, vals.Numbers(1e9, 8e9), "SG centre frequency, Hz.")
        add("qubit1_pi_half_amplitude", "", 0.25, vals.Numbers(0.0, 1.0), "Amplitude of qubit 1's pi/2 pulse.")
        add("qubit2_pi_half_amplitude", "", 0.25, vals.Numbers(0.0, 1.0), "Amplitude of qubit 2's pi/2 pulse.")
        add("qubit1_pi_amplitude", "", 0.5, vals.Numbers(0.0, 1.0),
            "Amplitude of qubit 1's pi pulse (basis-state preparation), full scale.")
        add("qubit2_pi_amplitude", "", 0.5, vals.Numbers(0.0, 1.0),
            "Amplitude of qubit 2's pi pulse (basis-state preparation), full scale.")
        add("drive_pulse_length", "s", 40e-9, vals.Numbers(16e-9, 1e-6), "Length of the pre-rotation pulses, s.")
        add("repetition_time", "s", 100e-6, vals.Numbers(2e-6, 1.0), "Time between shots, s.")
        add("acquisition_timeout", "s", 60.0, vals.Numbers(0.1, 3600.0), "Longest wait for the result logger, s.")

    # ---- node paths ------------------------------------------------------------------------
    @property
    def _qa(self) -> str:
        return f"/{self.serial}/qachannels/{self.qa_channel}"

    def _sg(self, qubit: int) -> str:
        return f"/{self.serial}/sgchannels/{self.sg_channels[qubit - 1]}"

    # ---- waveforms -------------------------------------------------------------------------
    def readout_intermediate_frequencies(self) -> tuple[float, float]:
        """Readout IFs ``f_readout - readout_center`` of qubit 1 and 2, Hz (validated)."""
        return tuple(
            self._checked_if(f"qubit{j}_readout_frequency", self.parameters[f"qubit{j}_readout_frequency"]()
                             - self.readout_center_frequency())
            for j in (1, 2)
        )  # type: ignore[return-value]

    def drive_intermediate_frequencies(self) -> tuple[float, float]:
        """Drive IFs ``f_qubit - drive_center`` of qubit 1 and 2, Hz (validated)."""
        return tuple(
            self._checked_if(f"qubit{j}_frequency", self.parameters[f"qubit{j}_frequency"]()
                             - self.drive_center_frequency())
            for j in (1, 2)
        )  # type: ignore[return-value]

    @staticmethod
    def _checked_if(name: str, frequency: float) -> float:
        if not abs(frequency) <= MAX_INTERMEDIATE_FREQUENCY:
            raise ValueError(
                f"{name} is {frequency / 1e6:.1f} MHz from its centre frequency; allowed range "
                f"[-{MAX_INTERMEDIATE_FREQUENCY / 1e6:.0f}, {MAX_INTERMEDIATE_FREQUENCY / 1e6:.0f}] MHz"
            )
        return float(frequency)

    def readout_waveforms(self) -> dict[int, np.ndarray]:
        """Complex readout pulses per generator slot (0: qubit 1, 1: qubit 2)."""
        n = _samples(self.readout_pulse_length(), granularity=4, minimum=4)
        ramp = min(n // 4, 40)
        envelope = np.ones(n)
        rise = np.sin(np.linspace(0, np.pi / 2, ramp, endpoint=False)) ** 2
        envelope[:ramp], envelope[n - ramp:] = rise, rise[::-1]
        t = np.arange(n) / SAMPLING_RATE
        amplitude = self.readout_amplitude()
        return {
            slot: amplitude * envelope * np.exp(2j * np.pi * f_if * t)
            for slot, f_if in enumerate(self.readout_intermediate_frequencies())
        }

    def integration_weights(self) -> dict[int, np.ndarray]:
        """Matched, rotated integration weights per integrator (0: qubit 1, 1: qubit 2)."""
        n = _samples(self.integration_length(), granularity=4, minimum=4)
        t = np.arange(n) / SAMPLING_RATE
        rotations = (self.qubit1_iq_rotation(), self.qubit2_iq_rotation())
        return {
            slot: np.exp(-2j * np.pi * f_if * t - 1j * rotations[slot])
            for slot, f_if in enumerate(self.readout_intermediate_frequencies())
        }

    # ---- sequencer programs ----------------------------------------------------------------
    #: SG play statement per tomography basis: the pre-rotation mapping it onto Z.
    PRE_ROTATIONS = {
        "X": "playWave(1, 2, nothing, 1, 2, minus_pulse);",  # Ry(-pi/2)
        "Y": "playWave(1, 2, pulse, 1, 2, nothing);",  # Rx(pi/2)
        "Z": "playZero(PULSE_LENGTH);",
    }
    #: SG play statement per prepared bit: nothing for |g>, an Rx(pi) for |e>.
    PREPARATIONS = {
        "0": "playZero(PULSE_LENGTH);",
        "1": "playWave(1, 2, pi_pulse, 1, 2, nothing);",
    }

    def sequencer_programs(self, settings: Sequence[str], shots: int) -> dict[str, str]:
        """The seqc programs of one tomography acquisition: ``"qa"``, ``"sg1"``, ``"sg2"``."""
        blocks = {
            qubit: [(f"setting {setting}: qubit {qubit} measured in {setting[qubit - 1]}",
                     self.PRE_ROTATIONS[setting[qubit - 1]]) for setting in settings]
            for qubit in (1, 2)
        }
        return self._programs(blocks, shots)

    def prepared_state_programs(self, states: Sequence[str], shots: int) -> dict[str, str]:
        """The seqc programs of a readout calibration: per prepared state (two bits, qubit 1
        first) and shot, a pi pulse (``qubitN_pi_amplitude``, I quadrature) on each qubit whose
        bit is 1, nothing on the others, then the Z, Z readout."""
        blocks = {
            qubit: [(f"prepared {state}: qubit {qubit} in |{'ge'[int(state[qubit - 1])]}>",
                     self.PREPARATIONS[state[qubit - 1]]) for state in states]
            for qubit in (1, 2)
        }
        return self._programs(blocks, shots)

    def _programs(self, blocks: dict[int, list[tuple[str, str]]], shots: int) -> dict[str, str]:
        """QA program (one readout per trigger) and per-qubit SG programs playing, for each block
        ``(comment, play statement)`` in order, the statement after each of ``shots`` triggers."""
        drive = _samples(self.drive_pulse_length())
        constants = {"SHOTS": int(shots), "PULSE_LENGTH": drive}
        n_blocks = len(blocks[1])
        programs = {
            "qa": str(
                SeqcProgram(
                    "repeat(N_TOTAL) {\n"
                    "  waitDigTrigger(1);\n"
                    "  playZero(READOUT_DELAY);\n"
                    "  startQA(QA_GEN_0 | QA_GEN_1, QA_INT_0 | QA_INT_1, true, 0, 0x0);\n"
                    "}\n",
                    constants={"N_TOTAL": n_blocks * int(shots), "READOUT_DELAY": drive + 32},
                )
            )
        }
        waves = {  # only the waves a program plays (name -> amplitude)
            "pulse": lambda q: self.parameters[f"qubit{q}_pi_half_amplitude"](),
            "minus_pulse": lambda q: -self.parameters[f"qubit{q}_pi_half_amplitude"](),
            "pi_pulse": lambda q: self.parameters[f"qubit{q}_pi_amplitude"](),
        }
        for qubit in (1, 2):
            plays = [play for _, play in blocks[qubit]]
            lines = [
                f"wave {name} = gauss(PULSE_LENGTH, {amplitude(qubit):.6f}, PULSE_LENGTH / 2, PULSE_LENGTH / 8);"
                for name, amplitude in waves.items()
                if any(re.search(rf"\b{name}\b", play) for play in plays)
            ]
            if any(re.search(r"\bnothing\b", play) for play in plays):
                lines.append("wave nothing = zeros(PULSE_LENGTH);")
            for comment, play in blocks[qubit]:
                lines.append(f"// {comment}")
                lines.append(f"repeat(SHOTS) {{ waitDigTrigger(1); {play} }}")
            programs[f"sg{qubit}"] = str(SeqcProgram("\n".join(lines) + "\n", constants=constants))
        return programs

    def compile_programs(self, programs: dict[str, str]) -> dict[str, bytes]:
        """Compile the programs offline for this device; RuntimeError with the compiler message."""
        devtype = self.connection.getString(f"/{self.serial}/features/devtype")
        options = self.connection.getString(f"/{self.serial}/features/options")
        elves = {}
        for key, code in programs.items():
            sequencer, index = ("qa", self.qa_channel) if key == "qa" else ("sg", self.sg_channels[int(key[-1]) - 1])
            try:
                elf, _ = zhinst.core.compile_seqc(code, devtype, options, index, sequencer=sequencer)
            except Exception as error:  # the compiler raises its own error type
                raise RuntimeError(f"{self.name}: seqc program {key!r} does not compile: {error}") from error
            elves[key] = elf
        return elves

    # ---- node settings ---------------------------------------------------------------------
    def configuration_settings(self, result_length: int) -> list[tuple[str, Any]]:
        """All static node settings of an acquisition with ``result_length`` shots per qubit."""
        serial, qa = self.serial, self.qa_channel
        settings: list[tuple[str, Any]] = []
        settings += shfqa_settings.get_channel_settings(
            serial, qa, input_range=self.qa_input_range(), output_range=self.qa_output_range(),
            center_frequency=self.readout_center_frequency(), mode="readout",
        )
        settings += [(f"{self._qa}/input/on", 1), (f"{self._qa}/output/on", 1)]
        settings += shfqa_settings.get_sequencer_triggering_settings(serial, qa, aux_trigger=self.trigger_source)
        settings += [(f"{self._qa}/generator/waveforms/{slot}/wave", wave)
                     for slot, wave in self.readout_waveforms().items()]
        settings += shfqa_settings.get_configure_weighted_integration_settings(
            serial, qa, weights=self.integration_weights(),
            integration_delay=self.integration_delay(),
        )
        settings += [
            (f"{self._qa}/readout/discriminators/0/threshold", float(self.qubit1_threshold())),
            (f"{self._qa}/readout/discriminators/1/threshold", float(self.qubit2_threshold())),
        ]
        settings += shfqa_settings.get_result_logger_for_readout_settings(
            serial, qa, result_source="result_of_discrimination", result_length=int(result_length),
            num_averages=1, averaging_mode=0,
        )
        for qubit, f_if in zip((1, 2), self.drive_intermediate_frequencies()):
            channel = self.sg_channels[qubit - 1]
            sg = self._sg(qubit)
            synthesizer = int(self.connection.getInt(f"{sg}/synthesizer"))
            settings += [
                (f"{sg}/output/range", self.sg_output_range()),
                (f"{sg}/output/rflfpath", 1),
                (f"/{serial}/synthesizers/{synthesizer}/centerfreq", self.drive_center_frequency()),
                (f"{sg}/output/on", 1),
            ]
            settings += shfsg_settings.get_pulse_modulation_settings(
                serial, channel, enable=1, osc_index=0, osc_frequency=f_if, global_amp=1.0
            )
            settings += shfsg_settings.get_marker_and_trigger_settings(
                serial, channel, trigger_in_source=self.trigger_source, trigger_in_slope="rising_edge",
                marker_out_source="awg_trigger0",
            )
        settings += [
            (f"/{serial}/system/internaltrigger/repetitions", int(result_length)),
            (f"/{serial}/system/internaltrigger/holdoff", float(self.repetition_time())),
        ]
        return settings

    # ---- acquisition -----------------------------------------------------------------------
    def _acquire(self, settings: tuple[str, ...], shots: int) -> np.ndarray:
        return self._acquire_blocks(settings, shots, self.sequencer_programs)

    def _acquire_prepared(self, states: tuple[str, ...], shots: int) -> np.ndarray:
        return self._acquire_blocks(states, shots, self.prepared_state_programs)

    def _acquire_blocks(
        self, blocks: tuple[str, ...], shots: int, programs: Callable[[tuple[str, ...], int], dict[str, str]]
    ) -> np.ndarray:
        """Counts ``(len(blocks), 4)``: ``programs(chunk, shots)`` run in chunks that fit the
        result logger."""
        if shots > MAX_RESULT_LENGTH:
            raise ValueError(f"shots={shots} is outside the allowed range [1, {MAX_RESULT_LENGTH}] for the SHFQC")
        per_chunk = max(1, MAX_RESULT_LENGTH // shots)
        chunks = [blocks[start:start + per_chunk] for start in range(0, len(blocks), per_chunk)]
        counts = [self._acquire_chunk(programs(chunk, shots), len(chunk), shots) for chunk in chunks]
        return np.concatenate(counts, axis=0)

    def _acquire_chunk(self, programs: dict[str, str], n_blocks: int, shots: int) -> np.ndarray:
        n = n_blocks * shots
        elves = self.compile_programs(programs)
        configuration = self.configuration_settings(n)  # validates everything before any write
        daq = self.connection
        daq.syncSetInt(f"{self._qa}/generator/clearwave", 1)
        daq.set(configuration)
        daq.syncSetInt(f"{self._qa}/generator/reset", 1)
        daq.setVector(f"{self._qa}/generator/elf/data", elves["qa"])
        for qubit in (1, 2):
            daq.syncSetInt(f"{self._sg(qubit)}/awg/reset", 1)
            daq.setVector(f"{self._sg(qubit)}/awg/elf/data", elves[f"sg{qubit}"])
        daq.sync()
        for path in [f"{self._qa}/generator/ready"] + [f"{self._sg(q)}/awg/ready" for q in (1, 2)]:
            if daq.getInt(path) != 1:
                raise RuntimeError(f"{self.name}: sequencer at {path} did not accept its program")
        daq.syncSetInt(f"{self._qa}/readout/result/enable", 1)
        daq.setInt(f"{self._qa}/generator/single", 1)
        daq.syncSetInt(f"{self._qa}/generator/enable", 1)
        for qubit in (1, 2):
            daq.setInt(f"{self._sg(qubit)}/awg/single", 1)
            daq.syncSetInt(f"{self._sg(qubit)}/awg/enable", 1)
        daq.syncSetInt(f"/{self.serial}/system/internaltrigger/enable", 1)
        self._wait_for_results()
        bits = np.stack([self._read_results(slot, n) for slot in (0, 1)])  # (2, n)
        outcome = (2 * bits[0] + bits[1]).reshape(n_blocks, shots)
        return np.stack([np.bincount(row, minlength=4) for row in outcome]).astype(np.int64)

    def _wait_for_results(self) -> None:
        deadline = time.monotonic() + self.acquisition_timeout()
        path = f"{self._qa}/readout/result/enable"
        while self.connection.getInt(path) != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name}: the result logger did not finish within {self.acquisition_timeout()} s "
                    "(missing triggers?)"
                )
            time.sleep(0.01)

    def _read_results(self, slot: int, n: int) -> np.ndarray:
        path = f"{self._qa}/readout/result/data/{slot}/wave"
        data = self.connection.get(path, flat=True, settingsonly=False)
        entry = data[path] if path in data else next(iter(data.values()))
        vector = np.asarray(entry[0]["vector"] if isinstance(entry, list) else entry["vector"])
        if vector.shape != (n,):
            raise RuntimeError(f"{self.name}: {path} returned {vector.shape[0]} results, expected {n}")
        states = np.rint(np.real(vector)).astype(np.int64)
        if np.any((states < 0) | (states > 1)):
            raise RuntimeError(f"{self.name}: {path} holds states other than 0 and 1")
        return states

    def close(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None:
            try:
                session.disconnect_device(self.serial)
            except Exception:  # never block closing
                self.log.warning("could not disconnect %s", self.serial)
        super().close()
