"""The SHFQC+ readout driver against a fake LabOne connection (no data server here)."""

import numpy as np
import pytest
import zhinst.core
from fake_zi_connection import FakeDAQServer

from thermalink.drivers.two_qubit_readout import PAULI_SETTINGS, TwoQubitReadout
from thermalink.drivers.zi_readout import SAMPLING_RATE, ZurichInstrumentsSHFQC

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
