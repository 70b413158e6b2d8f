"""``thermalink station``: start a station file from the template, and check that it loads.

    thermalink station init [PATH]     # copy station_configs/lab_template.yaml to PATH (./lab.yaml)
    thermalink station check [PATH]    # validate PATH, then open every instrument it declares

``init`` never overwrites a file. ``check`` first runs the station-file validation
(:func:`.station_validation.validate_station_file`: schema, required instruments, ``init`` keys and
types); a file that passes is loaded with QCoDeS, instrument by instrument (on its pyvisa-sim files
where an entry names one), and every instrument that cannot be opened is listed with its reason,
without a traceback. An instrument whose ``init`` names another station instrument that failed
(the source composed of hot load, attenuator, filter and fridge) is reported as not checked.
Everything opened is closed again; nothing is set.

:func:`add_station_parser` adds the subcommand to the CLI's subparsers.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from thermalink.simulators.errors import InputError
from thermalink.station_configs import station_config_path

from .station_validation import validate_station_file

DEFAULT_STATION_FILE = Path("lab.yaml")
#: Exit code of ``station check`` when some instrument could not be opened.
UNREACHABLE_EXIT_CODE = 1


@dataclass
class StationCheck:
    """Outcome of :func:`check_station`: instrument name -> reason, for each instrument that failed."""

    path: Path
    opened: list[str] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    not_checked: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.unreachable and not self.not_checked

    def summary(self) -> str:
        lines = [f"station file {str(self.path)!r}: valid"]
        lines += [f"  {name}: opened" for name in self.opened]
        lines += [f"  {name}: UNREACHABLE: {reason}" for name, reason in self.unreachable.items()]
        lines += [f"  {name}: not checked: it uses {', '.join(needs)}, which could not be opened"
                  for name, needs in self.not_checked.items()]
        total = len(self.opened) + len(self.unreachable) + len(self.not_checked)
        if self.ok:
            lines.append(f"all {total} instruments opened")
        else:
            lines.append(f"{len(self.opened)} of {total} instruments opened; {len(self.unreachable)} unreachable, "
                         f"{len(self.not_checked)} not checked (edit the addresses marked EDIT, check cables and "
                         "the VISA/LabOne installation, then run `thermalink station check` again)")
        return "\n".join(lines)


def init_station_file(path: str | Path = DEFAULT_STATION_FILE) -> Path:
    """Copy the bundled ``lab_template.yaml`` to ``path``; refuse to overwrite an existing file."""
    path = Path(path)
    if path.exists():
        raise InputError(f"{str(path)!r} already exists; not overwritten (give another PATH or remove it)")
    if not path.parent.is_dir():
        raise InputError(f"{str(path)!r}: the folder {str(path.parent)!r} does not exist")
    shutil.copyfile(station_config_path("lab_template"), path)
    return path


def _uses(entry: dict, names: set[str]) -> list[str]:
    """Station instruments named in an entry's ``init`` (as the source names its parts)."""
    init = entry.get("init") or {}
    return [value for value in init.values() if isinstance(value, str) and value in names]


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def check_station(path: str | Path = DEFAULT_STATION_FILE) -> StationCheck:
    """Validate station file ``path`` (InputError if invalid), then open each instrument and close it again."""
    import qcodes

    path = Path(path)
    data = validate_station_file(path)
    entries = dict(data["instruments"])
    try:
        station = qcodes.Station(config_file=str(path))
    except Exception as error:  # noqa: BLE001 - YAML and schema errors come in many types
        raise InputError(f"station file {str(path)!r} could not be read: {error}") from error
    result = StationCheck(path)
    # QCoDeS logs every failed connection with its traceback; the reason is reported here instead
    # (a configured log, e.g. qcodes.start_logging(), still receives it).
    quiet = logging.NullHandler()
    qcodes_logger = logging.getLogger("qcodes")
    qcodes_logger.addHandler(quiet)
    propagate, qcodes_logger.propagate = qcodes_logger.propagate, bool(logging.getLogger().handlers)
    visiting: set[str] = set()

    def attempt(name: str) -> bool:
        if name in result.opened:
            return True
        if name in result.unreachable or name in result.not_checked or name in visiting:
            return False
        visiting.add(name)
        failed = [needed for needed in _uses(entries[name], set(entries) - {name}) if not attempt(needed)]
        if failed:
            result.not_checked[name] = failed
            return False
        try:
            station.load_instrument(name)
        except Exception as error:  # noqa: BLE001 - VISA, LabOne and driver errors alike
            result.unreachable[name] = _reason(error)
            return False
        result.opened.append(name)
        return True

    try:
        for name in entries:
            attempt(name)
    finally:
        qcodes_logger.removeHandler(quiet)
        qcodes_logger.propagate = propagate
        for name in reversed(result.opened):
            component = station.components.get(name)
            if component is not None and hasattr(component, "close"):
                component.close()
    return result


def _init(args: argparse.Namespace) -> int:
    path = init_station_file(args.path)
    print(f"wrote {path} (a copy of station_configs/lab_template.yaml): edit the lines marked EDIT, "
          f"then run `thermalink station check {path}`")
    return 0


def _check(args: argparse.Namespace) -> int:
    result = check_station(args.path)
    print(result.summary())
    return 0 if result.ok else UNREACHABLE_EXIT_CODE


def add_station_parser(commands) -> None:
    """Add ``station init`` and ``station check`` to the CLI's subparsers."""
    station = commands.add_parser("station", help="start a station file from the lab template; check that it loads")
    which = station.add_subparsers(dest="station_command", required=True)
    init = which.add_parser("init", help="copy station_configs/lab_template.yaml to PATH (never overwrites)")
    init.add_argument("path", nargs="?", type=Path, default=DEFAULT_STATION_FILE, metavar="PATH",
                      help="station file to write")
    init.set_defaults(handler=_init)
    check = which.add_parser("check", help="validate a station file, then open each instrument (pyvisa-sim "
                                           "where it names a sim file) and list the unreachable ones; exit code "
                                           f"{UNREACHABLE_EXIT_CODE} if any")
    check.add_argument("path", nargs="?", type=Path, default=DEFAULT_STATION_FILE, metavar="PATH",
                       help="station file to check")
    check.set_defaults(handler=_check)
