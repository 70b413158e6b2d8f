"""``FilteredThermalSource``: the hot load, the step attenuator and the tunable filter as one source.

The meta-instrument a user (and the experiment runner) touches. It does not talk to hardware
itself: it drives three station instruments, found by name (resolved at first use, loaded from
the current :class:`qcodes.Station` if needed) or passed in as objects:

* ``hot_load``: a LakeShore 336 (``LakeshoreModel336``) whose sensor and heater output control
  the heated 50-ohm termination;
* ``attenuator``: the step attenuator (:class:`thermalink.drivers.step_attenuator.Weinschel8320`);
* ``tunable_filter``: the band-pass filter (:class:`~thermalink.drivers.tunable_filter.GenericTunableFilter`);
* ``fridge``: the LakeShore 372 that reads the mixing-chamber temperature (interlock).

Safety lives here, in code, and is re-checked inside every set (a station's ``limits:`` replaces
a parameter's validator, so validators alone are not enough): the hot load is never asked above
``max_temperature`` (itself capped by :attr:`FilteredThermalSource.TEMPERATURE_LIMIT_K`), it is
ramped at ``ramp_rate`` at most, and heating is refused while the mixing chamber is warmer than
``mixing_chamber_limit``. Any failure during a ramp puts the source in its safe state (filter
output off, heater off) before the error propagates. Between ramps, :meth:`FilteredThermalSource.check_hold`
is the watchdog a caller runs while the load is held warm (the experiment runs it during every
settle wait and after every measurement).

The interlock trusts only a valid thermometer: the mixing-chamber reading must come with sensor
status OK, lie in ``MIXING_CHAMBER_PLAUSIBLE_K``, and be fresh (the 372 channel enabled, so it is
being measured rather than repeating its last value); the hot-load reading must have status OK
and lie between 0 K and the LakeShore's own limit. Anything else counts as unreadable.

Safety also lives on the LakeShore 336 itself (:meth:`FilteredThermalSource.configure_hot_load`,
at construction when the hot load is open and before every ramp), so a dead host process cannot
leave the heater running unbounded: the sensor's temperature limit ``TLIMIT`` at
``max_temperature + tlimit_margin`` (the 336 shuts all outputs off above it), the heater
resistance and a user maximum current ``heater_max_current``, power-up enable off (a power cycle
leaves the output off), and per ramp the lowest heater range that reaches the target
(``heater_range="auto"`` with ``heater_range_limits``). Every :class:`InterlockError` says whether
the safe state was confirmed (``error.safe``).

``occupation`` is the noise budget of physics.md ("From the lab to the model"): the Bose-Einstein
occupation of the hot load at the filter centre, passed through the line stages of
:meth:`FilteredThermalSource.lab_stages` (the step attenuator at ``attenuator_temperature``, then
the fixed ``line_stages``). With the output off the filter sees a cold termination and
``occupation`` is 0.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qcodes import validators as vals
from qcodes.instrument import Instrument
from qcodes.parameters import Parameter, create_on_off_val_mapping

from thermalink.simulators.errors import InputError, SafetyError
from thermalink.simulators.lab_units import LineStage, source_occupation

from .instrument_lookup import resolve_instrument
from .lab_clock import Clock, WallClock

log = logging.getLogger(__name__)


class InterlockError(SafetyError):
    """A safety condition forbids the requested action. ``safe`` is ``None`` if nothing was
    changed (nothing to undo), ``True`` if the safe state (heater off, filter output off) was
    confirmed by reading it back, ``False`` if it could not be confirmed: go and check the
    hardware."""

    def __init__(self, message: str, safe: bool | None = None) -> None:
        if safe is True:
            message += " [safe state confirmed: heater range off, filter output off]"
        elif safe is False:
            message += " [SAFE STATE NOT CONFIRMED: check the heater and the filter output by hand]"
        super().__init__(message)
        self.safe = safe


class SettleTimeoutError(SafetyError, TimeoutError):
    """The hot load did not settle at its target in time (the source is then put in its safe state)."""


def parse_line_stages(stages: Iterable[Any]) -> tuple[LineStage, ...]:
    """Line stages from ``LineStage`` objects, ``(dB, K)`` pairs or ``{attenuation_dB, temperature_K}``
    mappings (the forms a station YAML can hold)."""
    parsed = []
    for stage in stages:
        if isinstance(stage, LineStage):
            parsed.append(stage)
        elif isinstance(stage, Mapping):
            parsed.append(LineStage(float(stage["attenuation_dB"]), float(stage["temperature_K"])))
        else:
            attenuation_dB, temperature_K = stage
            parsed.append(LineStage(float(attenuation_dB), float(temperature_K)))
    for stage in parsed:
        if not (stage.attenuation_dB >= 0 and stage.temperature_K >= 0):
            raise InputError(
                f"line stage {stage} is out of range: attenuation_dB >= 0 and temperature_K >= 0"
            )
    return tuple(parsed)


class PartValidator(vals.Validator[Any]):
    """Validates with the validator of a part's parameter, resolved at validation time, so a plan
    can be checked against the hardware ranges before anything moves."""

    is_numeric = True

    def __init__(self, source: FilteredThermalSource, role: str, parameter: str) -> None:
        self._source, self._role, self._parameter = source, role, parameter
        self._valid_values = ()

    def validate(self, value: Any, context: str = "") -> None:
        self._source.part(self._role).parameters[self._parameter].validate(value)

    def __repr__(self) -> str:
        return f"<validated by {self._role}.{self._parameter}>"


class FilteredThermalSource(Instrument):
    """Filtered thermal noise source: hot load -> step attenuator -> tunable band-pass filter.

    Parameters (units): ``temperature`` (K, hot-load temperature; setting it ramps and blocks
    until within ``temperature_tolerance``; 0 switches the heater off), ``attenuation`` (dB),
    ``center_frequency`` (Hz), ``bandwidth`` (Hz, FWHM ``kappa/2pi``), ``output`` (bool/on-off),
    ``occupation`` (read-only, ``n_source`` at the filter's hot input), ``mixing_chamber_temperature``
    (read-only, K), and the settings ``max_temperature`` (K), ``ramp_rate`` (K/min),
    ``ramp_step_time`` (s), ``temperature_tolerance`` (K), ``settle_timeout`` (s),
    ``mixing_chamber_limit`` (K), ``attenuator_temperature`` (K), ``in_coupling`` (k_in/k of the
    filter).

    Args:
        name: instrument name (``"source"`` in the bundled stations).
        hot_load, attenuator, tunable_filter, fridge: the parts, as instruments or station names.
        hot_load_sensor: sensor channel of the hot load on the LakeShore 336 (``"A"``).
        heater_output: name of the 336 output driving the hot-load heater (``"output_1"``).
        heater_range: heater range used while heating: ``"auto"`` (the lowest range whose limit in
            ``heater_range_limits`` reaches the target), or ``"low"``, ``"medium"``, ``"high"``.
        heater_range_limits: highest target temperature, K, the ``low`` and the ``medium`` range
            reach with this load (measure them at bring-up); above both, ``high``.
        heater_resistance: heater resistance setting of the 336 output (``"25ohm"``, ``"50ohm"``).
        heater_max_current: user maximum heater current, A (written to the 336).
        tlimit_margin: the 336's sensor temperature limit sits this far above ``max_temperature``, K.
        mixing_chamber_channel: LakeShore 372 channel of the mixing chamber (``"ch06"``).
        line_stages: fixed attenuation stages after the step attenuator, source -> filter, as
            ``(dB, K)`` pairs or mappings.
        clock: what the ramp waits on; the wall clock by default.
    """

    #: Hard limit of the hot-load temperature, K. ``max_temperature`` can only be set below it.
    TEMPERATURE_LIMIT_K: float = 60.0
    #: Hard limit of the ramp rate, K/min.
    RAMP_RATE_LIMIT_K_PER_MIN: float = 10.0
    #: Hard limit of the mixing-chamber interlock threshold, K.
    MIXING_CHAMBER_LIMIT_K: float = 0.2
    #: Readings of the mixing chamber outside this range are a broken thermometer, K.
    MIXING_CHAMBER_PLAUSIBLE_K: tuple[float, float] = (1e-3, 400.0)
    #: Largest heater current the 336's outputs 1 and 2 can source, A.
    HEATER_CURRENT_LIMIT_A: float = 1.732

    def __init__(
        self,
        name: str,
        hot_load: str | Instrument = "hot_load",
        attenuator: str | Instrument = "attenuator",
        tunable_filter: str | Instrument = "tunable_filter",
        fridge: str | Instrument = "fridge",
        *,
        hot_load_sensor: str = "A",
        heater_output: str = "output_1",
        heater_range: str = "auto",
        heater_range_limits: Sequence[float] = (10.0, 30.0),
        heater_resistance: str = "50ohm",
        heater_max_current: float = 0.1,
        tlimit_margin: float = 5.0,
        mixing_chamber_channel: str = "ch06",
        max_temperature: float = 40.0,
        ramp_rate: float = 1.0,
        ramp_step_time: float = 10.0,
        temperature_tolerance: float = 0.05,
        settle_timeout: float = 1800.0,
        mixing_chamber_limit: float = 0.05,
        attenuator_temperature: float = 4.0,
        line_stages: Iterable[Any] = (),
        in_coupling: float = 0.5,
        clock: Clock | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self._parts: dict[str, str | Instrument] = {
            "hot_load": hot_load,
            "attenuator": attenuator,
            "tunable_filter": tunable_filter,
            "fridge": fridge,
        }
        self._hot_load_sensor = hot_load_sensor
        self._heater_output = heater_output
        if heater_range not in ("auto", "low", "medium", "high"):
            raise InputError(f"heater_range={heater_range!r} is not one of 'auto', 'low', 'medium', 'high'")
        self._heater_range = heater_range
        limits = tuple(float(limit) for limit in heater_range_limits)
        if len(limits) != 2 or not 0 < limits[0] <= limits[1]:
            raise InputError(
                f"heater_range_limits={heater_range_limits!r} must be two temperatures 0 < low <= medium, K"
            )
        self._heater_range_limits = limits
        if heater_resistance not in ("25ohm", "50ohm"):
            raise InputError(f"heater_resistance={heater_resistance!r} is not one of '25ohm', '50ohm'")
        self._heater_resistance = heater_resistance
        if not 0 < float(heater_max_current) <= self.HEATER_CURRENT_LIMIT_A:
            raise InputError(
                f"heater_max_current={heater_max_current!r} A is outside the allowed range "
                f"(0, {self.HEATER_CURRENT_LIMIT_A}] A"
            )
        self._heater_max_current = float(heater_max_current)
        if not 0 < float(tlimit_margin) <= 20.0:
            raise InputError(f"tlimit_margin={tlimit_margin!r} K is outside the allowed range (0, 20] K")
        self._tlimit_margin = float(tlimit_margin)
        self._mixing_chamber_channel = mixing_chamber_channel
        self._line_stages = parse_line_stages(line_stages)
        self.clock: Clock = clock if clock is not None else WallClock()

        # Settings (stored here, validated, with hard limits from class attributes).
        self.max_temperature: Parameter = self.add_parameter(
            "max_temperature",
            label="Maximum hot-load temperature",
            unit="K",
            set_cmd=self._set_max_temperature,
            get_cmd=None,
            vals=vals.Numbers(0.0, self.TEMPERATURE_LIMIT_K),
            docstring=f"Highest temperature the hot load may be asked for, K (<= {self.TEMPERATURE_LIMIT_K}).",
        )
        self.ramp_rate: Parameter = self.add_parameter(
            "ramp_rate",
            label="Hot-load ramp rate",
            unit="K/min",
            set_cmd=None,
            vals=vals.Numbers(1e-3, self.RAMP_RATE_LIMIT_K_PER_MIN),
            initial_value=ramp_rate,
            docstring="Largest rate at which the hot-load setpoint moves, K/min.",
        )
        self.ramp_step_time: Parameter = self.add_parameter(
            "ramp_step_time",
            label="Ramp step time",
            unit="s",
            set_cmd=None,
            vals=vals.Numbers(1e-3, 600.0),
            initial_value=ramp_step_time,
            docstring="Interval between setpoint steps and between settling checks, s.",
        )
        self.temperature_tolerance: Parameter = self.add_parameter(
            "temperature_tolerance",
            label="Temperature tolerance",
            unit="K",
            set_cmd=None,
            vals=vals.Numbers(1e-4, 10.0),
            initial_value=temperature_tolerance,
            docstring="A ramp ends once the hot load reads within this of the target, K.",
        )
        self.settle_timeout: Parameter = self.add_parameter(
            "settle_timeout",
            label="Settling timeout",
            unit="s",
            set_cmd=None,
            vals=vals.Numbers(0.0, 86400.0),
            initial_value=settle_timeout,
            docstring="Longest wait for the hot load to settle after the ramp, s.",
        )
        self.mixing_chamber_limit: Parameter = self.add_parameter(
            "mixing_chamber_limit",
            label="Mixing-chamber interlock",
            unit="K",
            set_cmd=None,
            vals=vals.Numbers(0.0, self.MIXING_CHAMBER_LIMIT_K),
            initial_value=mixing_chamber_limit,
            docstring="Heating is refused (and a ramp aborted) while the mixing chamber is warmer, K.",
        )
        self.attenuator_temperature: Parameter = self.add_parameter(
            "attenuator_temperature",
            label="Step-attenuator temperature",
            unit="K",
            set_cmd=None,
            vals=vals.Numbers(0.0, 400.0),
            initial_value=attenuator_temperature,
            docstring="Physical temperature of the step attenuator (its own thermal noise), K.",
        )
        self.in_coupling: Parameter = self.add_parameter(
            "in_coupling",
            label="Filter input coupling",
            unit="",
            set_cmd=None,
            vals=vals.Numbers(0.0, 1.0),
            initial_value=in_coupling,
            docstring="Fraction k_in/k of the filter linewidth due to its hot input port.",
        )

        # The source's own face.
        self.temperature: Parameter = self.add_parameter(
            "temperature",
            label="Hot-load temperature",
            unit="K",
            get_cmd=self._get_temperature,
            set_cmd=self._set_temperature,
            vals=vals.Numbers(0.0, self.TEMPERATURE_LIMIT_K),
            docstring="Hot-load temperature, K. Setting ramps at ramp_rate and blocks until within "
            "temperature_tolerance; 0 switches the heater off.",
        )
        self.max_temperature(max_temperature)
        if self._part_is_open("hot_load"):
            self.configure_hot_load()  # the instrument's own limits, as soon as it is there
        self.attenuation: Parameter = self.add_parameter(
            "attenuation",
            label="Source attenuation",
            unit="dB",
            get_cmd=lambda: self.part("attenuator").attenuation(),
            set_cmd=lambda value: self.part("attenuator").attenuation(value),
            vals=PartValidator(self, "attenuator", "attenuation"),
            docstring="Step attenuation between hot load and filter, dB (validated by the attenuator).",
        )
        self.center_frequency: Parameter = self.add_parameter(
            "center_frequency",
            label="Filter centre frequency",
            unit="Hz",
            get_cmd=lambda: self.part("tunable_filter").center_frequency(),
            set_cmd=lambda value: self.part("tunable_filter").center_frequency(value),
            vals=PartValidator(self, "tunable_filter", "center_frequency"),
            docstring="Centre of the filter pass band, Hz.",
        )
        self.bandwidth: Parameter = self.add_parameter(
            "bandwidth",
            label="Filter bandwidth",
            unit="Hz",
            get_cmd=lambda: self.part("tunable_filter").bandwidth(),
            set_cmd=lambda value: self.part("tunable_filter").bandwidth(value),
            vals=PartValidator(self, "tunable_filter", "bandwidth"),
            docstring="Filter FWHM kappa/2pi, Hz.",
        )
        self.output: Parameter = self.add_parameter(
            "output",
            label="Source output",
            get_cmd=lambda: bool(self.part("tunable_filter").output()),
            set_cmd=lambda value: self.part("tunable_filter").output(bool(value)),
            val_mapping=create_on_off_val_mapping(on_val=True, off_val=False),
            docstring="Filter output switch: on passes the filtered noise to the qubits.",
        )
        self.occupation: Parameter = self.add_parameter(
            "occupation",
            label="Source occupation",
            unit="",
            get_cmd=self._get_occupation,
            set_cmd=False,
            docstring="Thermal occupation n_source at the filter's hot input (0 with the output off).",
        )
        self.mixing_chamber_temperature: Parameter = self.add_parameter(
            "mixing_chamber_temperature",
            label="Mixing-chamber temperature",
            unit="K",
            get_cmd=self._get_mixing_chamber_temperature,
            set_cmd=False,
            docstring="Mixing-chamber temperature read from the fridge thermometry, K.",
        )

    # ---- parts -----------------------------------------------------------------------------
    def part(self, role: str) -> Instrument:
        """The instrument playing ``role`` (``hot_load``, ``attenuator``, ``tunable_filter``,
        ``fridge``), resolved by name at each use so a reloaded instrument is picked up."""
        if role not in self._parts:
            raise KeyError(f"role={role!r} is not one of {sorted(self._parts)}")
        return resolve_instrument(self._parts[role], self.name, role)

    def _part_is_open(self, role: str) -> bool:
        ref = self._parts[role]
        return not isinstance(ref, str) or Instrument.exist(ref)

    #: Parameters read through each part (skipped by snapshot updates while the part is not open,
    #: so snapshotting the source never opens instruments behind the station's back).
    _PART_PARAMETERS: dict[str, tuple[str, ...]] = {
        "hot_load": ("temperature", "occupation"),
        "attenuator": ("attenuation", "occupation"),
        "tunable_filter": ("center_frequency", "bandwidth", "output", "occupation"),
        "fridge": ("mixing_chamber_temperature",),
    }

    def snapshot_base(self, update: bool | None = False, params_to_skip_update: Sequence[str] | None = None) -> dict[str, Any]:
        skip = set(params_to_skip_update or ())
        for role, names in self._PART_PARAMETERS.items():
            if not self._part_is_open(role):
                skip.update(names)
        return super().snapshot_base(update=update, params_to_skip_update=sorted(skip))

    @property
    def heater(self) -> Any:
        """The LakeShore 336 output that heats the hot load."""
        return getattr(self.part("hot_load"), self._heater_output)

    # ---- noise budget ----------------------------------------------------------------------
    def lab_stages(self) -> list[LineStage]:
        """Line stages between hot load and filter, source first: the step attenuator at
        ``attenuator_temperature``, then the fixed ``line_stages``."""
        return [LineStage(float(self.attenuation()), float(self.attenuator_temperature())), *self._line_stages]

    def _get_occupation(self) -> float:
        return self.occupation_at(float(self.temperature()))

    def occupation_at(self, temperature_K: float) -> float:
        """Photons per mode at the filter input with the hot load at ``temperature_K`` (the
        current attenuation, centre and line stages; 0 with the output off)."""
        if not self.output():
            return 0.0
        return float(source_occupation(temperature_K, float(self.center_frequency()), self.lab_stages()))

    # ---- temperatures ----------------------------------------------------------------------
    def _get_temperature(self) -> float:
        channel = getattr(self.part("hot_load"), self._hot_load_sensor)
        return float(channel.temperature())

    def _get_mixing_chamber_temperature(self) -> float:
        channel = getattr(self.part("fridge"), self._mixing_chamber_channel)
        return float(channel.temperature())

    def _set_max_temperature(self, value: float) -> None:
        self.temperature.vals = vals.Numbers(0.0, float(value))

    def _check_target(self, target: float) -> float:
        # Re-checked here: a station's `limits:` may have replaced the validator.
        limit = float(self.max_temperature())
        target = float(target)
        if math.isnan(target) or not 0.0 <= target <= limit:
            raise InputError(
                f"{self.name}.temperature={target!r} K is outside the allowed range [0, {limit}] K "
                f"(max_temperature; hard limit {self.TEMPERATURE_LIMIT_K} K)"
            )
        return target

    def valid_mixing_chamber_temperature(self) -> float:
        """Mixing-chamber temperature, K, from a valid thermometer: status OK, plausible
        (``MIXING_CHAMBER_PLAUSIBLE_K``) and fresh (the channel enabled in the 372's scan).
        :class:`InterlockError` otherwise."""
        channel = getattr(self.part("fridge"), self._mixing_chamber_channel)
        enabled = getattr(channel, "enabled", None)
        if enabled is not None and not enabled():
            raise InterlockError(
                f"{self.name}: the mixing-chamber channel {self._mixing_chamber_channel} is disabled on the "
                "fridge thermometry, its reading is stale"
            )
        status = str(channel.sensor_status()) if hasattr(channel, "sensor_status") else "OK"
        if status != "OK":
            raise InterlockError(f"{self.name}: the mixing-chamber thermometer reports status {status!r}")
        mc = float(self.mixing_chamber_temperature())  # a fresh get, never the cache
        low, high = self.MIXING_CHAMBER_PLAUSIBLE_K
        if not low <= mc <= high:
            raise InterlockError(
                f"{self.name}: the mixing-chamber reading {mc!r} K is implausible (allowed range [{low}, {high}] K): "
                "broken thermometer?"
            )
        return mc

    def valid_hot_load_temperature(self) -> float:
        """Hot-load temperature, K, from a valid sensor: status OK and within (0, TLIMIT];
        :class:`InterlockError` otherwise."""
        channel = getattr(self.part("hot_load"), self._hot_load_sensor)
        status = str(channel.sensor_status()) if hasattr(channel, "sensor_status") else "OK"
        if status != "OK":
            raise InterlockError(f"{self.name}: the hot-load sensor {self._hot_load_sensor} reports status {status!r}")
        reading = float(channel.temperature())
        high = self.hot_load_tlimit()
        if not 0.0 < reading <= high:
            raise InterlockError(
                f"{self.name}: the hot-load reading {reading!r} K is implausible (allowed range (0, {high}] K)"
            )
        return reading

    def check_fridge_cold(self) -> float:
        """Mixing-chamber temperature, K, from a valid thermometer; raises :class:`InterlockError`
        above ``mixing_chamber_limit`` or if the thermometer is not valid."""
        try:
            mc = self.valid_mixing_chamber_temperature()
        except InterlockError as error:
            raise InterlockError(f"{error}; heating refused") from error
        limit = self.mixing_chamber_limit()
        if not mc <= limit:
            raise InterlockError(
                f"{self.name}: heating refused, mixing chamber at {mc:.4g} K is above its limit "
                f"{limit:.4g} K"
            )
        return mc

    def heater_on(self) -> bool:
        """Whether the hot-load heater output may be heating (a range on, or unreadable)."""
        try:
            return self.heater.output_range() != "off"
        except Exception:  # noqa: BLE001 - unknown counts as on: the watchdog then goes safe
            log.exception("%s: could not read the hot-load heater range; assuming it is on", self.name)
            return True

    def check_hold(self) -> float:
        """Watchdog while the hot load is held warm (called between ramps, e.g. at every point).

        With the heater on and the mixing chamber warmer than ``mixing_chamber_limit``, or not
        readable: safe state (filter output off, heater off), then :class:`InterlockError`. Returns
        the mixing-chamber temperature, K.
        """
        try:
            mc = self.valid_mixing_chamber_temperature()
        except Exception as error:
            if not self.heater_on():
                raise
            safe = self.safe_state()
            raise InterlockError(
                f"{self.name}: the hold watchdog could not read the mixing chamber validly ({error}) while the "
                "hot load was held warm; heater and filter output switched off", safe=safe
            ) from error
        limit = self.mixing_chamber_limit()
        if not mc <= limit and self.heater_on():
            safe = self.safe_state()
            raise InterlockError(
                f"{self.name}: mixing chamber at {mc:.4g} K rose above its limit {limit:.4g} K while "
                "the hot load was held warm; heater and filter output switched off", safe=safe
            )
        return mc

    def _set_temperature(self, target: float) -> None:
        target = self._check_target(target)
        if target == 0.0:
            self.heater_off()
            return
        try:
            self.configure_hot_load()
            current = self.valid_hot_load_temperature()
            if target > current:
                self.check_fridge_cold()  # refuse before anything moves
        except InterlockError as error:
            if not self.heater_on():
                raise  # nothing is heating: nothing changed
            # A warm load held by a closed loop: refusing the new target must not leave it heating.
            log.error("%s: new target %s K refused while the hot load is heated; going to the safe state",
                      self.name, target)
            raise InterlockError(str(error), safe=self.safe_state()) from error
        try:
            self._ramp(current, target)
        except InterlockError as error:
            log.error("%s: ramp to %s K interlocked; going to the safe state", self.name, target)
            raise InterlockError(str(error), safe=self.safe_state()) from error
        except BaseException:
            log.error("%s: ramp to %s K failed; going to the safe state", self.name, target)
            self.safe_state()
            raise

    def _ramp(self, start: float, target: float) -> None:
        heater = self.heater
        heater.setpoint(start)
        heater.output_group.set_parameters(
            {"mode": "closed_loop", "input_channel": self._hot_load_sensor, "powerup_enable": False}
        )
        heater.output_range(self.heater_range_for(target))
        step_time = float(self.ramp_step_time())
        step = float(self.ramp_rate()) / 60.0 * step_time
        n_steps = max(1, math.ceil(abs(target - start) / step))
        for k in range(1, n_steps + 1):
            setpoint = start + (target - start) * k / n_steps
            if setpoint > start:
                self.check_fridge_cold()
            heater.setpoint(setpoint)
            self.clock.sleep(step_time)
        tolerance = float(self.temperature_tolerance())
        deadline = self.clock.now() + float(self.settle_timeout())
        while True:
            reading = self.valid_hot_load_temperature()
            if abs(reading - target) <= tolerance:
                return
            if target > start:
                self.check_fridge_cold()
            if self.clock.now() >= deadline:
                raise SettleTimeoutError(
                    f"{self.name}: hot load at {reading:.4g} K did not settle within "
                    f"{tolerance} K of {target} K in {self.settle_timeout()} s"
                )
            self.clock.sleep(step_time)

    # ---- safety ----------------------------------------------------------------------------
    def hot_load_tlimit(self) -> float:
        """The temperature limit written to the 336's hot-load sensor, K."""
        return float(self.max_temperature()) + self._tlimit_margin

    def heater_range_for(self, target: float) -> str:
        """The heater range a ramp to ``target`` K uses: the lowest that reaches it (``"auto"``)."""
        if self._heater_range != "auto":
            return self._heater_range
        low, medium = self._heater_range_limits
        return "low" if target <= low else "medium" if target <= medium else "high"

    def configure_hot_load(self) -> None:
        """Write the safety settings onto the LakeShore 336 and read them back: sensor limit
        ``TLIMIT = max_temperature + tlimit_margin``, heater resistance, user maximum current,
        power-up enable off. :class:`InterlockError` if the instrument did not take them."""
        hot_load = self.part("hot_load")
        sensor = getattr(hot_load, self._hot_load_sensor)
        heater = self.heater
        tlimit = self.hot_load_tlimit()
        sensor.t_limit(tlimit)
        heater.heater_group.set_parameters({
            "output_type": "current",
            "output_heater_resistance": self._heater_resistance,
            "output_max_current": "user",
            "output_max_user_current": self._heater_max_current,
            "output_display": "power",
        })
        heater.powerup_enable(False)
        taken = (
            abs(float(sensor.t_limit()) - tlimit) < 1e-3
            and heater.output_heater_resistance() == self._heater_resistance
            and heater.output_max_current() == "user"
            and abs(float(heater.output_max_user_current()) - self._heater_max_current) < 1e-4
            and heater.powerup_enable() is False
        )
        if not taken:
            raise InterlockError(
                f"{self.name}: the hot-load LakeShore did not take its safety settings (TLIMIT {tlimit} K, "
                f"{self._heater_resistance}, user max current {self._heater_max_current} A, power-up enable off); "
                "heating refused"
            )

    def heater_off(self) -> None:
        """Switch the hot-load heater off (range off)."""
        self.heater.output_range("off")

    def safe_state(self) -> bool:
        """Filter output off and heater off. Never raises: failures are logged. True only if both
        were read back off."""
        ok = True
        try:
            self.part("tunable_filter").output(False)
            ok = self.part("tunable_filter").output() in (False, 0, "off", "OFF")
        except Exception:
            ok = False
            log.exception("%s: could not switch the filter output off", self.name)
        try:
            self.heater_off()
            ok = self.heater.output_range() == "off" and ok
        except Exception:
            ok = False
            log.exception("%s: could not switch the hot-load heater off", self.name)
        return ok

    def get_idn(self) -> dict[str, str | None]:
        return {"vendor": "thermalink", "model": type(self).__name__, "serial": None, "firmware": None}


class RoomTemperatureThermalSource(FilteredThermalSource):
    """A :class:`FilteredThermalSource` whose hot load sits outside the cryostat.

    The load is at room temperature when unheated (or heated above it) and reaches the filter
    through the line's attenuators at their stage temperatures (``line_stages``, source first;
    a step attenuator at room temperature is the first stage). Only the hard temperature limit
    differs: :attr:`TEMPERATURE_LIMIT_K` is 400 K. The mixing-chamber interlock stays on.
    """

    TEMPERATURE_LIMIT_K: float = 400.0
