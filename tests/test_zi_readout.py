"""The SHFQC+ readout driver against a fake LabOne connection (no data server here)."""

import numpy as np
import pytest
import zhinst.core
from fake_zi_connection import FakeDAQServer

from thermalink.drivers.two_qubit_readout import PAULI_SETTINGS, TwoQubitReadout
from thermalink.drivers.zi_readout import SAMPLING_RATE, ZurichInstrumentsSHFQC
from thermalink.simulators.virtual_lab.clock import VirtualClock

DEV = "/dev12345"


def _switched_on(fake, path):
    """Position of the last write of 1 to ``path``."""
    return max(i for i, (_, written, value) in enumerate(fake.writes) if written == path and value == 1)


@pytest.fixture
def fake():
    return FakeDAQServer("dev12345")


@pytest.fixture
def readout(fake):
    return ZurichInstrumentsSHFQC(
        "readout",
        "DEV12345",
        connection=fake,
        qubit1_frequency=6.0002e9,
        qubit2_frequency=5.9998e9,
    )


def test_zi_readout_implements_the_two_qubit_readout_interface(readout):
    assert isinstance(readout, TwoQubitReadout)


def test_tomography_acquisition_writes_the_intended_nodes(readout, fake):
    readout.readout_center_frequency(7.0e9)
    readout.qubit1_readout_frequency(7.05e9)
    readout.qubit2_readout_frequency(6.9e9)
    readout.drive_center_frequency(5.9e9)
    readout.qubit1_iq_rotation(0.3)
    readout.qubit2_threshold(0.125)
    readout.repetition_time(50e-6)
    readout.measure(PAULI_SETTINGS, shots=100)

    qa = f"{DEV}/qachannels/0"
    assert fake.value(f"{qa}/mode") == "readout"
    assert fake.value(f"{qa}/centerfreq") == 7.0e9
    assert fake.value(f"{qa}/generator/auxtriggers/0/channel") == 8  # the internal trigger
    assert fake.value(f"{DEV}/sgchannels/0/awg/auxtriggers/0/channel") == 8
    assert fake.value(f"{DEV}/sgchannels/1/awg/auxtriggers/0/slope") == "rising_edge"
    # readout pulses at the intermediate frequencies, weights matched and rotated
    for slot, intermediate in ((0, 50e6), (1, -100e6)):
        pulse = fake.value(f"{qa}/generator/waveforms/{slot}/wave")
        step = np.angle(pulse[101:200] / pulse[100:199])
        np.testing.assert_allclose(step, 2 * np.pi * intermediate / SAMPLING_RATE, atol=1e-9)
        weight = fake.value(f"{qa}/readout/integration/weights/{slot}/wave")
        product = (weight * pulse)[100:200]
        rotation = 0.3 if slot == 0 else 0.0
        np.testing.assert_allclose(np.angle(product), -rotation, atol=1e-9)
    assert fake.value(f"{qa}/readout/discriminators/1/threshold") == 0.125
    assert fake.value(f"{qa}/readout/result/length") == 9 * 100
    assert fake.value(f"{qa}/readout/result/source") == "result_of_discrimination"
    assert fake.value(f"{qa}/readout/result/averages") == 1
    # drives at the qubit intermediate frequencies, one SG channel per qubit
    assert fake.value(f"{DEV}/sgchannels/0/oscs/0/freq") == pytest.approx(100.2e6)
    assert fake.value(f"{DEV}/sgchannels/1/oscs/0/freq") == pytest.approx(99.8e6)
    assert fake.value(f"{DEV}/sgchannels/0/awg/modulation/enable") == 1
    assert fake.value(f"{DEV}/synthesizers/1/centerfreq") == 5.9e9  # SG channels 0, 1 share synthesiser 1
    # programs uploaded as ELF, triggers for every shot of every setting
    for path in (f"{qa}/generator/elf/data", f"{DEV}/sgchannels/0/awg/elf/data", f"{DEV}/sgchannels/1/awg/elf/data"):
        assert bytes(fake.value(path)[:4]) == b"\x7fELF"
    assert fake.value(f"{DEV}/system/internaltrigger/repetitions") == 900
    assert fake.value(f"{DEV}/system/internaltrigger/holdoff") == 50e-6
    # order: configure, arm the result logger, start the sequencers, then trigger
    assert fake.index(f"{qa}/readout/result/length") < _switched_on(fake, f"{qa}/readout/result/enable")
    assert _switched_on(fake, f"{qa}/readout/result/enable") < _switched_on(fake, f"{qa}/generator/enable")
    start = _switched_on(fake, f"{DEV}/system/internaltrigger/enable")
    assert _switched_on(fake, f"{DEV}/sgchannels/1/awg/enable") < start
    assert fake.last_index(f"{DEV}/system/internaltrigger/enable") > start  # back to idle afterwards


