"""The digital twin of the thermal link (unit-free physics) and, in :mod:`.virtual_lab`, the
virtual instruments built on it.

Layers inside this package, lowest first (a module imports only from its own layer or below):

* neutral: :mod:`.link_parameters` (``LinkParameters``: the conventions of every rate),
  :mod:`.lab_units` (the one conversion between lab units and the twin), :mod:`.conventions`
  (basis, setting and outcome labels, the counts array), :mod:`.blas_threads`, :mod:`.errors`
  (the project's exception classes);
* physics core (unit-free, no lab types): :mod:`.liouvillian_blocks`, :mod:`.exact_solver`,
  :mod:`.limits`, :mod:`.filter_chain`, :mod:`.relaxation`, :mod:`.twin` (``steady_state``), :mod:`.figures_of_merit`,
  :mod:`.maps` (``twin_map``);
* :mod:`.virtual_lab`: virtual instruments (they subclass the drivers) and the lab-keyed twin cache.

The names below are loaded on first use, so ``import thermalink.simulators.lab_units`` (as the
drivers do) does not import scipy or the solvers.
"""

from importlib import import_module

_API = {
    "LinkParameters": ".link_parameters",
    "ExactSteadyState": ".exact_solver",
    "fock_cutoff": ".exact_solver",
    "solve_exact": ".exact_solver",
    "driven_steady_state": ".limits",
    "relaxation_rate": ".relaxation",
    "steady_state": ".twin",
    "twin_map": ".maps",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        value = getattr(import_module(_API[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
