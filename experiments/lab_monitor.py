"""``thermalink monitor``: QCoDeS' :class:`qcodes.monitor.Monitor` serving the source's state.

Monitored (lab units): the hot-load temperature (K), the hot-load heater output (%), the
mixing-chamber temperature (K), the filter centre and bandwidth (Hz), the step attenuator (dB),
and the occupation the source delivers at the filter. QCoDeS' Monitor sends each parameter's
*latest* value over a websocket (JSON: ``{"ts", "parameters": [{"instrument", "parameters":
[{"name", "value", "unit", "ts"}]}]}``) without reading the instruments; the command reads them every
``--interval`` seconds in its own thread, so instrument I/O stays in one thread.

Ports: QCoDeS' Monitor listens on ``qcodes.monitor.monitor.WEBSOCKET_PORT`` (5678, the port its
web page at ``python -m qcodes.monitor.monitor``, http://localhost:3000, connects to) and has no
port argument; :func:`start_monitor` sets that module value for the server it starts, so
``--port 0`` picks a free port (used by the tests; the QCoDeS page then needs the default).
"""

from __future__ import annotations

import argparse
import socket
import time

from thermalink.simulators.errors import InputError

DEFAULT_PORT = 5678  # qcodes.monitor.monitor.WEBSOCKET_PORT, the port QCoDeS' web page expects
#: Seconds between frames during a run (``thermalink run --monitor``).
RUN_INTERVAL = 0.5
#: Source parameters monitored, by name on the thermalink source (the heater output comes from its hot load).
SOURCE_PARAMETERS = ("temperature", "mixing_chamber_temperature", "center_frequency", "bandwidth", "attenuation",
                     "occupation")


def monitored_parameters(lab) -> list:
    """The QCoDeS parameters of the monitor: the source's (:data:`SOURCE_PARAMETERS`, those it has)
    and the hot load's heater output, if the source names one."""
    source = lab.source
    parameters = [source.parameters[name] for name in SOURCE_PARAMETERS if name in source.parameters]
    heater = getattr(source, "heater", None)  # the hot load's heater output channel
    if heater is not None and "output" in heater.parameters:
        parameters.insert(1, heater.parameters["output"])
    return parameters


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_monitor(lab, port: int = DEFAULT_PORT, interval: float = 1.0):
    """Read the monitored parameters once and start QCoDeS' Monitor on ``port`` (0: a free port).

    Returns ``(monitor, port)``; ``monitor.stop()`` shuts the server down. ValueError for a port
    outside [0, 65535] or in use, before the server starts.
    """
    import qcodes.monitor.monitor as qcodes_monitor

    if not (isinstance(port, int) and 0 <= port <= 65535):
        raise InputError(f"--port {port} is outside the allowed range [0, 65535] (0: a free port)")
    if not interval > 0:
        raise InputError(f"--interval {interval} is outside the allowed range (0, inf) s")
    port = port or free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise InputError(f"--port {port} cannot be used ({error.strerror}); pass --port 0 for a free one") from None
    parameters = monitored_parameters(lab)
    read_all(parameters)
    qcodes_monitor.WEBSOCKET_PORT = port  # QCoDeS reads it when its server thread starts
    monitor = qcodes_monitor.Monitor(*parameters, interval=interval)
    return monitor, port


def monitor_run(lab, port: int | None):
    """``thermalink run --monitor PORT``: start the Monitor for the run and return its ``stop``
    (a no-op without a port). During a run the frames carry the values the run itself last read
    (each point's settings and read-back); instruments are never read from a second thread."""
    if port is None:
        return lambda: None
    monitor, port = start_monitor(lab, port, interval=RUN_INTERVAL)
    print(f"QCoDeS monitor of the run on ws://localhost:{port}")
    return monitor.stop


def read_all(parameters) -> None:
    """Read every parameter (the Monitor sends the latest values)."""
    for parameter in parameters:
        parameter.get()


def _monitor_command(args: argparse.Namespace) -> int:
    from .lab_station import LabStation

    lab = LabStation.from_config(args.station)
    monitor, port = start_monitor(lab, args.port, args.interval)
    parameters = monitored_parameters(lab)
    print(f"QCoDeS monitor on ws://localhost:{port}: " + ", ".join(p.full_name for p in parameters))
    if port == DEFAULT_PORT:
        print("web page: python -m qcodes.monitor.monitor (http://localhost:3000); Ctrl-C stops")
    started = time.monotonic()
    try:
        while args.duration is None or time.monotonic() - started < args.duration:
            time.sleep(args.interval)
            read_all(parameters)
    except KeyboardInterrupt:
        pass
    finally:
        monitor.stop()
    print("monitor stopped")
    return 0


def add_monitor_parser(commands, common: dict) -> None:
    """``thermalink monitor`` (``common``: the CLI's shared options)."""
    parser = commands.add_parser("monitor", parents=[common["station"]],
                                 help="serve QCoDeS' Monitor for the source (hot load, heater, mixing chamber, "
                                      "filter, attenuator)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"websocket port ({DEFAULT_PORT}, the one QCoDeS' web page uses; 0: a free port)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between readings and frames")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
    parser.set_defaults(handler=_monitor_command)
