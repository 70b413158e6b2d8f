"""Zurich Instruments SHFQC+ as the two-qubit tomography readout (through zhinst-toolkit).

One acquisition of ``shots`` single shots for each tomography setting runs as:

* **QA channel** ``qa_channel`` (readout mode): one readout pulse per qubit in generator slots 0 and
  1 (flat top with cosine ramps at the intermediate frequency ``f_readout - readout_centre``),
  matched integration weights in integrators 0 and 1 (rotated by the calibrated IQ angle so the
  states separate along the real axis, excited state at larger real part), discrimination
  thresholds (state 1 above), and the result logger on ``result_of_discrimination`` (one 0/1
  result per shot and qubit) or, for the IQ calibration, ``result_of_integration``.
* **SG channels** ``sg_channels`` (one per qubit, digital modulation at ``f_qubit - drive_centre``):
  each sequencer waits for the trigger, restarts its oscillator (``resetOscPhase()``) and plays,
  per setting and shot, the pre-rotation that maps the measured basis onto Z: ``Ry(-pi/2)``
  (Q quadrature, negative) for X, ``Rx(pi/2)`` (I quadrature) for Y, nothing for Z.
* **Readout calibration** (:meth:`TwoQubitReadout.measure_prepared`): the same acquisition with
  the SG sequencers playing, per prepared basis state and shot, a pi pulse (``Rx(pi)``, I
  quadrature, ``qubitN_pi_amplitude``) on each qubit to be excited and nothing on the others.
* **Internal trigger** (``/system/internaltrigger``): ``n_settings * shots`` triggers spaced by
  ``repetition_time`` start the SG and QA sequencers together; the QA sequencer waits
  ``READOUT_DELAY`` (the drive pulse) and starts the readout of both qubits.

**Drive frames.** Each qubit is driven at its own IF and the link's steady state is stationary in
the filter frame, so without a common phase reference the ``|eg><ge|`` coherence would rotate by
``2 pi (f1 - f2) T`` from shot to shot and average away. Both SG programs therefore reset their
oscillator phase on the same trigger, before every pre-rotation.

**Known state.** At connect time and after every acquisition (success or failure) the device is
put to idle (:meth:`ZurichInstrumentsSHFQC.idle_settings`): internal trigger, sequencers, result
logger and pipeliners off, multistate readout, synchronisation, SG sine generators (and, with the
LRT option, QA modulation and downsampling) back to what this driver assumes.

**Versions.** ``zhinst.toolkit.Session`` refuses a data server of another LabOne release; after
connecting the driver also compares the data server's LabOne version with the installed
``zhinst-core`` and the device's firmware status, and raises ``ConnectionError`` saying what to
install or update (docs/instruments.md, "Bring-up checklist").

**Frequencies.** Centre frequencies are validated on the synthesisers' 100 MHz grid, written,
read back, and the IFs are computed from the values read back.

The sequencer programs are compiled offline with ``zhinst.core.compile_seqc`` and uploaded as ELF;
the driver then waits (``upload_timeout``) for ``generator/ready`` and ``awg/ready``. Results
(index ``setting * shots + shot``) become counts ``(setting, outcome)`` with outcome
``2 b1 + b2``. The result logger is waited on for ``acquisition_timeout_factor`` times the
expected duration (triggers x ``repetition_time``) plus ``acquisition_timeout_margin``.

The zhinst boundary is a LabOne ``ziDAQServer``-like ``connection`` (``set``, ``setVector``,
``setInt``, ``syncSetInt``, ``getInt``, ``getDouble``, ``getString``, ``get``, ``listNodesJSON``,
``sync``). By default it is the data-server connection of a ``zhinst.toolkit.Session`` to ``host``;
tests pass a fake. :meth:`ZurichInstrumentsSHFQC.close` never disconnects the device (that would
disconnect it for every client of the data server).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr
import zhinst.core
import zhinst.utils.shfqa as shfqa_settings
import zhinst.utils.shfsg as shfsg_settings
from qcodes import validators as vals
from qcodes.parameters import Parameter
from zhinst.toolkit import Sequence as SeqcProgram
from zhinst.utils.api_compatibility import check_dataserver_device_compatibility
from zhinst.utils.exceptions import CompatibilityError

from thermalink.simulators.errors import InputError

from .two_qubit_readout import BASIS_STATES, TwoQubitReadout, validate_basis_states, validate_shots

#: Sampling rate of the SHF generators and integrators, Sa/s.
SAMPLING_RATE = 2.0e9
#: Longest readout waveform / integration weight, samples.
MAX_READOUT_SAMPLES = 4096
#: Longest result-logger record per acquisition, results per qubit.
MAX_RESULT_LENGTH = 2**19
#: Largest |intermediate frequency| of the digital modulation, Hz.
MAX_INTERMEDIATE_FREQUENCY = 1.0e9
#: Grid of the SHF synthesisers' centre frequencies, Hz (LabOne Q prefers multiples of 200 MHz for
#: phase reproducibility between runs: choose those when you can).
CENTER_FREQUENCY_GRID_HZ = 100e6
#: Aux-trigger option of the internal trigger of a standalone SHFQC+, for the QA generator and the
#: SG sequencers alike (what LabOne Q writes; the QA enum has no keyword for it).
SHFQC_INTERNAL_TRIGGER = 8


def _samples(seconds: float, granularity: int = 16, minimum: int = 32) -> int:
    """Seconds -> samples, rounded up to the sequencer granularity."""
    samples = max(minimum, math.ceil(seconds * SAMPLING_RATE))
    return granularity * math.ceil(samples / granularity)


def _major_minor(version: str) -> tuple[int, int]:
    """``"24.01"`` or ``"24.1.0.5"`` -> ``(24, 1)``."""
    parts = re.findall(r"\d+", str(version))
    if len(parts) < 2:
        raise ValueError(f"version={version!r} is not of the form YY.MM[...]")
    return int(parts[0]), int(parts[1])


class OnGrid(vals.Validator[float]):
    """A number in ``[min_value, max_value]`` that is a multiple of ``step``."""

    is_numeric = True

    def __init__(self, step: float, min_value: float, max_value: float) -> None:
        self._step, self._min, self._max = float(step), float(min_value), float(max_value)
        self._valid_values = (min_value,)

    def validate(self, value: Any, context: str = "") -> None:
        value = float(value)
        steps = value / self._step
        if not (self._min <= value <= self._max and abs(steps - round(steps)) < 1e-9):
            raise InputError(
                f"{value!r} is not allowed for {context}: multiples of {self._step / 1e6:g} MHz in "
                f"[{self._min / 1e9:g}, {self._max / 1e9:g}] GHz (the SHF synthesiser grid)"
            )

    def __repr__(self) -> str:
        return f"<multiples of {self._step:g} in [{self._min:g}, {self._max:g}]>"


def iq_rotation_and_threshold(
    ground: np.ndarray, excited: np.ndarray, rotation: float = 0.0
) -> tuple[float, float]:
    """The IQ rotation (rad) and threshold that separate two clouds of integrated results.

    ``ground`` and ``excited`` are complex results measured with integration weights rotated by
    ``rotation``. Returns the new rotation, under which the excited mean lies on the positive
    real axis side of the ground mean, and the threshold halfway between the two means (state 1
    above it).
    """
    ground, excited = np.asarray(ground), np.asarray(excited)
    separation = excited.mean() - ground.mean()
    if not abs(separation) > 0:
        raise ValueError("the prepared ground and excited results do not separate (equal means)")
    turn = float(np.angle(separation))
    new_rotation = (rotation + turn + math.pi) % (2 * math.pi) - math.pi
    threshold = float(np.real(np.exp(-1j * turn) * (ground.mean() + excited.mean()) / 2))
    return new_rotation, threshold


class ZurichInstrumentsSHFQC(TwoQubitReadout):
    """SHFQC+ multiplexed single-shot readout of two qubits with tomography pre-rotations.

    Parameters (units) on top of :class:`TwoQubitReadout`'s calibrated qubit parameters:
    ``readout_center_frequency`` (Hz, QA centre, on the 100 MHz grid), ``qubit1_readout_frequency``,
    ``qubit2_readout_frequency`` (Hz, resonators), ``readout_amplitude`` (full scale per pulse),
    ``readout_pulse_length``, ``integration_length``, ``integration_delay`` (s),
    ``qubit1_iq_rotation``, ``qubit2_iq_rotation`` (rad), ``qubit1_threshold``,
    ``qubit2_threshold`` (a.u.), ``qa_input_range``, ``qa_output_range``, ``sg_output_range``
    (dBm), ``drive_center_frequency`` (Hz, SG centre, on the 100 MHz grid),
    ``qubit1_pi_half_amplitude``, ``qubit2_pi_half_amplitude``, ``qubit1_pi_amplitude``,
    ``qubit2_pi_amplitude`` (full scale; pi pulses prepare the basis states of a readout
    calibration), ``drive_pulse_length`` (s, Gaussian of the same length for pi/2 and pi pulses,
    sigma an eighth of it), ``repetition_time`` (s, between shots: long enough for the link to
    return to its steady state), ``acquisition_timeout_factor``, ``acquisition_timeout_margin``
    (s), ``upload_timeout`` (s).

    The readout protocol's ``prerotation_time`` and ``integration_time`` are read-only here: they
    are ``drive_pulse_length`` and ``integration_length``, what the programs play (set those; an
    init value or a set of the protocol times is refused with that advice). ``freeze``,
    ``freeze_time`` and ``readout_decay_fraction`` are set as on any readout.

    Args:
        name: instrument name (``"readout"`` in the station).
        serial: device serial, e.g. ``"dev12345"``.
        host, port, interface: LabOne data server and device interface.
        connection: a ready ``ziDAQServer``-like connection (skips the session; tests).
        qa_channel: QA channel index; sg_channels: SG channel of qubit 1 and of qubit 2.
        qa_trigger: aux-trigger option of the QA generator, an int or a keyword of
            ``qachannels/N/generator/auxtriggers/0/channel`` (default 8: the internal trigger).
        sg_trigger: the same for the SG sequencers (``sgchannels/N/awg/auxtriggers/0/channel``).
            Both are checked against the node's own options at connect time.
        session_factory: what opens the session (``zhinst.toolkit.Session``; tests pass a fake).
        **kwargs: qubit parameters of :class:`TwoQubitReadout`.
    """

    #: The result logger holds at most MAX_RESULT_LENGTH shots of one setting.
    max_shots = MAX_RESULT_LENGTH
    #: The readout protocol's windows are the programs' pulses (docs/instruments.md, "SHFQC+ readout").
    protocol_times_from = {"prerotation_time": "drive_pulse_length", "integration_time": "integration_length"}

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
        qa_trigger: int | str = SHFQC_INTERNAL_TRIGGER,
        sg_trigger: int | str = SHFQC_INTERNAL_TRIGGER,
        session_factory: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if len(tuple(sg_channels)) != 2:
            raise InputError(f"sg_channels={sg_channels!r} must name two SG channels (qubit 1, qubit 2)")
        super().__init__(name, **kwargs)
        self.serial = serial.lower()
        self.qa_channel = int(qa_channel)
        self.sg_channels = tuple(int(c) for c in sg_channels)
        self._connected = False
        self._session: Any = None

        def add(name: str, unit: str, value: Any, validator: Any, doc: str) -> Parameter:
            return self.add_parameter(
                name, unit=unit, set_cmd=None, initial_value=value, vals=validator, docstring=doc,
                label=name.replace("_", " "),
            )

        grid = OnGrid(CENTER_FREQUENCY_GRID_HZ, 1e9, 8e9)
        add("readout_center_frequency", "Hz", 7.0e9, grid, "QA centre frequency, Hz (100 MHz grid).")
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
        add("drive_center_frequency", "Hz", 5.9e9, grid, "SG centre frequency, Hz (100 MHz grid).")
        add("qubit1_pi_half_amplitude", "", 0.25, vals.Numbers(0.0, 1.0), "Amplitude of qubit 1's pi/2 pulse.")
        add("qubit2_pi_half_amplitude", "", 0.25, vals.Numbers(0.0, 1.0), "Amplitude of qubit 2's pi/2 pulse.")
        add("qubit1_pi_amplitude", "", 0.5, vals.Numbers(0.0, 1.0),
            "Amplitude of qubit 1's pi pulse (basis-state preparation), full scale.")
        add("qubit2_pi_amplitude", "", 0.5, vals.Numbers(0.0, 1.0),
            "Amplitude of qubit 2's pi pulse (basis-state preparation), full scale.")
        add("drive_pulse_length", "s", 40e-9, vals.Numbers(16e-9, 1e-6), "Length of the pre-rotation pulses, s.")
        add("repetition_time", "s", 100e-6, vals.Numbers(2e-6, 1.0), "Time between shots, s.")
        add("acquisition_timeout_factor", "", 1.5, vals.Numbers(1.0, 100.0),
            "The result logger is waited on for this times the expected duration (triggers x repetition_time) ...")
        add("acquisition_timeout_margin", "s", 10.0, vals.Numbers(0.0, 3600.0), "... plus this, s.")
        add("upload_timeout", "s", 10.0, vals.Numbers(0.0, 600.0),
            "Longest wait for a sequencer to report ready after its ELF upload, s.")

        try:
            self._connect(connection, host, port, interface, session_factory, qa_trigger, sg_trigger)
        except BaseException:
            super().close()  # unregister the name; nothing of ours is running on the device
            raise

    # ---- connection ------------------------------------------------------------------------
    def _connect(self, connection, host, port, interface, session_factory, qa_trigger, sg_trigger) -> None:
        if connection is None:
            if session_factory is None:
                from zhinst.toolkit import Session as session_factory
            try:
                self._session = session_factory(host, port)
            except RuntimeError as error:  # ziDAQServer refuses another LabOne release
                raise ConnectionError(
                    f"{self.name}: could not open a session to the LabOne data server at {host}:{port}: {error}. "
                    f"If this is a version mismatch, install the zhinst-core of the lab's LabOne release "
                    f"(installed: {zhinst.core.__version__}), e.g. pip install 'zhinst-core==YY.MM.*' with YY.MM "
                    "from the LabOne UI's About box; see docs/instruments.md (Bring-up checklist)"
                ) from error
            self._session.connect_device(self.serial, interface=interface)
            connection = self._session.daq_server
        self.connection = connection
        self.check_versions()
        self.qa_trigger = self._checked_trigger(f"{self._qa}/generator/auxtriggers/0/channel", qa_trigger, "qa_trigger")
        self.sg_trigger = self._checked_trigger(f"{self._sg(1)}/awg/auxtriggers/0/channel", sg_trigger, "sg_trigger")
        self._checked_trigger(f"{self._sg(2)}/awg/auxtriggers/0/channel", sg_trigger, "sg_trigger")
        self._connected = True
        self.reset_to_idle()

    def check_versions(self) -> None:
        """``ConnectionError`` unless the data server runs the LabOne release of the installed
        ``zhinst-core`` (major.minor) and the device firmware matches the data server."""
        server = self.connection.getString("/zi/about/version")
        if _major_minor(server) != _major_minor(zhinst.core.__version__):
            year, month = _major_minor(server)
            raise ConnectionError(
                f"{self.name}: the LabOne data server runs release {server} but zhinst-core "
                f"{zhinst.core.__version__} is installed; they must be the same LabOne release. Install the "
                f"matching client (pip install 'zhinst-core=={year}.{month:02d}.*' and a zhinst-toolkit that supports "
                "it) or update LabOne on the data-server PC; see docs/instruments.md (Bring-up checklist)"
            )
        try:
            check_dataserver_device_compatibility(self.connection, [self.serial])
        except CompatibilityError as error:
            raise ConnectionError(
                f"{self.name}: {error} Update the firmware from the LabOne UI (Device tab), or run the LabOne "
                "release the firmware belongs to; see docs/instruments.md (Bring-up checklist)"
            ) from error

    def _checked_trigger(self, path: str, value: int | str, name: str) -> int:
        """The integer option of ``value`` at the enumerated node ``path``, checked against the
        node's own options; ``ValueError`` listing them otherwise."""
        info = next(iter(json.loads(self.connection.listNodesJSON(path)).values()))
        options = {int(key): text for key, text in info.get("Options", {}).items()}
        keywords = {word: key for key, text in options.items() for word in re.findall(r'"([A-Za-z0-9_-]+)"', text)}
        if isinstance(value, str) and value in keywords:
            return keywords[value]
        if not isinstance(value, str) and int(value) in options:
            return int(value)
        allowed = "; ".join(f"{key}: {text}" for key, text in sorted(options.items()))
        raise InputError(f"{name}={value!r} is not an option of {path}; allowed: {allowed}")

    @property
    def _has_long_readout(self) -> bool:
        return "LRT" in self.connection.getString(f"/{self.serial}/features/options").upper().split()

    def idle_settings(self) -> list[list[tuple[str, Any]]]:
        """The node settings of the idle state, in two steps (pipeliners first: enabling or
        disabling a sequencer while its pipeliner runs is a firmware error)."""
        qa, system = self._qa, f"/{self.serial}/system"
        first = [(f"{system}/internaltrigger/enable", 0), (f"{qa}/pipeliner/reset", 1), (f"{qa}/pipeliner/mode", 0)]
        second = [
            (f"{qa}/synchronization/enable", 0),
            (f"{qa}/generator/enable", 0),
            (f"{qa}/readout/result/enable", 0),
            (f"{qa}/spectroscopy/result/enable", 0),
            (f"{qa}/readout/multistate/enable", 0),
        ]
        if self._has_long_readout:
            second += [(f"{qa}/modulation/enable", 0), (f"{qa}/readout/integration/downsampling/factor", 1)]
        for qubit in (1, 2):
            sg = self._sg(qubit)
            first += [(f"{sg}/pipeliner/reset", 1), (f"{sg}/pipeliner/mode", 0)]
            second += [
                (f"{sg}/synchronization/enable", 0),
                (f"{sg}/awg/enable", 0),
                (f"{sg}/sines/0/i/enable", 0),
                (f"{sg}/sines/0/q/enable", 0),
            ]
        second += [(f"{system}/internaltrigger/synchronization/enable", 0), (f"{system}/synchronization/source", 0)]
        return [first, second]

    def reset_to_idle(self) -> None:
        """Stop the trigger, sequencers and result logger and reset what other tools leave set."""
        for step in self.idle_settings():
            self.connection.set(step)
            self.connection.sync()

    # ---- node paths ------------------------------------------------------------------------
    @property
    def _qa(self) -> str:
        return f"/{self.serial}/qachannels/{self.qa_channel}"

    def _sg(self, qubit: int) -> str:
        return f"/{self.serial}/sgchannels/{self.sg_channels[qubit - 1]}"

    def _synthesizer_path(self, qubit: int) -> str:
        synthesizer = int(self.connection.getInt(f"{self._sg(qubit)}/synthesizer"))
        return f"/{self.serial}/synthesizers/{synthesizer}/centerfreq"

    # ---- waveforms -------------------------------------------------------------------------
    def readout_intermediate_frequencies(self, center_Hz: float | None = None) -> tuple[float, float]:
        """Readout IFs ``f_readout - centre`` of qubit 1 and 2, Hz (validated); ``center_Hz`` is the
        QA centre as set (default: as requested)."""
        center = self.readout_center_frequency() if center_Hz is None else float(center_Hz)
        return tuple(
            self._checked_if(f"qubit{j}_readout_frequency", self.parameters[f"qubit{j}_readout_frequency"]() - center)
            for j in (1, 2)
        )  # type: ignore[return-value]

    def drive_intermediate_frequencies(self, centers_Hz: Sequence[float] | None = None) -> tuple[float, float]:
        """Drive IFs ``f_qubit - centre`` of qubit 1 and 2, Hz (validated); ``centers_Hz`` are the
        centres of the two SG channels' synthesisers as set (default: as requested)."""
        centers = (self.drive_center_frequency(),) * 2 if centers_Hz is None else tuple(centers_Hz)
        return tuple(
            self._checked_if(f"qubit{j}_frequency", self.parameters[f"qubit{j}_frequency"]() - centers[j - 1])
            for j in (1, 2)
        )  # type: ignore[return-value]

    @staticmethod
    def _checked_if(name: str, frequency: float) -> float:
        if not abs(frequency) <= MAX_INTERMEDIATE_FREQUENCY:
            raise InputError(
                f"{name} is {frequency / 1e6:.1f} MHz from its centre frequency; allowed range "
                f"[-{MAX_INTERMEDIATE_FREQUENCY / 1e6:.0f}, {MAX_INTERMEDIATE_FREQUENCY / 1e6:.0f}] MHz"
            )
        return float(frequency)

    def readout_waveforms(self, center_Hz: float | None = None) -> dict[int, np.ndarray]:
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
            for slot, f_if in enumerate(self.readout_intermediate_frequencies(center_Hz))
        }

    def integration_weights(self, center_Hz: float | None = None) -> dict[int, np.ndarray]:
        """Matched, rotated integration weights per integrator (0: qubit 1, 1: qubit 2)."""
        n = _samples(self.integration_length(), granularity=4, minimum=4)
        t = np.arange(n) / SAMPLING_RATE
        rotations = (self.qubit1_iq_rotation(), self.qubit2_iq_rotation())
        return {
            slot: np.exp(-2j * np.pi * f_if * t - 1j * rotations[slot])
            for slot, f_if in enumerate(self.readout_intermediate_frequencies(center_Hz))
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
        ``(comment, play statement)`` in order, after each of ``shots`` triggers an oscillator
        phase reset and the statement."""
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
                # both SG programs restart their oscillator on the same trigger: a common drive frame
                lines.append(f"repeat(SHOTS) {{ waitDigTrigger(1); resetOscPhase(); {play} }}")
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


    # ---- frequencies as set ----------------------------------------------------------------
    def set_center_frequencies(self) -> tuple[float, tuple[float, float]]:
        """Write the QA and SG centre frequencies, read them back; ``(qa_centre, (sg1, sg2))`` in Hz
        as set (the IFs are computed from these)."""
        daq = self.connection
        qa_path = f"{self._qa}/centerfreq"
        sg_paths = tuple(self._synthesizer_path(qubit) for qubit in (1, 2))
        daq.set([(qa_path, float(self.readout_center_frequency()))]
                + [(path, float(self.drive_center_frequency())) for path in dict.fromkeys(sg_paths)])
        daq.sync()
        readout_center = float(daq.getDouble(qa_path))
        drive_centers = (float(daq.getDouble(sg_paths[0])), float(daq.getDouble(sg_paths[1])))
        for label, requested, as_set in (("readout_center_frequency", self.readout_center_frequency(), [readout_center]),
                                         ("drive_center_frequency", self.drive_center_frequency(), drive_centers)):
            if any(abs(value - requested) > 1.0 for value in as_set):
                self.log.warning("%s: %s requested %.6g Hz, the device set %s Hz; IFs follow the device",
                                 self.name, label, requested, as_set)
        self.centers_as_set = (readout_center, drive_centers)
        return self.centers_as_set

    # ---- node settings ---------------------------------------------------------------------
    def configuration_settings(
        self,
        result_length: int,
        *,
        result_source: str = "result_of_discrimination",
        readout_center_Hz: float | None = None,
        drive_centers_Hz: Sequence[float] | None = None,
    ) -> list[tuple[str, Any]]:
        """All static node settings of an acquisition with ``result_length`` shots per qubit
        (centre frequencies as set; default as requested)."""
        serial, qa = self.serial, self.qa_channel
        settings: list[tuple[str, Any]] = [
            (f"{self._qa}/input/range", float(self.qa_input_range())),
            (f"{self._qa}/output/range", float(self.qa_output_range())),
            (f"{self._qa}/mode", "readout"),
            (f"{self._qa}/input/on", 1),
            (f"{self._qa}/output/on", 1),
            (f"{self._qa}/generator/auxtriggers/0/channel", self.qa_trigger),
            (f"{self._qa}/generator/delay", 0.0),
        ]
        settings += [(f"{self._qa}/generator/waveforms/{slot}/wave", wave)
                     for slot, wave in self.readout_waveforms(readout_center_Hz).items()]
        settings += shfqa_settings.get_configure_weighted_integration_settings(
            serial, qa, weights=self.integration_weights(readout_center_Hz),
            integration_delay=self.integration_delay(),
        )
        settings += [
            (f"{self._qa}/readout/discriminators/0/threshold", float(self.qubit1_threshold())),
            (f"{self._qa}/readout/discriminators/1/threshold", float(self.qubit2_threshold())),
        ]
        settings += shfqa_settings.get_result_logger_for_readout_settings(
            serial, qa, result_source=result_source, result_length=int(result_length),
            num_averages=1, averaging_mode=0,
        )
        for qubit, f_if in zip((1, 2), self.drive_intermediate_frequencies(drive_centers_Hz)):
            channel = self.sg_channels[qubit - 1]
            sg = self._sg(qubit)
            settings += [
                (f"{sg}/output/range", float(self.sg_output_range())),
                (f"{sg}/output/rflfpath", 1),
                (f"{sg}/output/on", 1),
            ]
            settings += shfsg_settings.get_pulse_modulation_settings(
                serial, channel, enable=1, osc_index=0, osc_frequency=f_if, global_amp=1.0
            )
            settings += [
                (f"{sg}/awg/auxtriggers/0/channel", self.sg_trigger),
                (f"{sg}/awg/auxtriggers/0/slope", "rising_edge"),
            ]
        settings += [
            (f"/{serial}/system/internaltrigger/repetitions", int(result_length)),
            (f"/{serial}/system/internaltrigger/holdoff", float(self.repetition_time())),
        ]
        return settings

    # ---- timing ----------------------------------------------------------------------------
    def expected_duration(self, triggers: int) -> float:
        """Expected duration of an acquisition of ``triggers`` shots, s."""
        return int(triggers) * float(self.repetition_time())

    def acquisition_timeout_for(self, triggers: int) -> float:
        """How long the result logger of ``triggers`` shots is waited on, s."""
        return float(self.acquisition_timeout_factor()) * self.expected_duration(triggers) + float(
            self.acquisition_timeout_margin()
        )

    # ---- acquisition -----------------------------------------------------------------------
    def _acquire(self, settings: tuple[str, ...], shots: int) -> np.ndarray:
        return self._acquire_blocks(settings, shots, self.sequencer_programs)

    def _acquire_prepared(self, states: tuple[str, ...], shots: int) -> np.ndarray:
        return self._acquire_blocks(states, shots, self.prepared_state_programs)

    def _chunks(self, blocks: tuple[str, ...], shots: int) -> list[tuple[str, ...]]:
        if shots > MAX_RESULT_LENGTH:
            raise InputError(f"shots={shots} is outside the allowed range [1, {MAX_RESULT_LENGTH}] for the SHFQC")
        per_chunk = max(1, MAX_RESULT_LENGTH // shots)
        return [blocks[start:start + per_chunk] for start in range(0, len(blocks), per_chunk)]

    def _acquire_blocks(
        self, blocks: tuple[str, ...], shots: int, programs: Callable[[tuple[str, ...], int], dict[str, str]]
    ) -> np.ndarray:
        """Counts ``(len(blocks), 4)``: ``programs(chunk, shots)`` run in chunks that fit the
        result logger."""
        counts = []
        for chunk in self._chunks(blocks, shots):
            bits = np.rint(np.real(self._run_chunk(programs(chunk, shots), len(chunk) * shots))).astype(np.int64)
            if np.any((bits < 0) | (bits > 1)):
                raise RuntimeError(f"{self.name}: the result logger holds states other than 0 and 1")
            outcome = (2 * bits[0] + bits[1]).reshape(len(chunk), shots)
            counts.append(np.stack([np.bincount(row, minlength=4) for row in outcome]).astype(np.int64))
        return np.concatenate(counts, axis=0)

    def measure_prepared_integrated(self, states: Sequence[str] = BASIS_STATES, shots: int = 2000) -> xr.DataArray:
        """Integrated (complex, ``result_of_integration``) single shots of prepared basis states.

        Same preparations as :meth:`measure_prepared`; returns a complex DataArray with dims
        ``("prepared", "shot", "qubit")`` (qubit 1, 2) in the units the thresholds use, as seen
        through the current ``qubitN_iq_rotation``.
        """
        states = validate_basis_states(states)
        shots = validate_shots(shots, self.max_shots)
        parts = []
        for chunk in self._chunks(states, shots):
            results = self._run_chunk(self.prepared_state_programs(chunk, shots), len(chunk) * shots,
                                      result_source="result_of_integration")
            parts.append(np.asarray(results, dtype=complex).reshape(2, len(chunk), shots))
        values = np.concatenate(parts, axis=1).transpose(1, 2, 0)
        return xr.DataArray(values, dims=("prepared", "shot", "qubit"),
                            coords={"prepared": list(states), "qubit": [1, 2]}, name="integrated",
                            attrs={"shots": shots, "instrument": self.name})

    def calibrate_iq(self, shots: int = 2000, apply: bool = True) -> dict[str, float]:
        """IQ rotation and threshold of both qubits from ``|gg>`` and ``|ee>`` preparations.

        Returns ``{"qubit1_iq_rotation": ..., "qubit1_threshold": ..., "qubit2_...": ...}`` and, with
        ``apply``, sets those parameters (see :func:`iq_rotation_and_threshold`).
        """
        integrated = self.measure_prepared_integrated(("00", "11"), shots)
        result: dict[str, float] = {}
        for qubit in (1, 2):
            rotation, threshold = iq_rotation_and_threshold(
                integrated.sel(prepared="00", qubit=qubit).values,
                integrated.sel(prepared="11", qubit=qubit).values,
                float(self.parameters[f"qubit{qubit}_iq_rotation"]()),
            )
            result[f"qubit{qubit}_iq_rotation"], result[f"qubit{qubit}_threshold"] = rotation, threshold
        if apply:
            for name, value in result.items():
                self.parameters[name](value)
        return result

    def _run_chunk(self, programs: dict[str, str], n: int, result_source: str = "result_of_discrimination") -> np.ndarray:
        """Run one acquisition of ``n`` triggers; the two result vectors ``(2, n)``. The device
        is put back to idle afterwards, whatever happened."""
        elves = self.compile_programs(programs)
        self.readout_intermediate_frequencies()  # everything requested is valid before any write
        self.drive_intermediate_frequencies()
        timeout = self.acquisition_timeout_for(n)
        failed = True
        try:
            readout_center, drive_centers = self.set_center_frequencies()
            configuration = self.configuration_settings(
                n, result_source=result_source, readout_center_Hz=readout_center, drive_centers_Hz=drive_centers
            )
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
                self._wait_ready(path)
            daq.syncSetInt(f"{self._qa}/readout/result/enable", 1)
            daq.setInt(f"{self._qa}/generator/single", 1)
            daq.syncSetInt(f"{self._qa}/generator/enable", 1)
            for qubit in (1, 2):
                daq.setInt(f"{self._sg(qubit)}/awg/single", 1)
                daq.syncSetInt(f"{self._sg(qubit)}/awg/enable", 1)
            daq.syncSetInt(f"/{self.serial}/system/internaltrigger/enable", 1)
            self._wait_for_results(n, timeout)
            self._check_result_logger(n)
            results = np.stack([self._read_results(slot, n) for slot in (0, 1)])
            failed = False
            return results
        finally:
            try:
                self.reset_to_idle()
            except Exception:
                if not failed:
                    raise
                self.log.exception("%s: could not put the device to idle after a failed acquisition", self.name)

    def _wait_ready(self, path: str) -> None:
        """Poll ``path`` until it reads 1 (the sequencer accepted its ELF), ``upload_timeout`` at most."""
        timeout = float(self.upload_timeout())
        start = self.clock.now()
        while self.connection.getInt(path) != 1:
            if self.clock.now() - start >= timeout:
                raise TimeoutError(f"{self.name}: the sequencer at {path} did not report ready within {timeout} s "
                                   "of its program upload")
            self.clock.sleep(0.01)

    def _wait_for_results(self, n: int, timeout: float) -> None:
        path = f"{self._qa}/readout/result/enable"
        poll = min(0.1, max(1e-3, self.expected_duration(n) / 1000))
        start = self.clock.now()
        while self.connection.getInt(path) != 0:
            if self.clock.now() - start > timeout:
                raise TimeoutError(
                    f"{self.name}: the result logger did not finish {n} results within {timeout:.4g} s (expected "
                    f"{self.expected_duration(n):.4g} s: {n} triggers x repetition_time {self.repetition_time()} s; "
                    "missing triggers?)"
                )
            self.clock.sleep(poll)

    def _check_result_logger(self, n: int) -> None:
        result = f"{self._qa}/readout/result"
        errors = int(self.connection.getInt(f"{result}/errors"))
        if errors:
            raise RuntimeError(
                f"{self.name}: the result logger reports {errors} hold-off errors (triggers came faster than the "
                f"readout could run): repetition_time {self.repetition_time()} s is too short"
            )
        acquired = int(self.connection.getInt(f"{result}/acquired"))
        if acquired != n:
            raise RuntimeError(f"{self.name}: the result logger acquired {acquired} results, expected {n}")

    def _read_results(self, slot: int, n: int) -> np.ndarray:
        path = f"{self._qa}/readout/result/data/{slot}/wave"
        data = self.connection.get(path, flat=True, settingsonly=False)
        entry = data[path] if path in data else next(iter(data.values()))
        vector = np.asarray(entry[0]["vector"] if isinstance(entry, list) else entry["vector"])
        if vector.shape != (n,):
            raise RuntimeError(f"{self.name}: {path} returned {vector.shape[0]} results, expected {n}")
        return vector

    def close(self) -> None:
        """Put the device to idle and forget the session. The device stays connected to the
        data server (disconnecting it would cut every other client of that server)."""
        if self._connected:
            try:
                self.reset_to_idle()
            except Exception:  # never block closing
                self.log.warning("could not put %s to idle while closing", self.serial)
        self._connected = False
        self._session = None
        super().close()
