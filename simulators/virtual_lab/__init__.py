"""Virtual instruments: the drivers' interfaces backed by pyvisa-sim and the digital twin.

* :mod:`.source` -- ``VirtualFilteredThermalSource`` (the real source driver on a virtual clock).
* :mod:`.lakeshore` -- ``VirtualLakeshoreModel336``/``372`` (QCoDeS' drivers on pyvisa-sim, with a
  thermal model of the hot load and the mixing chamber).
* :mod:`.readout` -- ``VirtualTwoQubitReadout`` (counts drawn from the twin's state at the measurement:
  the steady state through the readout protocol).
* :mod:`.spectrum_analyzer` -- ``VirtualKeysightN9030B`` (the filtered noise spectrum).
* :mod:`.twin_cache` -- the twin at a lab operating point (``LabLink``) and its measured state, cached.
* :mod:`.clock` -- the virtual clock the instruments wait on.

This layer may import the drivers and the physics core; nothing below it imports it.
"""
