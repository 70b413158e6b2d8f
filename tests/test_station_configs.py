"""The lab template describes the same station as the simulated one, on real hardware."""

import importlib
import inspect

import pytest
import qcodes as qc
import yaml
from fake_zi_connection import FakeDAQServer

from thermalink.station_configs import station_config_path


def load(name):
    return yaml.safe_load(station_config_path(name).read_text())["instruments"]


def resolve(type_path):
    module, _, name = type_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_lab_template_names_the_same_instruments_as_the_simulated_station():
    assert list(load("lab_template")) == list(load("simulated"))
    assert {"source", "fridge", "readout"} <= set(load("lab_template"))


def test_lab_template_is_a_valid_qcodes_station_config():
    station = qc.Station(config_file=str(station_config_path("lab_template")))
    try:
        assert set(station.config["instruments"]) == set(load("lab_template"))
    finally:
        qc.Station.default = None


def accepted_keywords(cls) -> set[str]:
    """Named ``__init__`` parameters of ``cls`` and of every base its ``**kwargs`` are passed on to.

    ``signature.bind`` alone accepts any keyword where ``**kwargs`` exists, so a misspelled key
    would pass; walking the MRO finds the names that some ``__init__`` really takes.
    """
    names = set()
    for base in cls.__mro__:
        if base is object or "__init__" not in vars(base):
            continue
        parameters = inspect.signature(base.__init__).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names - {"self"}


def init_arguments(name, entry) -> dict:
    args = {"name": name, **entry.get("init", {})}
    if "address" in entry:
        args["address"] = entry["address"]
    return args


@pytest.mark.parametrize("config", ["lab_template", "simulated", "room_temperature"])
def test_every_instrument_type_accepts_its_init_arguments(config):
    for name, entry in load(config).items():
        cls = resolve(entry["type"])
        args = init_arguments(name, entry)
        inspect.signature(cls).bind(**args)  # TypeError names a missing or positional argument
        assert set(args) - accepted_keywords(cls) == set(), f"{config}.yaml, {name}: unknown init keys"


def test_a_misspelled_init_key_is_caught():
    entry = load("lab_template")["source"]
    cls = resolve(entry["type"])
    assert "max_temperature" in accepted_keywords(cls)
    args = init_arguments("source", {**entry, "init": {**entry["init"], "max_temprature": 40.0}})
    assert set(args) - accepted_keywords(cls) == {"max_temprature"}


def test_lab_template_readout_calibration_fits_the_zi_driver():
    entry = load("lab_template")["readout"]
    cls = resolve(entry["type"])
    readout = cls("readout", connection=FakeDAQServer(entry["init"]["serial"]), **entry["init"])
    for parameter, settings in entry["parameters"].items():
        readout.parameters[parameter](settings["initial_value"])
        assert readout.parameters[parameter]() == settings["initial_value"]
    # The readout protocol's windows are the template's pulses, set in one place.
    assert readout.prerotation_time() == entry["parameters"]["drive_pulse_length"]["initial_value"]
    assert readout.integration_time() == entry["parameters"]["integration_length"]["initial_value"]
    assert "prerotation_time" not in entry["init"] and "integration_time" not in entry["init"]
