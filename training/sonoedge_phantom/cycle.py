"""The cardiac time curve: how far the ventricle has emptied, f in [0, 1] (0 = end-diastole, 1 = end-systole).

One beat is a sequence of phases (Wiggers diagram): isovolumic contraction, ejection, isovolumic relaxation, rapid
filling, diastasis, atrial kick. The curve is a monotone piecewise-cubic (PCHIP) interpolation through the phase
boundaries, so it never overshoots [0, 1] and stays flat where the volume does (isovolumic phases, diastasis).
Systole takes a larger share of the beat as the heart rate rises.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator


@dataclass(frozen=True)
class Beat:
    heart_rate: float   # beats per minute
    knots: tuple        # phase (fraction of the beat) of each boundary
    values: tuple       # f at each boundary
    mitral_open: tuple  # (open from, close at) as phases; the mitral valve is shut in systole and isovolumic phases
    aortic_open: tuple  # (open from, close at)

    @property
    def period(self) -> float:
        return 60.0 / self.heart_rate

    def emptying(self, t) -> np.ndarray:
        """f at times t (seconds, any phase)."""
        phase = np.mod(np.asarray(t, np.float64) / self.period, 1.0)
        return np.clip(PchipInterpolator(self.knots, self.values)(phase), 0.0, 1.0)

    def phase(self, t) -> np.ndarray:
        return np.mod(np.asarray(t, np.float64) / self.period, 1.0)

    def valve_opening(self, t, which: str) -> np.ndarray:
        """0 (shut) .. 1 (fully open), with 30 ms ramps at opening and closing."""
        a, b = self.mitral_open if which == "mitral" else self.aortic_open
        ph = self.phase(t)
        ramp = 0.03 / self.period
        inside = np.clip(np.minimum(ph - a, b - ph) / ramp, 0.0, 1.0)
        if which == "mitral":
            # leaflets drift half shut during diastasis and reopen with the atrial kick
            d0, a0 = self.knots[5], self.knots[6]
            dia = np.clip((ph - d0) / (0.3 * (a0 - d0)), 0, 1) * np.clip((a0 - ph) / ramp, 0, 1)
            inside = inside * (1.0 - 0.45 * dia)
        return inside


def sample_beat(rng: np.random.Generator, heart_rate: float) -> Beat:
    """A beat with jittered phase boundaries. f rises from 0 at ED to 1 at ES, then refills in three steps."""
    systole = float(np.clip(0.30 + 0.0022 * (heart_rate - 60) + rng.normal(0, 0.015), 0.26, 0.46))
    ivc = rng.uniform(0.035, 0.06)
    ivr = rng.uniform(0.05, 0.08)
    rapid = rng.uniform(0.12, 0.18)
    atrial_start = rng.uniform(0.80, 0.86)
    atrial_end = rng.uniform(0.94, 0.975)
    early = rng.uniform(0.62, 0.8)      # share of the refilling done in rapid filling
    dias = rng.uniform(0.05, 0.12)      # share done in diastasis; the atrial kick does the rest
    k_es = systole
    k_ivr = k_es + ivr
    k_rf = k_ivr + rapid
    k_mid = ivc + 0.42 * (k_es - ivc)   # most of the stroke volume leaves early in ejection
    atrial_start = max(atrial_start, k_rf + 0.05)
    knots = (0.0, ivc, k_mid, k_es, k_ivr, k_rf, atrial_start, atrial_end, 1.0)
    values = (0.0, 0.0, rng.uniform(0.62, 0.72), 1.0, 1.0, 1.0 - early, 1.0 - early - dias, 0.0, 0.0)
    # knots[4]: rapid-filling start (end of IVR), knots[5]: diastasis start, knots[6]: atrial start
    return Beat(heart_rate=float(heart_rate), knots=knots, values=values,
                mitral_open=(k_ivr, atrial_end + 0.01), aortic_open=(ivc, k_es))