@pytest.mark.parametrize(
    "kind, blocks, shots, triggers",
    [("sequencer_programs", PAULI_SETTINGS, 2000, 18000), ("prepared_state_programs", ("00", "01", "10", "11"), 1000, 4000)],
)
def test_sequencer_programs_compile_offline_with_zhinst_core(readout, kind, blocks, shots, triggers):
    programs = getattr(readout, kind)(blocks, shots)
    assert set(programs) == {"qa", "sg1", "sg2"}
    elf, _ = zhinst.core.compile_seqc(programs["qa"], "SHFQC", "QC6CH", 0, sequencer="qa")
    assert elf[:4] == b"\x7fELF"
    for key in ("sg1", "sg2"):
        elf, _ = zhinst.core.compile_seqc(programs[key], "SHFQC", "QC6CH", 0, sequencer="sg")
        assert elf[:4] == b"\x7fELF"
    assert f"const N_TOTAL = {triggers};" in programs["qa"]


def test_each_qubit_gets_the_pre_rotation_of_its_basis_in_setting_order(readout):
    settings = ["XY", "ZX", "YZ"]
    programs = readout.sequencer_programs(settings, 10)
    for qubit, expected in ((1, "XZY"), (2, "YXZ")):
        plays = [line for line in programs[f"sg{qubit}"].splitlines() if line.startswith("repeat(SHOTS)")]
        rotation = {
            "X": "playWave(1, 2, nothing, 1, 2, minus_pulse);",
            "Y": "playWave(1, 2, pulse, 1, 2, nothing);",
            "Z": "playZero(PULSE_LENGTH);",
        }
        assert [rotation[basis] in line for basis, line in zip(expected, plays)] == [True] * 3


def test_a_program_that_does_not_compile_is_reported_with_its_name(readout):
    with pytest.raises(RuntimeError, match="'qa' does not compile"):
        readout.compile_programs({"qa": "this is not seqc;"})


def test_discriminated_results_become_counts_per_setting_and_outcome():
    bits = np.array([[0, 0, 1, 1, 0, 1, 0, 1], [0, 1, 0, 1, 1, 1, 1, 1]])
    fake = FakeDAQServer("dev12345", states=lambda n: bits[:, :n])
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake)
    counts = readout.measure(["ZZ", "XX"], shots=4)
    assert list(counts.setting.values) == ["ZZ", "XX"]
    np.testing.assert_array_equal(counts.sel(setting="ZZ").values, [1, 1, 1, 1])
    np.testing.assert_array_equal(counts.sel(setting="XX").values, [0, 2, 0, 2])


def test_random_single_shots_are_counted_exactly():
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2, size=(2, 9 * 300))
    fake = FakeDAQServer("dev12345", states=lambda n: bits)
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake)
    counts = readout.measure(shots=300)
    outcome = (2 * bits[0] + bits[1]).reshape(9, 300)
    expected = np.stack([np.bincount(row, minlength=4) for row in outcome])
    np.testing.assert_array_equal(counts.values, expected)


def test_out_of_band_frequencies_are_refused_before_anything_is_written(readout, fake):
    readout.qubit1_readout_frequency(8.4e9)
    readout.readout_center_frequency(7.0e9)
    written = len(fake.writes)  # the idle state written at connect time
    with pytest.raises(ValueError, match=r"qubit1_readout_frequency is 1400.0 MHz .* allowed range \[-1000, 1000\] MHz"):
        readout.measure(["ZZ"], shots=10)
    assert len(fake.writes) == written


def test_power_ranges_accept_only_5_dB_steps(readout):
    readout.qa_input_range(-25)
    with pytest.raises(ValueError):
        readout.qa_input_range(-23)
    with pytest.raises(ValueError):
        readout.sg_output_range(15)


def test_zi_readout_closes_cleanly(readout):
    readout.close()
    assert not ZurichInstrumentsSHFQC.exist("readout")


