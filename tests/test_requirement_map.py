"""Requirement maps: the best figure versus what the lab buys, reducing to the ideal link."""

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from thermalink.experiments.operating_point import optimise_operating_point
from thermalink.experiments.requirement_map import (
    ideal_value,
    plot_requirement_map,
    requirement_map,
    with_requirement,
)
from thermalink.experiments.station_limits import StationLimits


def station(**changes):
    """A small, cheap station (N_h <= ~20) with every imperfection on."""
    values = dict(
        temperature_range_K=(2.0, 6.0), attenuation_steps_dB=(0.0, 3.0),
        bandwidth_range_Hz=(1e4, 3e5), center_range_Hz=(6e9, 6e9),
        qubit1_frequency_Hz=6e9, qubit2_frequency_Hz=6e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6,
        t1_s=1.4e-7, t2_s=2.5e-7, local_occupation=0.02, link_loss_dB=0.2, attenuator_temperature_K=0.1,
    )
    values.update(changes)
    return StationLimits(**values)


def test_map_reduces_to_the_ideal_link_when_the_imperfections_are_switched_off():
    limits = station(t2_s=None, local_occupation=0.0)
    t1_ideal, eta_ideal = ideal_value(limits, "t1"), ideal_value(limits, "transmission")
    dataset = requirement_map(limits, "bell", t1=[1.2e-7, t1_ideal], transmission=[0.9, eta_ideal], progress=False)
    ideal = optimise_operating_point(station(t1_s=None, t2_s=None, local_occupation=0.0, link_loss_dB=0.0),
                                     "bell", relaxation=False, tolerances=False)
    assert ideal.parameters.gamma_local == ideal.parameters.gamma_phi == 0.0 and ideal.parameters.transmission == 1
    best = dataset["best"]
    assert float(best.sel(t1=t1_ideal, transmission=1.0)) == pytest.approx(ideal.value, abs=1e-4)
    # every imperfection costs fidelity
    assert float(best.sel(t1=1.2e-7, transmission=0.9)) < float(best.sel(t1=t1_ideal, transmission=0.9))
    assert float(best.sel(t1=1.2e-7, transmission=0.9)) < float(best.sel(t1=1.2e-7, transmission=1.0))
    assert (dataset["twin_solves"] > 0).all()
    assert dataset.attrs["total_twin_solves"] == int(dataset["twin_solves"].sum())


def test_map_through_an_executor_matches_the_serial_map_and_marks_unphysical_points(tmp_path):
    limits = station()
    axes = dict(t1=[1.0e-7, 1.5e-7], t2=[1.5e-7, 2.5e-7])  # t2 = 2.5e-7 > 2 * 1e-7: unphysical
    serial = requirement_map(limits, "concurrence", progress=False, **axes)
    with ThreadPoolExecutor(max_workers=2) as executor:
        parallel = requirement_map(limits, "concurrence", executor=executor, chunk_size=1, progress=False, **axes)
    assert np.isnan(float(serial["best"].sel(t1=1.0e-7, t2=2.5e-7)))
    np.testing.assert_allclose(parallel["best"].values, serial["best"].values, atol=1e-4)
    assert pickle.loads(pickle.dumps(limits)) == limits  # what a process pool ships
    png = plot_requirement_map(serial, tmp_path / "map.png", target=0.2)
    assert png.stat().st_size > 1000


def test_requirements_outside_their_physical_range_are_refused():
    limits = station()
    with pytest.raises(ValueError, match=r"transmission=1.5 is outside the allowed range \(0, 1\]"):
        with_requirement(limits, "transmission", 1.5)
    with pytest.raises(ValueError, match=r"source_temperature=1.0 K is outside the allowed range \[2.0, inf\)"):
        with_requirement(limits, "source_temperature", 1.0)
    with pytest.raises(ValueError, match="t1_s=.* is outside the allowed range"):
        with_requirement(limits, "t1", 1e-6)
    with pytest.raises(ValueError, match="requirement 'T3' is not one of"):
        requirement_map(limits, T3=[1.0])


def test_the_design_twin_of_a_station_is_the_twin_its_runs_are_compared_with():
    # The simulated station's measured residual excitation enters the design as a population
    # (converted with T1 into the local bath), as in the twin of a run on that station.
    from thermalink.experiments.lab_station import LabStation
    from thermalink.experiments.station_limits import Settings

    lab = LabStation.from_config(None)
    try:
        run_link = lab.lab_link()
        limits = StationLimits.from_lab_station(lab)
        settings = Settings(bandwidth_Hz=run_link.bandwidth_Hz, attenuation_dB=float(lab.source.attenuation()),
                            temperature_K=float(lab.source.temperature()), center_Hz=run_link.filter_center_Hz)
        design_bath = limits.lab_link(settings).to_parameters().qubit_bath(1)
        assert limits.excited_population == pytest.approx(float(lab.readout.residual_excitation()))
        assert design_bath == pytest.approx(run_link.to_parameters().qubit_bath(1))
    finally:
        lab.close()


def test_a_requirement_sets_both_qubits_and_a_stations_value_is_its_worse_qubits():
    from thermalink.experiments.requirement_map import current_value

    limits = station(local_occupation=0.0, excited_population=0.01, qubit2_t1_s=1.3e-7, qubit1_t2_s=2.2e-7,
                     qubit2_excited_population=0.004)
    assert current_value(limits, "t1") == 1.3e-7 and current_value(limits, "t2") == 2.2e-7
    assert current_value(limits, "residual_excitation") == 0.01
    for name, value, fields in (("t1", 1.35e-7, ("t1_s",)), ("t2", 2.4e-7, ("t2_s",)),
                                ("residual_excitation", 0.02, ("excited_population",))):
        changed = with_requirement(limits, name, value)
        assert current_value(changed, name) == value
        link = changed.lab_link(changed.centre_settings())
        for j in (1, 2):
            got = {"t1": link._t1(j), "t2": link._t2(j), "residual_excitation": getattr(link, f"qubit{j}_excited_population")}
            assert got[name] == value, (name, j)
    # the ideal T1 takes the residual excitation of both qubits with it (no local bath left)
    ideal = with_requirement(limits, "t1", ideal_value(limits, "t1"))
    p = ideal.lab_link(ideal.centre_settings()).to_parameters()
    assert p.qubit_bath(1).gamma_local == p.qubit_bath(2).gamma_local == 0.0


def test_with_a_frozen_readout_the_map_scores_the_state_at_the_pulse():
    from thermalink.analysis import bell_fidelity
    from thermalink.experiments.station_limits import Settings
    from thermalink.simulators.lab_units import ReadoutProtocol
    from thermalink.simulators.virtual_lab.twin_cache import twin_measured_state

    limits = station(readout_protocol=ReadoutProtocol(freeze=True, prerotation_time_s=1e-7))
    dataset = requirement_map(limits, "bell", t1=[1.25e-7, 1.4e-7], progress=False)
    for i, t1 in enumerate((1.25e-7, 1.4e-7)):
        at = with_requirement(limits, "t1", t1)
        knobs = {k: float(dataset[k].isel(t1=i)) for k in ("bandwidth_Hz", "attenuation_dB", "temperature_K",
                                                            "center_Hz")}
        rho = twin_measured_state(at.lab_link(Settings(**knobs))).rho
        assert float(dataset["best"].isel(t1=i)) == pytest.approx(bell_fidelity(rho), abs=1e-5)
