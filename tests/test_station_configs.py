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


@pytest.mark.parametrize("config", ["lab_template", "simulated"])
def test_every_instrument_type_accepts_its_init_arguments(config):
    for name, entry in load(config).items():
        cls = resolve(entry["type"])
        args = {"name": name, **entry.get("init", {})}
        if "address" in entry:
            args["address"] = entry["address"]
        inspect.signature(cls).bind(**args)  # TypeError names a wrong argument


def test_lab_template_readout_calibration_fits_the_zi_driver():
    entry = load("lab_template")["readout"]
    cls = resolve(entry["type"])
    readout = cls("readout", connection=FakeDAQServer(entry["init"]["serial"]), **entry["init"])
    for parameter, settings in entry["parameters"].items():
        readout.parameters[parameter](settings["initial_value"])
        assert readout.parameters[parameter]() == settings["initial_value"]
