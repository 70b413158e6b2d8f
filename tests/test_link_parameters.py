"""Validation of the twin's parameters: bad input names the parameter and its range."""

import math

import pytest

from thermalink.simulators import LinkParameters, steady_state


def test_defaults_are_the_symmetric_lossless_resonant_link():
    p = LinkParameters(kappa=0.1, n_source=10.0)
    assert (p.gamma1, p.gamma2, p.in_coupling, p.transmission) == (1.0, 1.0, 0.5, 1.0)
    assert (p.delta1, p.delta2, p.gamma_local, p.n_qubit, p.gamma_phi) == (0.0,) * 5
    assert p.n_filter == pytest.approx(5.0)
    assert p.kappa_in + p.kappa_out == pytest.approx(p.kappa)


def test_kappa_and_n_source_are_required():
    with pytest.raises(TypeError):
        LinkParameters(kappa=0.1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("kappa", -0.1, "[0.0, inf]"),
        ("kappa", 0.0, "(0, inf)"),
        ("n_source", -1.0, "[0.0, inf]"),
        ("in_coupling", 1.5, "[0.0, 1.0]"),
        ("in_coupling", -0.1, "[0.0, 1.0]"),
        ("transmission", 1.01, "[0.0, 1.0]"),
        ("gamma1", -1.0, "[0.0, inf]"),
        ("gamma_local", -0.2, "[0.0, inf]"),
        ("n_qubit", -0.2, "[0.0, inf]"),
        ("gamma_phi", -0.2, "[0.0, inf]"),
        ("delta1", math.nan, "[-inf, inf]"),
        ("n_source", math.nan, "[0.0, inf]"),
        ("n_source", math.inf, "(0, inf)"),
        ("gamma2", "fast", "[0.0, inf]"),
    ],
)
def test_invalid_parameter_is_named_with_its_allowed_range(field, value, allowed):
    arguments = {"kappa": 0.1, "n_source": 10.0, field: value}
    with pytest.raises(ValueError) as error:
        LinkParameters(**arguments)
    assert field in str(error.value)
    assert allowed in str(error.value)


def test_a_qubit_without_any_decay_is_rejected():
    with pytest.raises(ValueError, match="gamma2"):
        LinkParameters(kappa=0.1, n_source=1.0, gamma2=0.0)
    LinkParameters(kappa=0.1, n_source=1.0, gamma2=0.0, gamma_local=0.1)  # a local bath suffices


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method='fast'"):
        steady_state(LinkParameters(kappa=0.1, n_source=1.0), method="fast")


def test_parameters_are_immutable_and_replace_validates():
    p = LinkParameters(kappa=0.1, n_source=1.0)
    with pytest.raises(AttributeError):
        p.kappa = 0.2  # type: ignore[misc]
    assert p.replace(kappa=0.2).kappa == 0.2
    with pytest.raises(ValueError, match="transmission"):
        p.replace(transmission=2.0)
