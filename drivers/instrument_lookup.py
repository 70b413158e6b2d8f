"""Find a station instrument by name at the moment it is needed.

Composite and virtual instruments refer to their parts by station name (``"tunable_filter"``,
``"source"``), so that a reloaded instrument is picked up: the open instance of that name, else
the instrument loaded from the default station's configuration.
"""

from __future__ import annotations

from qcodes.instrument import Instrument
from qcodes.station import Station


def resolve_instrument(ref: str | Instrument, owner: str, role: str) -> Instrument:
    """``ref`` itself if it is an instrument; else the open or default-station instrument of that name."""
    if not isinstance(ref, str):
        return ref
    try:
        return Instrument.find_instrument(ref)
    except KeyError:
        pass
    station = Station.default
    if station is not None and ref in (station.config or {}).get("instruments", {}):
        return station.load_instrument(ref)
    raise KeyError(f"{owner}: the {role} instrument {ref!r} is neither open nor in the default station's configuration")