def test_a_ground_state_preparation_plays_no_pulse_and_still_compiles(readout):
    ground = readout.prepared_state_programs(["00"], 10)["sg1"]
    assert "wave " not in ground
    assert zhinst.core.compile_seqc(ground, "SHFQC", "QC6CH", 0, sequencer="sg")[0][:4] == b"\x7fELF"


def test_each_qubit_gets_a_pi_pulse_of_its_amplitude_exactly_where_its_bit_is_one(readout):
    readout.qubit1_pi_amplitude(0.61)
    readout.qubit2_pi_amplitude(0.47)
    programs = readout.prepared_state_programs(["10", "00", "11", "01"], 10)
    for qubit, amplitude, expected in ((1, "0.610000", [1, 0, 1, 0]), (2, "0.470000", [0, 0, 1, 1])):
        program = programs[f"sg{qubit}"]
        assert f"wave pi_pulse = gauss(PULSE_LENGTH, {amplitude}," in program
        plays = [line for line in program.splitlines() if line.startswith("repeat(SHOTS)")]
        assert [int("playWave(1, 2, pi_pulse, 1, 2, nothing);" in line) for line in plays] == expected
        assert [int("playZero(PULSE_LENGTH);" in line) for line in plays] == [1 - e for e in expected]


def test_prepared_state_acquisition_writes_the_intended_nodes_and_counts_per_state():
    shots = 3
    # results in trigger order: state "00" x3, "01" x3, "10" x3, "11" x3, one readout error each
    bits = np.array([[0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1]])
    fake = FakeDAQServer("dev12345", states=lambda n: bits[:, :n])
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake)
    readout.repetition_time(20e-6)
    counts = readout.measure_prepared(shots=shots)

    assert counts.dims == ("prepared", "outcome")
    assert list(counts.prepared.values) == ["00", "01", "10", "11"]
    np.testing.assert_array_equal(counts.values, [[2, 0, 1, 0], [1, 2, 0, 0], [0, 0, 2, 1], [0, 1, 0, 2]])
    qa = f"{DEV}/qachannels/0"
    assert fake.value(f"{qa}/readout/result/length") == 4 * shots
    assert fake.value(f"{qa}/readout/result/source") == "result_of_discrimination"
    assert fake.value(f"{DEV}/system/internaltrigger/repetitions") == 4 * shots
    assert fake.value(f"{DEV}/system/internaltrigger/holdoff") == 20e-6
    for path in (f"{qa}/generator/elf/data", f"{DEV}/sgchannels/0/awg/elf/data", f"{DEV}/sgchannels/1/awg/elf/data"):
        assert bytes(fake.value(path)[:4]) == b"\x7fELF"
    start = _switched_on(fake, f"{DEV}/system/internaltrigger/enable")
    assert _switched_on(fake, f"{DEV}/sgchannels/1/awg/enable") < start


def test_pi_amplitude_is_a_validated_full_scale_parameter(readout):
    assert readout.qubit1_pi_amplitude.unit == ""
    with pytest.raises(ValueError):
        readout.qubit2_pi_amplitude(1.2)


def test_shots_beyond_the_result_logger_are_rejected_by_the_parameter_itself(readout):
    readout.shots.validate(2**19)
    with pytest.raises(ValueError, match="524288"):
        readout.shots.validate(2**19 + 1)
    with pytest.raises(ValueError, match=r"shots=600000 is outside the allowed range: integers in \[1, 524288\]"):
        readout.measure(["ZZ"], shots=600_000)


# ---- node tree ------------------------------------------------------------------------------
def test_every_node_the_driver_writes_exists_with_a_valid_value_in_the_shfqc_node_tree():
    from shfqc_node_tree import check_write

    fake = FakeDAQServer("dev12345", options="QC6CH\nPLUS\nLRT")
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake)  # connect + idle
    readout.measure(["XY", "ZZ"], shots=5)
    readout.measure_prepared(shots=5)
    readout.measure_prepared_integrated(("00", "11"), shots=5)
    readout.close()
    written = {path for _, path, _ in fake.writes}
    assert len(written) > 60
    for _, path, value in fake.writes:  # the fake already refused any invalid write; say so again
        check_write(path, value)
    # and the description does refuse what would break on a device
    with pytest.raises(ValueError, match="no such node"):
        check_write(f"{DEV}/qachannels/0/readout/result/lenght", 10)
    with pytest.raises(ValueError, match="'internal_trigger' is not one of"):
        check_write(f"{DEV}/qachannels/0/generator/auxtriggers/0/channel", "internal_trigger")
    with pytest.raises(ValueError, match="not one of the options"):
        check_write(f"{DEV}/qachannels/0/readout/result/source", 2)
    with pytest.raises(ValueError, match="read-only"):
        check_write(f"{DEV}/sgchannels/0/awg/ready", 1)


