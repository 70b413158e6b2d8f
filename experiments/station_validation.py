"""Station files checked before any instrument opens: one ValueError naming file, key and expectation.

Three layers, all on the parsed YAML (ruamel, as QCoDeS reads it), nothing imported but the
driver classes the file names:

1. QCoDeS' own station schema (``qcodes.station.SCHEMA_TEMPLATE_PATH``): the structure of
   ``instruments:`` entries (``type``, ``address``, ``init``, ``parameters``, ...). QCoDeS itself only
   warns on these; here they are errors.
2. thermalink's required instruments (:data:`REQUIRED_INSTRUMENTS`).
3. Each instrument's ``init`` against its driver class: every key must be a keyword some
   ``__init__`` of the class really takes (walking the MRO through ``**kwargs``), required arguments
   must be present, and values must fit the annotated types (``float`` takes integers, ``str |
   Instrument`` takes a station name, sequences are checked item by item). The readout's
   ``assignment_errors`` must be four probabilities in [0, 0.5], its readout protocol's times
   (``freeze_time``, ``prerotation_time``, ``integration_time``) and ``readout_decay_fraction``
   within their ranges (:data:`~thermalink.simulators.lab_units.READOUT_TIME_RANGES_S`), and a
   driver that derives protocol times from its pulse parameters (``protocol_times_from``, the
   SHFQC+) must not be given them. ``assignment_errors_include_readout_decay`` is a bool.

Keys are named by their path, e.g. ``instruments.source.init.max_temperature``.
"""

from __future__ import annotations

import collections.abc
import difflib
import importlib
import inspect
import json
import types
import typing
from pathlib import Path
from typing import Any

from thermalink.simulators.errors import InputError
from thermalink.simulators.lab_units import READOUT_TIME_RANGES_S

REQUIRED_INSTRUMENTS = ("source", "readout")
#: Keys of an instrument entry QCoDeS passes to the driver's ``__init__`` beside ``init``.
_ENTRY_ARGUMENTS = ("address", "port")


def read_station_yaml(path: Path) -> dict:
    """The station file parsed as QCoDeS parses it (ruamel.yaml, round-trip)."""
    import ruamel.yaml

    try:
        data = ruamel.yaml.YAML().load(path.read_text())
    except ruamel.yaml.YAMLError as error:
        raise InputError(f"station file {str(path)!r} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise InputError(f"station file {str(path)!r}: expected a mapping with the key 'instruments', "
                         f"got {type(data).__name__}")
    return data


def _schema_problems(data: dict) -> list[str]:
    import jsonschema
    from qcodes.station import SCHEMA_TEMPLATE_PATH

    with open(SCHEMA_TEMPLATE_PATH) as file:
        schema = json.load(file)
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            unknown = sorted(set(error.instance) - set(allowed))
            for name in unknown:
                where = f"{key}.{name}" if error.absolute_path else name
                problems.append(f"{where}: unknown key; expected one of {allowed}{_suggest(name, allowed)}")
        else:
            expected = error.schema.get("type") or error.schema.get("pattern") or error.validator_value
            problems.append(f"{key}: {error.message} (QCoDeS station schema expects {expected})")
    return problems


