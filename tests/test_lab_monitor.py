"""``thermalink monitor``: QCoDeS' Monitor for the source, read with a real websocket client."""

from __future__ import annotations

import json
import threading
import time

import pytest
from websockets.sync.client import connect

from thermalink.experiments.cli import main
from thermalink.experiments.lab_monitor import free_port, monitored_parameters, start_monitor
from thermalink.experiments.lab_station import LabStation

EXPECTED = {  # label in the frame: (instrument, unit)
    "Hot-load temperature": ("source", "K"),
    "Mixing-chamber temperature": ("source", "K"),
    "Filter centre frequency": ("source", "Hz"),
    "Filter bandwidth": ("source", "Hz"),
    "Source attenuation": ("source", "dB"),
}


def frame_parameters(frame: dict) -> dict:
    """label -> (instrument, value, unit) of a Monitor frame."""
    return {entry["name"]: (group["instrument"], entry["value"], entry["unit"])
            for group in frame["parameters"] for entry in group["parameters"]}


@pytest.fixture
def lab():
    return LabStation.from_config()


def test_monitor_serves_the_source_state_over_a_websocket(lab):
    labels = {p.label: p for p in monitored_parameters(lab)}
    assert set(EXPECTED) <= set(labels), sorted(labels)  # labels as the station's drivers give them
    lab.apply({"temperature": 12.0, "attenuation": 4.0, "center_frequency": 6e9, "bandwidth": 2e5})
    monitor, port = start_monitor(lab, port=0, interval=0.1)
    try:
        with connect(f"ws://127.0.0.1:{port}", open_timeout=5) as client:
            frame = json.loads(client.recv(timeout=5))
    finally:
        monitor.stop()
    got = frame_parameters(frame)
    for label, (instrument, unit) in EXPECTED.items():
        assert got[label][0] == f"<VirtualFilteredThermalSource: {instrument}>" and got[label][2] == unit
    assert float(got["Hot-load temperature"][1]) == pytest.approx(12.0, abs=0.1)
    assert float(got["Source attenuation"][1]) == 4.0
    assert float(got["Filter bandwidth"][1]) == pytest.approx(2e5)
    [(label, (instrument, value, unit))] = [item for item in got.items() if "hot_load" in item[1][0]]
    assert (label, unit) == ("Output", "% of heater range")  # the hot load's heater output
    assert float(value) == lab.source.heater.output.get_latest()
    assert not monitor.is_alive()
    with pytest.raises(OSError):  # the port is released: nothing accepts connections any more
        with connect(f"ws://127.0.0.1:{port}", open_timeout=1):
            pass


def test_a_busy_port_is_refused_before_the_server_starts(lab):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ValueError, match=f"--port {port} cannot be used"):
            start_monitor(lab, port=port)
    with pytest.raises(ValueError, match="--port 70000 is outside the allowed range"):
        start_monitor(lab, port=70000)


def test_monitor_command_runs_for_its_duration_and_stops_cleanly(capsys):
    port = free_port()
    frames = []

    def listen():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not frames:
            try:
                with connect(f"ws://127.0.0.1:{port}", open_timeout=1) as client:
                    frames.append(json.loads(client.recv(timeout=5)))
            except OSError:
                time.sleep(0.1)

    listener = threading.Thread(target=listen)
    listener.start()
    assert main(["monitor", "--port", str(port), "--interval", "0.2", "--duration", "1.5"]) == 0
    listener.join()
    printed = capsys.readouterr().out
    assert f"QCoDeS monitor on ws://localhost:{port}: source_temperature" in printed
    assert printed.rstrip().endswith("monitor stopped")
    assert frames and set(EXPECTED) <= set(frame_parameters(frames[0]))