# ---- 1. drive frames -------------------------------------------------------------------------
def _washout_readout(fake):
    """Qubits 399.99 kHz apart around a filter at 6 GHz, repetition time 100 us."""
    readout = ZurichInstrumentsSHFQC(
        "readout", "dev12345", connection=fake, qubit1_frequency=6.0e9 + 199.995e3, qubit2_frequency=6.0e9 - 199.995e3
    )
    readout.drive_center_frequency(5.9e9)
    readout.repetition_time(100e-6)
    return readout


def _drive_frame_shots(rho, settings, shots, seed=3):
    """What the qubits answer to the drives the fake reports: each shot's state seen in the two
    SG channels' drive frames (phases against the 6 GHz filter frame), measured in its setting."""
    from thermalink.analysis.tomography_data import measurement_model
    from thermalink.simulators.virtual_lab.readout import in_drive_frames, sample_single_shots

    rng = np.random.default_rng(seed)
    model = measurement_model(settings)

    def drive_states(cycles):
        n = len(cycles[0])
        filter_cycles = (np.arange(n) * ((6.0e9 * 100e-6) % 1.0)) % 1.0
        phases = 2 * np.pi * np.stack([cycles[0] - filter_cycles, cycles[1] - filter_cycles])
        outcome = sample_single_shots(in_drive_frames(rho, phases), np.repeat(np.arange(len(settings)), shots), model, rng)
        return np.stack([outcome // 2, outcome % 2])

    return drive_states


def _twin_state():
    from thermalink.simulators.lab_units import LabLink
    from thermalink.simulators.virtual_lab.twin_cache import twin_state

    return twin_state(LabLink(
        bandwidth_Hz=10e3, source_occupation=100.0, filter_center_Hz=6.0e9, qubit1_frequency_Hz=6.0e9 + 199.995e3,
        qubit2_frequency_Hz=6.0e9 - 199.995e3, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6, in_coupling=0.5,
        link_loss_dB=0.1, t1_s=1.55e-7, t2_s=3e-7, local_occupation=0.01,
    ))


def test_both_sg_programs_reset_the_oscillator_phase_after_every_trigger(readout, fake):
    programs = readout.sequencer_programs(PAULI_SETTINGS, 10)
    for key in ("sg1", "sg2"):
        body = [line for line in programs[key].splitlines() if "waitDigTrigger" in line]
        assert len(body) == 9 and all("waitDigTrigger(1); resetOscPhase();" in line for line in body)
    readout.measure(["XX"], shots=5)
    assert fake.resets_phase_every_trigger(0) and fake.resets_phase_every_trigger(1)  # what the device runs


def test_the_two_qubit_coherence_survives_399_99_kHz_between_the_drives():
    rho = _twin_state()
    expected = 4 * np.real(rho[1, 2])  # <XX> + <YY>
    assert abs(expected) > 0.5
    shots = 2000
    fake = FakeDAQServer("dev12345", drive_states=_drive_frame_shots(rho, ("XX", "YY"), shots))
    counts = _washout_readout(fake).measure(["XX", "YY"], shots=shots)
    correlations = (counts.values @ np.array([1, -1, -1, 1])) / shots
    # without resetOscPhase() the frames turn by 2 pi * 0.999 per shot: the sum averages to ~0
    assert correlations.sum() == pytest.approx(expected, abs=5 * np.sqrt(2 / shots))


# ---- 2. versions -----------------------------------------------------------------------------
def test_a_data_server_of_another_labone_release_is_refused_with_what_to_install():
    fake = FakeDAQServer("dev12345", labone_version="23.02")
    with pytest.raises(ConnectionError, match=r"release 23.02 .*pip install 'zhinst-core==23.02.\*'"):
        ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake)
    assert fake.writes == []
    assert not ZurichInstrumentsSHFQC.exist("readout")


def test_firmware_that_does_not_match_the_data_server_is_refused():
    fake = FakeDAQServer("dev12345", status_flags=1 << 4)  # FW_UPGRADE_REQUIRED
    with pytest.raises(ConnectionError, match="firmware"):
        ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake)
    assert fake.writes == []


