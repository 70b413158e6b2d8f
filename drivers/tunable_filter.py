"""SCPI driver of a generic tunable band-pass filter controller (centre, bandwidth, output).

No QCoDeS driver exists for the filter that shapes the thermal noise, so thermalink speaks a small,
generic SCPI dialect that most tunable YIG/cavity filter controllers (or a thin firmware shim in
front of them) provide:

=====================  ==================================  ======
command                meaning                             unit
=====================  ==================================  ======
``FREQ:CENT <f>``      centre frequency                    Hz
``BWID <f>``           bandwidth (FWHM, ``kappa/2pi``)     Hz
``OUTP <0|1>``         output switch (off: cold termination)
``SYST:ERR?``          oldest entry of the error queue     ``<code>,"<message>"``
=====================  ==================================  ======

Its pyvisa-sim twin is ``thermalink.drivers.sims:TunableFilter.yaml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qcodes import validators as vals
from qcodes.instrument import VisaInstrument
from qcodes.parameters import Parameter, create_on_off_val_mapping

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from qcodes.instrument import VisaInstrumentKWArgs


class TunableFilterError(RuntimeError):
    """The filter controller reported an entry in its error queue."""


class GenericTunableFilter(VisaInstrument):
    """Tunable band-pass filter controller speaking the generic SCPI dialect above.

    Parameters: ``center_frequency`` (Hz), ``bandwidth`` (Hz, FWHM), ``output`` (bool, accepts
    ``"on"``/``"off"``). The validators carry the hardware ranges (class attributes, override in
    a subclass for another model); out-of-range values raise ``ValueError`` before any command is
    sent.
    """

    default_terminator = "\n"
    #: Tuning range of the centre frequency, Hz.
    CENTER_FREQUENCY_RANGE_HZ: tuple[float, float] = (4e9, 8e9)
    #: Range of the bandwidth (FWHM), Hz.
    BANDWIDTH_RANGE_HZ: tuple[float, float] = (1e3, 100e6)

    def __init__(self, name: str, address: str, **kwargs: Unpack[VisaInstrumentKWArgs]) -> None:
        super().__init__(name, address, **kwargs)

        self.center_frequency: Parameter = self.add_parameter(
            "center_frequency",
            label="Filter centre frequency",
            unit="Hz",
            get_cmd="FREQ:CENT?",
            set_cmd="FREQ:CENT {:.3f}",
            get_parser=float,
            vals=vals.Numbers(*self.CENTER_FREQUENCY_RANGE_HZ),
            docstring="Centre frequency of the pass band, Hz.",
        )
        """Centre frequency of the pass band, Hz."""

        self.bandwidth: Parameter = self.add_parameter(
            "bandwidth",
            label="Filter bandwidth",
            unit="Hz",
            get_cmd="BWID?",
            set_cmd="BWID {:.3f}",
            get_parser=float,
            vals=vals.Numbers(*self.BANDWIDTH_RANGE_HZ),
            docstring="Full width at half maximum of the pass band (kappa/2pi), Hz.",
        )
        """Full width at half maximum of the pass band (kappa/2pi), Hz."""

        self.output: Parameter = self.add_parameter(
            "output",
            label="Filter output",
            get_cmd="OUTP?",
            set_cmd="OUTP {}",
            val_mapping=create_on_off_val_mapping(on_val="1", off_val="0"),
            docstring="Output switch: True passes the filtered noise on, False terminates it cold.",
        )
        """Output switch: True passes the filtered noise on, False terminates it cold."""

        self.connect_message()

    def errors(self, max_entries: int = 32) -> list[str]:
        """Read and clear the error queue; the list of entries, oldest first (empty if none)."""
        entries: list[str] = []
        for _ in range(max_entries):
            entry = self.ask("SYST:ERR?").strip()
            code = entry.split(",", 1)[0].strip()
            if code in ("0", "+0"):
                break
            entries.append(entry)
        return entries

    def check_errors(self) -> None:
        """Raise :class:`TunableFilterError` listing the queue if the controller reported errors."""
        entries = self.errors()
        if entries:
            raise TunableFilterError(f"{self.name} reported errors: {entries}")
