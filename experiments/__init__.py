"""Sweeps, calibrations, the dataset they write and the ``thermalink`` command line."""
