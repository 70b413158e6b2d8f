"""pyvisa-sim YAML files of the thermalink drivers."""