def test_a_session_refused_by_the_data_server_says_to_match_zhinst_core():
    from fake_zi_connection import FakeSession

    def refusing(host, port):
        return FakeSession(host, port, refuse="Unsupported LabOne version")

    with pytest.raises(ConnectionError, match="zhinst-core of the lab's LabOne release"):
        ZurichInstrumentsSHFQC("readout", "dev12345", host="zi-server", session_factory=refusing)


# ---- 3. triggers -----------------------------------------------------------------------------
def test_qa_and_sg_triggers_are_separate_and_checked_against_the_nodes_options():
    fake = FakeDAQServer("dev12345")
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake, qa_trigger="swtrig0",
                                     sg_trigger="internal_trigger")
    assert (readout.qa_trigger, readout.sg_trigger) == (1024, 8)
    readout.close()
    fake = FakeDAQServer("dev12345")
    with pytest.raises(ValueError, match=r"qa_trigger='internal_trigger' is not an option of .*/generator/auxtriggers/0/"
                                         r"channel; allowed: 0: .*8: Internal trigger"):
        ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake, qa_trigger="internal_trigger")
    assert fake.writes == []
    with pytest.raises(ValueError, match="sg_trigger=5 is not an option"):
        ZurichInstrumentsSHFQC("readout", "dev12345", connection=FakeDAQServer("dev12345"), sg_trigger=5)


# ---- 4. ready after upload ---------------------------------------------------------------------
def test_the_driver_waits_for_each_sequencer_to_report_ready():
    fake = FakeDAQServer("dev12345", ready_after=3)  # three polls answer 0 after each upload
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake)
    counts = readout.measure(["ZZ"], shots=4)
    assert counts.sum() == 4
    assert fake.ready_polls == 3 * (3 + 1)


def test_a_sequencer_that_never_gets_ready_times_out_and_leaves_the_device_idle():
    fake = FakeDAQServer("dev12345", ready_after=None)
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake, clock=VirtualClock())
    readout.upload_timeout(2.0)
    with pytest.raises(TimeoutError, match="generator/ready did not report ready within 2.0 s"):
        readout.measure(["ZZ"], shots=4)
    assert readout.clock.now() >= 2.0
    assert _idle(fake)


# ---- 5. known state ----------------------------------------------------------------------------
IDLE = {
    "system/internaltrigger/enable": 0, "qachannels/0/generator/enable": 0, "qachannels/0/readout/result/enable": 0,
    "qachannels/0/readout/multistate/enable": 0, "qachannels/0/pipeliner/mode": 0, "sgchannels/0/awg/enable": 0,
    "sgchannels/1/awg/enable": 0, "sgchannels/0/sines/0/i/enable": 0, "sgchannels/1/sines/0/q/enable": 0,
    "sgchannels/1/pipeliner/mode": 0, "sgchannels/0/synchronization/enable": 0, "system/synchronization/source": 0,
    "system/internaltrigger/synchronization/enable": 0,
}


def _idle(fake):
    return all(int(fake.nodes.get(f"{DEV}/{path}", -1)) == value for path, value in IDLE.items())


def test_connecting_resets_what_other_tools_leave_set():
    fake = FakeDAQServer("dev12345", options="QC6CH\nPLUS\nLRT")
    for path in ("qachannels/0/readout/multistate/enable", "sgchannels/0/sines/0/i/enable",
                 "qachannels/0/modulation/enable", "sgchannels/1/pipeliner/mode", "sgchannels/0/awg/enable"):
        fake.nodes[f"{DEV}/{path}"] = 1
    fake.nodes[f"{DEV}/qachannels/0/readout/integration/downsampling/factor"] = 4
    ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake)
    assert _idle(fake)
    assert fake.nodes[f"{DEV}/qachannels/0/modulation/enable"] == 0
    assert fake.nodes[f"{DEV}/qachannels/0/readout/integration/downsampling/factor"] == 1


def test_after_a_successful_acquisition_the_device_is_idle(readout, fake):
    readout.measure(["ZZ"], shots=4)
    assert _idle(fake)


# ---- 6. timeouts -------------------------------------------------------------------------------
def test_the_acquisition_timeout_follows_the_expected_duration(readout):
    readout.repetition_time(1e-3)
    assert readout.expected_duration(4 * 20000) == pytest.approx(80.0)
    assert readout.acquisition_timeout_for(4 * 20000) == pytest.approx(1.5 * 80.0 + 10.0)


