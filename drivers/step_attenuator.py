"""Weinschel 8320 step attenuator with correct float handling.

QCoDeS' ``Weinschel8320`` formats the attenuation with ``{:0=2d}``, which fails for the floats
its own validator accepts (``10.0``), and its bundled sim cannot parse the commands. This subclass
keeps the command set (``ATTN ALL <dB>``, ``ATTN? 1``) but validates any real number that is a
whole multiple of the step (2 dB, 0..60 dB), sends it as an integer and ships a working sim,
``thermalink.drivers.sims:Weinschel8320.yaml``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from qcodes import validators as vals
from qcodes.instrument_drivers.weinschel import Weinschel8320 as _QcodesWeinschel8320
from qcodes.parameters import Parameter

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from qcodes.instrument import VisaInstrumentKWArgs


class SteppedNumbers(vals.Validator[float]):
    """Real numbers in ``[min_value, max_value]`` that are whole multiples of ``step``."""

    def __init__(self, min_value: float, max_value: float, step: float) -> None:
        self._min, self._max, self._step = float(min_value), float(max_value), float(step)
        self._valid_values = (self._min, self._max)
        self.is_numeric = True

    def validate(self, value: Any, context: str = "") -> None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{value!r} is not a number; {context}") from None
        steps = number / self._step
        if (
            math.isnan(number)
            or not self._min <= number <= self._max
            or abs(steps - round(steps)) > 1e-9
        ):
            raise ValueError(
                f"{value!r} is invalid: must be a multiple of {self._step:g} between "
                f"{self._min:g} and {self._max:g} inclusive; {context}"
            )

    def __repr__(self) -> str:
        return f"<SteppedNumbers {self._min:g}..{self._max:g} step {self._step:g}>"


class Weinschel8320(_QcodesWeinschel8320):
    """Weinschel 8320 step attenuator; ``attenuation`` in dB (0..60 in 2 dB steps)."""

    #: Attenuation range and step of the 8320, dB.
    ATTENUATION_RANGE_DB: tuple[float, float] = (0.0, 60.0)
    ATTENUATION_STEP_DB: float = 2.0

    def __init__(self, name: str, address: str, **kwargs: Unpack[VisaInstrumentKWArgs]) -> None:
        super().__init__(name, address, **kwargs)
        # Replace the parent's parameter (same commands, working number handling).
        self.remove_parameter("attenuation")
        self.attenuation: Parameter = self.add_parameter(
            "attenuation",
            label="Attenuation",
            unit="dB",
            get_cmd="ATTN? 1",
            set_cmd="ATTN ALL {:02d}",
            set_parser=lambda value: int(round(float(value))),
            get_parser=float,
            vals=SteppedNumbers(*self.ATTENUATION_RANGE_DB, self.ATTENUATION_STEP_DB),
            docstring="Attenuation of all sections, dB (0..60, 2 dB steps).",
        )
        """Attenuation of all sections, dB (0..60, 2 dB steps)."""
