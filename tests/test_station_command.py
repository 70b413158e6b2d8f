"""``thermalink station init|check``: a station file from the template, and a check that opens it."""

from __future__ import annotations

from thermalink.experiments.cli import main
from thermalink.station_configs import station_config_path


def test_init_copies_the_template_and_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "lab.yaml"
    assert main(["station", "init", str(path)]) == 0
    assert path.read_text() == station_config_path("lab_template").read_text()
    path.write_text("edited")
    assert main(["station", "init", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert path.read_text() == "edited"


def test_check_of_the_fresh_template_names_every_unreachable_instrument(tmp_path, capsys):
    path = tmp_path / "lab.yaml"
    main(["station", "init", str(path)])
    capsys.readouterr()
    assert main(["station", "check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    for name in ("hot_load", "attenuator", "tunable_filter", "fridge", "spectrum_analyzer", "readout"):
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{name}:"))
        assert "UNREACHABLE: " in line and len(line.split("UNREACHABLE: ")[1]) > 10, line  # with its reason
    assert "source: not checked: it uses hot_load, attenuator, tunable_filter, fridge" in out
    assert "0 of 7 instruments opened" in out


def test_check_of_the_simulated_station_opens_everything(capsys):
    assert main(["station", "check", str(station_config_path("simulated"))]) == 0
    out = capsys.readouterr().out
    assert "all 7 instruments opened" in out and "UNREACHABLE" not in out


def test_check_validates_the_file_before_opening_anything(tmp_path, capsys, monkeypatch):
    import qcodes

    monkeypatch.setattr(qcodes.Station, "load_instrument", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    path = tmp_path / "bad.yaml"
    path.write_text(station_config_path("simulated").read_text().replace("max_temperature", "max_temprature", 1))
    assert main(["station", "check", str(path)]) == 2
    assert "max_temprature" in capsys.readouterr().err


def _documented_commands():
    from pathlib import Path
    import re
    import shlex

    root = Path(__file__).resolve().parents[1]
    for doc in ("README.md", "docs/first_cooldown.md"):
        for block in re.findall(r"```bash\n(.*?)```", (root / doc).read_text(), re.S):
            for line in block.splitlines():
                if line.startswith("thermalink "):
                    yield doc, shlex.split(line.split("#")[0].replace("RUN_ID", "1"))[1:]


def test_every_documented_command_line_parses():
    from thermalink.experiments.cli import build_parser

    commands = list(_documented_commands())
    assert len(commands) > 20 and ["station", "init", "lab.yaml"] in [c for _, c in commands]
    for doc, argv in commands:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            raise AssertionError(f"{doc}: thermalink {' '.join(argv)} does not parse") from None
