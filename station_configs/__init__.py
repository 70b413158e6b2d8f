"""QCoDeS station YAML files shipped with thermalink (``simulated.yaml`` is the default)."""

from importlib import resources
from pathlib import Path


def station_config_path(name: str = "simulated") -> Path:
    """Path of the bundled station file ``<name>.yaml``."""
    path = Path(str(resources.files(__name__).joinpath(f"{name}.yaml")))
    if not path.is_file():
        available = sorted(p.stem for p in Path(str(resources.files(__name__))).glob("*.yaml"))
        raise ValueError(f"no bundled station config {name!r}; available: {available}")
    return path