def _suggest(name: str, allowed) -> str:
    close = difflib.get_close_matches(name, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _resolve(type_path: str):
    module, _, name = type_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _init_methods(cls) -> list:
    """The ``__init__`` methods a keyword can reach: the class's, then its bases' while ``**kwargs`` passes on."""
    methods = []
    for base in cls.__mro__:
        if base is object or "__init__" not in vars(base):
            continue
        methods.append(vars(base)["__init__"])
        parameters = inspect.signature(base.__init__).parameters.values()
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return methods


def _hints(function) -> dict[str, Any]:
    """Evaluated annotations of ``function``; names that only exist for type checkers are skipped."""
    try:
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - TYPE_CHECKING-only names: evaluate one by one
        namespace = getattr(function, "__globals__", {})
        hints = {}
        for name, annotation in getattr(function, "__annotations__", {}).items():
            try:
                hints[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation  # noqa: S307
            except Exception:  # noqa: BLE001
                continue
        return hints


def accepted_arguments(cls) -> dict[str, Any]:
    """Keyword -> annotation (``Any`` if none) of every ``__init__`` argument ``cls`` really takes."""
    accepted: dict[str, Any] = {}
    for method in _init_methods(cls):
        hints = _hints(method)
        for parameter in inspect.signature(method).parameters.values():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) and parameter.name != "self":
                accepted.setdefault(parameter.name, hints.get(parameter.name, Any))
    return accepted


def _fits(value, hint) -> bool:
    """Whether a YAML value fits an annotation (unknown annotations accept anything)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    container = origin or hint
    if isinstance(container, type) and issubclass(container, collections.abc.Mapping):
        return isinstance(value, dict)
    if isinstance(container, type) and container is not str and issubclass(container, collections.abc.Iterable):
        if not isinstance(value, list):
            return False
        args = typing.get_args(hint)
        if container is tuple and len(args) == 2 and args[1] is Ellipsis:
            args = args[:1]
        if container is tuple and len(args) > 1 and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
        return all(_fits(item, args[0]) for item in value) if args else True
    return True  # an instrument class, a callable, ...: not decidable from YAML, the driver checks


def _describe(hint) -> str:
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    return text or str(hint).replace("typing.", "")


def _instrument_problems(name: str, entry: dict) -> list[str]:
    where = f"instruments.{name}"
    try:
        cls = _resolve(entry["type"])
    except (ImportError, AttributeError, ValueError) as error:
        return [f"{where}.type: cannot import {entry['type']!r} ({type(error).__name__}: {error}); "
                "expected module.path.ClassName of an instrument driver"]
    init = dict(entry.get("init") or {})
    given = {**init, **{key: entry[key] for key in _ENTRY_ARGUMENTS if key in entry}}
    accepted = accepted_arguments(cls)
    problems = []
    derived = getattr(cls, "protocol_times_from", {}) or {}
    parameters = entry.get("parameters") if isinstance(entry.get("parameters"), dict) else {}
    for section, keys in (("init", init), ("parameters", parameters)):
        for key in (k for k in keys if k in derived):
            problems.append(f"{where}.{section}.{key}: {entry['type']} derives the readout protocol's {key} from its "
                            f"pulse parameter {derived[key]!r} (one setting of one thing); set "
                            f"{where}.parameters.{derived[key]}.initial_value instead")
    for key in init:
        if key in derived:
            continue
        if key not in accepted:
            allowed = sorted(set(accepted) - {"name"})
            problems.append(f"{where}.init.{key}: unknown key for {entry['type']}; expected one of "
                            f"{allowed}{_suggest(key, allowed)}")
        elif not _fits(init[key], accepted[key]):
            problems.append(f"{where}.init.{key}: {init[key]!r} ({type(init[key]).__name__}) is the wrong type; "
                            f"expected {_describe(accepted[key])}")
    for parameter in inspect.signature(_init_methods(cls)[0]).parameters.values():
        if (parameter.default is parameter.empty and parameter.name not in ("self", "name")
                and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
                and parameter.name not in given):
            section = parameter.name if parameter.name in _ENTRY_ARGUMENTS else f"init.{parameter.name}"
            problems.append(f"{where}.{section}: missing; {entry['type']} requires it "
                            f"({_describe(accepted.get(parameter.name, Any))})")
    return problems


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _readout_problems(entry: dict) -> list[str]:
    init = entry.get("init") or {}
    problems = []
    errors = init.get("assignment_errors")
    if errors is not None:
        numbers = isinstance(errors, list) and all(_number(e) for e in errors)
        if not numbers or len(errors) != 4 or not all(0 <= e <= 0.5 for e in errors):
            problems.append(f"instruments.readout.init.assignment_errors: {errors!r}; expected four probabilities "
                            "in [0, 0.5]: q1 P(1|0), q1 P(0|1), q2 P(1|0), q2 P(0|1)")
    ranges = {key.removesuffix("_s"): (low, high, "s") for key, (low, high) in READOUT_TIME_RANGES_S.items()}
    ranges["readout_decay_fraction"] = (0.0, 1.0, "")
    for key, (low, high, unit) in ranges.items():
        value = init.get(key)
        if value is not None and _number(value) and not low <= value <= high:
            problems.append(f"instruments.readout.init.{key}: {value!r} is outside the allowed range "
                            f"[{low:g}, {high:g}]{' ' + unit if unit else ''} (the readout protocol's timing)")
    return problems


def validate_station_file(path: str | Path, required: tuple[str, ...] = REQUIRED_INSTRUMENTS) -> dict:
    """Check station file ``path`` (see the module docstring); return its parsed content.

    Raises one ValueError listing every problem found, each naming the key and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"station file {str(path)!r} does not exist")
    data = read_station_yaml(path)
    problems = _schema_problems(data)
    instruments = data.get("instruments")
    if not isinstance(instruments, dict):
        problems.append("instruments: missing; expected a mapping of instrument names to entries")
        instruments = {}
    missing = [name for name in required if name not in instruments]
    if missing:
        problems.append(f"instruments: lacks the instruments {missing}; thermalink needs {list(required)}, "
                        f"the file declares {sorted(instruments)}")
    for name, entry in instruments.items():
        if isinstance(entry, dict) and isinstance(entry.get("type"), str) and isinstance(entry.get("init") or {}, dict):
            problems += _instrument_problems(name, entry)
    if isinstance(instruments.get("readout"), dict):
        problems += _readout_problems(instruments["readout"])
    if problems:
        listed = "\n  ".join(dict.fromkeys(problems))
        raise InputError(f"station file {str(path)!r} is not a valid station ({len(problems)} "
                         f"problem{'s' if len(problems) > 1 else ''}):\n  {listed}")
    return data
