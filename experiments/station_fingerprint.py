"""Which station a run was measured on, so a resumed run cannot silently mix two setups.

A station's fingerprint is the SHA-256 of its station YAML *as loaded* (the same ruamel loader
QCoDeS uses, then canonical JSON with sorted keys: comments, whitespace, quoting and key order do
not count) together with the content, as loaded, of every pyvisa-sim file the YAML names
(``pyvisa_sim_file: module:file``): in the virtual lab those define how the instruments answer.
**Scheme 2** (:data:`FINGERPRINT_SCHEME`, since issue 10) loads the pyvisa-sim files as pyvisa-sim
itself does (PyYAML's ``BaseLoader``: every scalar a string; libyaml's when present), ~20x faster
than ruamel's round trip (0.41 s of every station load); scheme 1, ruamel for those files too, is
what fingerprints stored without a ``scheme`` used, and a resume compares a stored fingerprint
in its own scheme.
Instruments, addresses, qubit and readout parameters, limits and seeds all live in the YAML.
Computing it reads files only; no instrument is opened.

Run metadata (JSON): :data:`STATION_KEY` holds the station a run started on (``path``,
``sha256``, ``scheme``; ``null`` for a station built in Python, not from a file); :data:`STATION_CHANGES_KEY` lists every later switch ``{"from_point", "stored",
"current"}`` (``stored`` is ``null`` for a run from before fingerprints). The station a run expects
on resume is the last ``current`` of that list, else the one it started on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from thermalink.simulators.errors import InputError

log = logging.getLogger(__name__)

STATION_KEY = "thermalink_station"
STATION_CHANGES_KEY = "thermalink_station_changes"
#: Where pyvisa-sim files without a ``module:`` prefix live (QCoDeS' own convention).
_DEFAULT_SIM_MODULE = "qcodes.instrument.sims"


@dataclass(frozen=True)
class StationFingerprint:
    """A station file's path (for messages only) and the SHA-256 of what it defines."""

    path: str
    sha256: str
    scheme: int = 1  # stored before schemes existed: 1

    def describe(self) -> str:
        return f"{self.path} (sha256 {self.sha256[:12]})"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "StationFingerprint":
        return cls(**json.loads(text))


class StationChangedError(InputError):
    """Resuming a run on a station other than the one it was measured on."""


#: How :func:`station_fingerprint` loads the pyvisa-sim files (module docstring).
FINGERPRINT_SCHEME = 2


def _load_yaml(path: Path):
    import ruamel.yaml

    return ruamel.yaml.YAML().load(path.read_text())


def _load_as_pyvisa_sim(path: Path):
    import yaml

    return yaml.load(path.read_text(), Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader))


def _canonical(data) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def _sim_files(config, scheme: int) -> dict[str, object]:
    """Content (as loaded in ``scheme``) of each pyvisa-sim file the station names; ``None`` if
    not found (loading the instrument will then fail and say so)."""
    load = _load_as_pyvisa_sim if scheme >= 2 else _load_yaml
    contents = {}
    for instrument in (config.get("instruments") or {}).values():
        reference = ((instrument or {}).get("init") or {}).get("pyvisa_sim_file")
        if not reference or reference in contents:
            continue
        module, _, name = reference.rpartition(":")
        try:
            handle = resources.files(module or _DEFAULT_SIM_MODULE) / name
            contents[reference] = load(Path(str(handle))) if handle.is_file() else None
        except (ModuleNotFoundError, OSError):
            contents[reference] = None
    return contents


def station_fingerprint(path: str | Path, scheme: int = FINGERPRINT_SCHEME) -> StationFingerprint:
    """Fingerprint of the station file at ``path`` (ValueError if it is missing or not YAML);
    ``scheme`` 1 for comparing with a fingerprint stored before schemes existed."""
    if scheme not in (1, 2):
        raise InputError(f"fingerprint scheme {scheme!r} is not one of 1, 2")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"station file {str(path)!r} does not exist")
    try:
        config = _load_yaml(path) or {}
    except Exception as error:  # noqa: BLE001 - ruamel raises many error types
        raise InputError(f"station file {str(path)!r} could not be read: {error}") from error
    defined = {"station": config, "pyvisa_sim_files": _sim_files(config, scheme)}
    # The absolute path, so that a resume from another working directory finds the same file.
    return StationFingerprint(str(path.resolve()), hashlib.sha256(_canonical(defined).encode()).hexdigest(), scheme)


def same_station(stored: StationFingerprint, current: StationFingerprint) -> bool:
    """Whether ``current`` defines the setup ``stored`` does, compared in ``stored``'s scheme."""
    if stored.scheme != current.scheme:
        current = station_fingerprint(current.path, stored.scheme)
    return stored.sha256 == current.sha256


def expected_station(metadata: dict) -> StationFingerprint | None:
    """The station a run last used (``None`` if it has no fingerprint: from before them, or
    started on a station built in Python)."""
    changes = json.loads(metadata.get(STATION_CHANGES_KEY, "[]"))
    if changes:
        return StationFingerprint(**changes[-1]["current"])
    stored = json.loads(metadata.get(STATION_KEY, "null"))
    return None if stored is None else StationFingerprint(**stored)


def refuse_station_change(run_id: int, metadata: dict, current: StationFingerprint) -> None:
    """:class:`StationChangedError` naming both files and hashes if run ``run_id`` last used a
    station other than ``current`` (nothing for a run from before fingerprints)."""
    stored = expected_station(metadata)
    if stored is not None and not same_station(stored, current):
        raise StationChangedError(
            f"run {run_id} was measured on station file {stored.describe()}, but the current station file "
            f"{current.describe()} defines a different setup; resume with --station {stored.path} "
            f"(unchanged), or pass --allow-station-change to continue on the new station (the change is "
            f"recorded in the run)")


def check_resume_station(run_id: int, metadata: dict, current: StationFingerprint,
                         allow_change: bool = False, no_fingerprint: str = "it predates them") -> bool:
    """Whether resuming run ``run_id`` on ``current`` must be recorded as a station change.

    Same station: False. Different station: :class:`StationChangedError` (see
    :func:`refuse_station_change`) unless ``allow_change``, then a warning and True. A run without
    a fingerprint (``no_fingerprint`` says why): a warning and True (the station it continues on is
    recorded from then on).
    """
    stored = expected_station(metadata)
    if stored is None:
        log.warning("run %d has no station fingerprint (%s): cannot check that %s is the "
                    "station it was measured on; resuming, and recording this station from now on",
                    run_id, no_fingerprint, current.describe())
        return True
    if same_station(stored, current):
        return False
    if not allow_change:
        refuse_station_change(run_id, metadata, current)
    log.warning("run %d: station changed from %s to %s; resuming as asked (--allow-station-change), "
                "recorded in the run", run_id, stored.describe(), current.describe())
    return True


def record_station_change(run, current: StationFingerprint, from_point: int) -> None:
    """Append to the metadata of ``run`` (a :class:`.sweep_storage.SweepRun`) that ``current`` is
    used from point ``from_point`` on."""
    metadata = run.metadata
    changes = json.loads(metadata.get(STATION_CHANGES_KEY, "[]"))
    stored = expected_station(metadata)
    changes.append({"from_point": int(from_point), "stored": None if stored is None else asdict(stored),
                    "current": asdict(current)})
    run.dataset.add_metadata(STATION_CHANGES_KEY, json.dumps(changes))