def test_a_readout_calibration_that_never_finishes_times_out_after_its_own_duration_and_goes_idle():
    fake = FakeDAQServer("dev12345")
    fake.triggers_lost = True
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake, clock=VirtualClock())
    readout.repetition_time(1e-3)
    with pytest.raises(TimeoutError, match=r"did not finish 80000 results within 130 s \(expected 80 s.*missing triggers"):
        readout.measure_prepared(shots=20000)
    assert readout.clock.now() >= 130.0  # virtual time: it waited the full derived timeout
    assert _idle(fake)  # sequencers, trigger and result logger stopped


# ---- 7. frequencies as set ---------------------------------------------------------------------
def test_centre_frequencies_must_lie_on_the_synthesiser_grid(readout):
    with pytest.raises(ValueError, match=r"multiples of 100 MHz in \[1, 8\] GHz"):
        readout.drive_center_frequency(5.95e9)
    readout.readout_center_frequency(7.2e9)


def test_intermediate_frequencies_come_from_the_centre_frequencies_read_back():
    # a device whose SG synthesiser ends on the 200 MHz grid (e.g. shared with another channel)
    fake = FakeDAQServer("dev12345", coerce_center=lambda path, f: 6.0e9 if "synthesizers" in path else f)
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake, qubit1_frequency=6.0002e9,
                                     qubit2_frequency=5.9998e9)
    readout.drive_center_frequency(5.9e9)
    readout.measure(["ZZ"], shots=4)
    assert readout.centers_as_set[1] == (6.0e9, 6.0e9)
    assert fake.value(f"{DEV}/sgchannels/0/oscs/0/freq") == pytest.approx(0.2e6)
    assert fake.value(f"{DEV}/sgchannels/1/oscs/0/freq") == pytest.approx(-0.2e6)


# ---- 8. close ----------------------------------------------------------------------------------
def test_close_leaves_the_device_connected_for_the_other_clients():
    from fake_zi_connection import FakeSession

    sessions = []

    def session(host, port):
        sessions.append(FakeSession(host, port))
        return sessions[-1]

    readout = ZurichInstrumentsSHFQC("readout", "dev12345", host="zi-server", session_factory=session)
    assert sessions[0].connected == [("dev12345", "1GbE")]
    readout.close()
    assert sessions[0].disconnected == [] and sessions[0].daq_server.disconnected == []
    assert _idle(sessions[0].daq_server)


# ---- 10. integration results -------------------------------------------------------------------
def _iq_device(fake, ground, excited, noise=0.05, seed=4):
    """Integrated results the way the device forms them: the written weight times the readout
    pulse's carrier, times the resonator response of the prepared state (``ground``/``excited`` per
    qubit), plus noise; prepared states in trigger order from the states' programs."""
    rng = np.random.default_rng(seed)

    def integrated(n):
        qa = f"{DEV}/qachannels/0"
        out = []
        for slot in (0, 1):
            weight = fake.nodes[f"{qa}/readout/integration/weights/{slot}/wave"]
            pulse = fake.nodes[f"{qa}/generator/waveforms/{slot}/wave"][: len(weight)]
            gain = np.sum(weight * pulse / np.abs(pulse).max()) / len(weight)
            bit = fake.prepared_bits[slot]
            response = np.where(bit == 1, excited[slot], ground[slot])
            out.append(gain * response + noise * (rng.normal(size=n) + 1j * rng.normal(size=n)))
        return np.array(out)

    fake.integrated = integrated


def test_integrated_results_calibrate_the_iq_rotation_and_thresholds():
    fake = FakeDAQServer("dev12345")
    readout = ZurichInstrumentsSHFQC("readout", "dev12345", connection=fake)
    shots = 400
    fake.prepared_bits = np.repeat([[0, 1], [0, 1]], shots, axis=1)  # "00" then "11"
    _iq_device(fake, ground=(0.2 + 0.1j, -0.3j), excited=(-0.4 + 0.5j, 0.6 + 0.2j))
    result = readout.calibrate_iq(shots=shots)
    assert fake.value(f"{DEV}/qachannels/0/readout/result/source") == "result_of_integration"
    assert set(result) == {"qubit1_iq_rotation", "qubit1_threshold", "qubit2_iq_rotation", "qubit2_threshold"}
    assert readout.qubit1_iq_rotation() == pytest.approx(np.angle((-0.4 + 0.5j) - (0.2 + 0.1j)), abs=0.02)
    after = readout.measure_prepared_integrated(("00", "11"), shots=shots)
    for qubit, threshold in ((1, readout.qubit1_threshold()), (2, readout.qubit2_threshold())):
        ground, excited = (after.sel(prepared=s, qubit=qubit).values for s in ("00", "11"))
        assert np.mean(ground.real < threshold) > 0.99 and np.mean(excited.real > threshold) > 0.99
        assert abs(np.angle(excited.mean() - ground.mean())) < 0.02  # separation along +real


