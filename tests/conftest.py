"""Shared fixtures of the instrument tests: every test starts and ends with no open instrument."""

from __future__ import annotations

import pytest
from qcodes.instrument import Instrument


@pytest.fixture(autouse=True)
def close_instruments():
    Instrument.close_all()
    yield
    Instrument.close_all()


SIMS = "thermalink.drivers.sims"
