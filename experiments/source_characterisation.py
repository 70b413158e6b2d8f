"""Source characterisation: the filtered thermal noise on the spectrum analyzer, fitted.

The analyzer (the station's ``spectrum_analyzer``) sees the filter's output through an amplifier
chain of power gain ``G`` (``chain_gain_dB``) and added noise ``n_amp`` (photons referred to the
chain input). A trace point at frequency ``f`` measured in the resolution bandwidth ``RBW`` is

    P(f) = h f (n(f) + n_amp) RBW G,    n(f) = 4 k_in k_out / k^2 * N_h / (1 + (2 (f - f_c) / B)^2)

with the filter's FWHM ``B`` (``kappa/2pi``), centre ``f_c`` and source occupation ``N_h`` at its
hot input. :func:`characterise_source` measures the spectrum around the set centre with the
source output on and off (off: the filter sees a cold termination, so the trace is the chain's
floor ``n_amp``), converts both to photons, fits the Lorentzian plus a constant baseline to the
difference (``scipy.optimize.curve_fit``, weighted by the radiometer noise the first-pass model
predicts at each point, proportional to ``hypot(n_on, n_off)``), and infers
``N_h = n_peak / (4 c (1 - c))`` with ``c = in_coupling = k_in / k``.

Assumptions (stated once, here): the filter has no internal loss (``k_out = k - k_in``); the
analyzer's resolution filter is set to its noise-equivalent bandwidth (``res_bw_type NOISE``) and
is narrow (``rbw_fraction`` of the set bandwidth, 5 % by default) so the trace samples the
Lorentzian without broadening it; the detector averages power (``AVER``, ``RMS``); ``G`` and
``c`` are known exactly (their errors are not in the quoted uncertainties); the Bose factor of
the hot load is constant over the filter band. Fit uncertainties are one standard deviation from
the covariance of the fit, scaled by its residuals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.optimize import curve_fit

from thermalink.simulators.errors import InputError
from thermalink.simulators.lab_units import PLANCK

#: Largest resolution bandwidth of the N9030B, Hz (smallest: 1 Hz).
MAX_RES_BW_HZ = 8e6
#: Plausible gain of the amplifier chain between the filter output and the analyzer, dB.
MIN_GAIN_DB, MAX_GAIN_DB = -50.0, 120.0
#: Relative radiometer noise per trace point the automatic sweep time aims at.
TARGET_POINT_NOISE = 0.05


def lorentzian(frequency, peak, center, fwhm, baseline):
    """``peak / (1 + (2 (f - center) / fwhm)^2) + baseline`` (photons; frequencies in Hz)."""
    return peak / (1.0 + (2.0 * (frequency - center) / fwhm) ** 2) + baseline


def photons(power_dBm: np.ndarray, frequency_Hz: np.ndarray, res_bw_Hz: float, gain_dB: float) -> np.ndarray:
    """Trace power (dBm) -> occupation at the chain input: ``P / (h f RBW G)``."""
    power_W = 1e-3 * 10 ** (np.asarray(power_dBm) / 10)
    return power_W / (PLANCK * np.asarray(frequency_Hz) * res_bw_Hz * 10 ** (gain_dB / 10))


@dataclass(frozen=True)
class SourceCharacterisation:
    """Fitted noise spectrum of the source next to its settings (SI units; conventions in the
    module docstring). ``*_stderr`` are one-standard-deviation fit uncertainties."""

    center_Hz: float
    center_stderr_Hz: float
    bandwidth_Hz: float
    bandwidth_stderr_Hz: float
    peak_occupation: float
    peak_occupation_stderr: float
    source_occupation: float
    source_occupation_stderr: float
    amplifier_noise: float
    set_center_Hz: float
    set_bandwidth_Hz: float
    set_occupation: float
    in_coupling: float
    chain_gain_dB: float
    res_bw_Hz: float
    spectrum: xr.Dataset
    plot: Path | None = None

    def comparison(self) -> dict[str, tuple[float, float, float, float]]:
        """``name -> (fitted, stderr, set, relative deviation)`` for centre, bandwidth, N_h."""
        rows = {
            "center_Hz": (self.center_Hz, self.center_stderr_Hz, self.set_center_Hz),
            "bandwidth_Hz": (self.bandwidth_Hz, self.bandwidth_stderr_Hz, self.set_bandwidth_Hz),
            "source_occupation": (self.source_occupation, self.source_occupation_stderr, self.set_occupation),
        }
        return {name: (fit, err, set_, (fit - set_) / set_ if set_ else float("nan"))
                for name, (fit, err, set_) in rows.items()}

    def summary(self) -> str:
        """A text table of fitted against set values."""
        lines = [f"{'':>18s} {'fitted':>14s} {'+-':>11s} {'set':>14s} {'deviation':>10s}"]
        for name, (fit, err, set_, deviation) in self.comparison().items():
            lines.append(f"{name:>18s} {fit:14.6g} {err:11.3g} {set_:14.6g} {100 * deviation:9.2f}%")
        lines.append(f"{'peak occupation':>18s} {self.peak_occupation:14.6g} {self.peak_occupation_stderr:11.3g}"
                     f"  (filter output; 4 c (1 - c) N_h with c = {self.in_coupling:g})")
        lines.append(f"{'amplifier floor':>18s} {self.amplifier_noise:14.6g}  photons "
                     f"(chain gain {self.chain_gain_dB:g} dB, RBW {self.res_bw_Hz:g} Hz)")
        return "\n".join(lines)


def characterise_source(
    lab,
    *,
    span_bandwidths: float = 10.0,
    npts: int = 401,
    rbw_fraction: float = 0.05,
    chain_gain_dB: float | None = None,
    sweep_time_s: float | None = None,
    plot_path: str | Path | None = None,
) -> SourceCharacterisation:
    """Measure and fit the source's noise spectrum at its current settings.

    Args:
        lab: a ``LabStation`` whose station declares ``spectrum_analyzer``.
        span_bandwidths: span of the trace in set bandwidths (> 2), centred on the set centre.
        npts: trace points (>= 11).
        rbw_fraction: resolution bandwidth as a fraction of the set bandwidth, in (0, 0.2]
            (bounded to the analyzer's 1 Hz .. 8 MHz).
        chain_gain_dB: gain from the filter output to the analyzer, dB; default: the analyzer's
            ``gain`` parameter (the virtual analyzer has one), else ValueError.
        sweep_time_s: analyzer sweep time, s; default: long enough for a relative radiometer
            noise of :data:`TARGET_POINT_NOISE` per point (``npts / (RBW * 0.05^2)``).
        plot_path: where to write a PNG of the data and the fit (None: no plot).

    The source output is switched on for the first trace, off for the second, then restored.
    """
    if not (np.isfinite(span_bandwidths) and span_bandwidths > 2):
        raise InputError(f"span_bandwidths={span_bandwidths!r} is outside the allowed range (2, inf)")
    if not (isinstance(npts, (int, np.integer)) and npts >= 11):
        raise InputError(f"npts={npts!r} is outside the allowed range: integers >= 11")
    if not 0 < rbw_fraction <= 0.2:
        raise InputError(f"rbw_fraction={rbw_fraction!r} is outside the allowed range (0, 0.2]")
    if sweep_time_s is not None and not (np.isfinite(sweep_time_s) and sweep_time_s > 0):
        raise InputError(f"sweep_time_s={sweep_time_s!r} is outside the allowed range (0, inf) s")
    if chain_gain_dB is not None and not (np.isfinite(chain_gain_dB) and MIN_GAIN_DB <= chain_gain_dB <= MAX_GAIN_DB):
        raise InputError(f"chain_gain_dB={chain_gain_dB!r} is outside the allowed range [{MIN_GAIN_DB}, {MAX_GAIN_DB}] dB")
    analyzer = lab.instrument("spectrum_analyzer")
    if chain_gain_dB is None:
        if "gain" not in analyzer.parameters:
            raise InputError(
                f"chain_gain_dB=None but {analyzer.name} has no 'gain' parameter; pass the gain from the "
                "filter output to the analyzer in dB"
            )
        chain_gain_dB = float(analyzer.gain())
    source = lab.source
    center, bandwidth = float(source.center_frequency()), float(source.bandwidth())
    in_coupling = float(source.in_coupling())
    if not 0 < in_coupling < 1:
        raise InputError(f"{source.name}.in_coupling={in_coupling} must be in (0, 1) to infer N_h")

    res_bw = float(np.clip(rbw_fraction * bandwidth, 1.0, MAX_RES_BW_HZ))
    analyzer.sa.res_bw(res_bw)
    analyzer.sa.res_bw_type("NOISE")
    analyzer.sa.detector("AVER")
    analyzer.sa.average_type("RMS")
    if sweep_time_s is None:
        sweep_time_s = float(np.clip(npts / (res_bw * TARGET_POINT_NOISE**2), 1e-3, 4000.0))
    analyzer.sa.sweep_time(sweep_time_s)
    span = span_bandwidths * bandwidth

    was_on = bool(source.output())
    try:
        source.output(True)
        on = analyzer.noise_spectrum(center, span, npts)
        set_occupation = float(source.occupation())
        source.output(False)
        off = analyzer.noise_spectrum(center, span, npts)
    finally:
        source.output(was_on)

    frequency = on.frequency.values
    n_on = photons(on.values, frequency, res_bw, chain_gain_dB)
    n_off = photons(off.values, frequency, res_bw, chain_gain_dB)
    excess = n_on - n_off
    half = excess >= excess.max() / 2
    guess = [excess.max(), frequency[np.argmax(excess)],
             max(frequency[half].max() - frequency[half].min(), 2 * (frequency[1] - frequency[0])), 0.0]
    floor = float(np.mean(n_off))
    try:
        # radiometer noise is proportional to the power: weight by the model, not by the noisy data
        # (data weights favour points that fluctuated low and bias the peak), so fit twice
        popt, _ = curve_fit(lorentzian, frequency, excess, p0=guess, maxfev=10_000)
        for _ in range(2):
            model_on = np.clip(lorentzian(frequency, *popt) - popt[3], 0.0, None) + floor
            popt, pcov = curve_fit(lorentzian, frequency, excess, p0=popt, sigma=np.hypot(model_on, floor),
                                   absolute_sigma=False, maxfev=10_000)
    except RuntimeError as error:
        raise InputError(f"the Lorentzian fit of the source spectrum failed ({error}); is the output reaching "
                         f"the analyzer at {center:g} Hz?") from error
    stderr = np.sqrt(np.clip(np.diag(pcov), 0.0, None))
    peak, fitted_center, fwhm, baseline = popt
    transmission = 4 * in_coupling * (1 - in_coupling)
    spectrum = xr.Dataset(
        {"on": ("frequency", n_on), "off": ("frequency", n_off),
         "fit": ("frequency", lorentzian(frequency, *popt))},
        coords={"frequency": frequency},
        attrs={"units": "photons at the chain input", "frequency_units": "Hz", "res_bw_Hz": res_bw,
               "chain_gain_dB": chain_gain_dB, "sweep_time_s": sweep_time_s, "baseline": float(baseline)},
    )
    result = SourceCharacterisation(
        center_Hz=float(fitted_center), center_stderr_Hz=float(stderr[1]),
        bandwidth_Hz=float(abs(fwhm)), bandwidth_stderr_Hz=float(stderr[2]),
        peak_occupation=float(peak), peak_occupation_stderr=float(stderr[0]),
        source_occupation=float(peak / transmission), source_occupation_stderr=float(stderr[0] / transmission),
        amplifier_noise=floor,
        set_center_Hz=center, set_bandwidth_Hz=bandwidth, set_occupation=set_occupation,
        in_coupling=in_coupling, chain_gain_dB=float(chain_gain_dB), res_bw_Hz=res_bw, spectrum=spectrum,
    )
    if plot_path is not None:
        result = _with_plot(result, Path(plot_path))
    return result


def _with_plot(result: SourceCharacterisation, path: Path) -> SourceCharacterisation:
    """Write the PNG (on/off spectra; excess with the fit) and return the result pointing to it."""
    import dataclasses

    from matplotlib.figure import Figure

    spectrum = result.spectrum
    offset_MHz = (spectrum.frequency.values - result.set_center_Hz) / 1e6
    fig = Figure(figsize=(6.4, 6.0), constrained_layout=True)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(offset_MHz, spectrum["on"], ".", ms=2, label="output on")
    top.plot(offset_MHz, spectrum["off"], ".", ms=2, label="output off (amplifier floor)")
    top.set_ylabel("occupation at chain input")
    top.legend()
    bottom.plot(offset_MHz, spectrum["on"] - spectrum["off"], ".", ms=2, color="0.4", label="on - off")
    bottom.plot(offset_MHz, spectrum["fit"], "-", color="C3",
                label=f"fit: B = {result.bandwidth_Hz:.4g} Hz (set {result.set_bandwidth_Hz:.4g}),\n"
                      f"N_h = {result.source_occupation:.4g} (set {result.set_occupation:.4g})")
    bottom.set_xlabel(f"frequency - {result.set_center_Hz / 1e9:.6g} GHz (MHz)")
    bottom.set_ylabel("filter output occupation")
    bottom.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return dataclasses.replace(result, plot=path)