def test_hold_off_errors_and_missing_results_of_the_result_logger_are_reported(readout, fake):
    fake.holdoff_errors = 3
    with pytest.raises(RuntimeError, match="3 hold-off errors .* repetition_time 0.0001 s is too short"):
        readout.measure(["ZZ"], shots=4)
    assert _idle(fake)


def test_the_node_tree_description_can_be_checked_against_a_device_dump():
    from shfqc_node_tree import NODES, differences_from_device

    dump = {f"/DEV12345/{name.replace('/n/', '/0/').replace('/n', '/0')}".upper(): dict(info) for name, info in NODES.items()}
    assert differences_from_device({k.lower(): v for k, v in dump.items()}) == []
    key = "/dev12345/qachannels/0/generator/auxtriggers/0/channel"
    changed = {k.lower(): v for k, v in dump.items()}
    changed[key] = {**changed[key], "Options": {"0": '"chan0trigin0": Trigger Input A.'}}
    del changed["/dev12345/qachannels/0/readout/result/errors"]
    problems = differences_from_device(changed)
    assert any("auxtriggers/n/channel: options [1, 8, 1024] not on the device" in p for p in problems)
    assert any("readout/result/errors: not on the device" in p for p in problems)


# ---- the readout protocol's times are the programs' pulses ---------------------------------------

def test_the_protocol_times_follow_the_pulse_parameters(readout):
    """One setting of one thing: the twin's pre-rotation and integration windows are what the
    programs play, whatever sets the pulses."""
    readout.drive_pulse_length(64e-9)
    readout.integration_length(1.5e-6)
    readout.freeze(True)
    assert (readout.prerotation_time(), readout.integration_time()) == (64e-9, 1.5e-6)
    protocol = readout.lab_link(_FakeSource()).readout_protocol
    assert (protocol.prerotation_time_s, protocol.integration_time_s, protocol.freeze) == (64e-9, 1.5e-6, True)
    with pytest.raises(ValueError, match=r"prerotation_time follows `drive_pulse_length`; set `drive_pulse_length`"):
        readout.prerotation_time(40e-9)
    with pytest.raises(ValueError, match=r"integration_time follows `integration_length`"):
        readout.integration_time(1e-6)
    assert (readout.prerotation_time(), readout.integration_time()) == (64e-9, 1.5e-6)  # nothing moved


def test_a_protocol_time_given_to_the_shfqc_is_refused_with_the_parameter_to_set(fake):
    with pytest.raises(ValueError, match=r"prerotation_time=4e-08: on ZurichInstrumentsSHFQC the readout protocol's "
                                         r"prerotation_time is its pulse parameter `drive_pulse_length`"):
        ZurichInstrumentsSHFQC("readout", "DEV12345", connection=fake, prerotation_time=40e-9)


def test_station_validation_names_the_pulse_parameter_for_a_protocol_time_of_the_shfqc(tmp_path):
    from thermalink.experiments.station_validation import validate_station_file
    from thermalink.station_configs import station_config_path

    template = station_config_path("lab_template").read_text()
    assert validate_station_file(station_config_path("lab_template")) is not None
    station = tmp_path / "lab.yaml"
    station.write_text(template.replace("      freeze: true", "      integration_time: 1.0e-6\n      freeze: true", 1))
    with pytest.raises(ValueError, match=r"instruments.readout.init.integration_time: .*ZurichInstrumentsSHFQC derives "
                                         r"the readout protocol's integration_time from its pulse parameter "
                                         r"'integration_length'.*set instruments.readout.parameters.integration_length"):
        validate_station_file(station)


class _FakeSource:
    def bandwidth(self):
        return 1e5

    def occupation(self):
        return 1.0

    def center_frequency(self):
        return 6e9
