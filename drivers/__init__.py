"""QCoDeS drivers for the thermal-link hardware and the meta-instruments a user touches.

* :mod:`.thermal_source` -- ``FilteredThermalSource`` (hot load + step attenuator + filter, with
  interlocks and the noise budget ``occupation``).
* :mod:`.two_qubit_readout` -- ``TwoQubitReadout``, the interface of real and virtual readouts
  (counts as ``("setting", "outcome")`` DataArrays).
* :mod:`.zi_readout` -- ``ZurichInstrumentsSHFQC``, the SHFQC+ readout.
* :mod:`.tunable_filter` -- ``GenericTunableFilter`` (SCPI tunable band-pass filter).
* :mod:`.step_attenuator` -- ``Weinschel8320`` with working float handling.
* :mod:`.spectrum_analyzer` -- ``KeysightN9030B`` with ASCII traces.
* :mod:`.lab_clock` -- the wall clock the real instruments wait on.

The pyvisa-sim YAMLs live in ``thermalink.drivers.sims`` (``"thermalink.drivers.sims:<Model>.yaml"``).
Modules are imported on demand (``zhinst`` is heavy).
"""
