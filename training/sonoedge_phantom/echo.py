"""Image formation: discrete scatterers to a grey-level frame, in beam coordinates.

1. Scatterers: point reflectors at continuous random positions (a Poisson field of about SCATTERERS_PER_CELL per
   resolution cell at the focus, at most MAX_SCATTERERS, thinned per tissue), each with a log-normal amplitude and the two-way phase of its exact range, exp(2jkr). Tissue scatterers
   move with the tissue (speckle stays coherent from frame to frame); scatterers in flowing blood get a fresh random
   phase every frame.
2. Beam sampling: each scatterer's complex echo is spread bilinearly onto a fine (range x beam) grid.
3. Attenuation: a per-tissue attenuation coefficient is integrated along every beam (two-way, linear in frequency),
   so fluid gives posterior enhancement, bone and lung shadow; element directivity darkens the sector edges.
4. Pulse-echo point-spread function, separable and depth-dependent: laterally the two-way diffraction pattern of
   the aperture, sinc^2(u / w(r)), with side lobes (w widens away from the transmit focus); axially an asymmetric
   pulse envelope (gamma shape: fast rise, ring-down tail). Both applied in the Fourier domain.
5. Near-field clutter (reverberation haze under the probe with echoes at multiples of the chest-wall depth,
   fixed to the probe) and electronic noise (white, band-limited by the pulse, constant before gain).
6. Time-gain compensation against a nominal attenuation, envelope detection, log compression to a dynamic range
   with a reference level set once per cine from the median of a reference tissue (the scanner's auto-gain),
   and a grey map.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .probe import Probe
from .tissue import AMP, ATTEN, DENSITY, FLOW, SPREAD

SCATTERERS_PER_CELL = 8.0
MAX_SCATTERERS = 300_000


@dataclass(frozen=True)
class Settings:
    gain_db: float = 0.0          # added to the auto-gain level (gain_low / gain_high variants)
    dynamic_range: float = 58.0   # dB
    ref_grey: float = 0.52        # grey (0..1) of the reference tissue's median
    gamma: float = 1.15           # grey map exponent
    noise_db: float = -28.0       # electronic noise at full depth, relative to the reference tissue (dB)
    clutter_db: float = -14.0     # near-field clutter at 5 mm below the face, relative to the reference tissue
    clutter_depth: float = 18.0   # decay length of the clutter (mm)
    reverb_depth: float = 0.0     # spacing of reverberation echoes (mm); 0 = none
    tgc_alpha: float = 0.45       # nominal attenuation compensated by the TGC (dB / cm MHz)
    tgc_wiggle: tuple = (0.0, 0.0, 0.0, 0.0)  # user TGC slider offsets (dB) at 4 depths


class Imager:
    def __init__(self, probe: Probe, settings: Settings, rng: np.random.Generator):
        self.probe = probe
        self.s = settings
        lam = probe.wavelength
        fwhm = 0.5 * lam * probe.cycles  # range FWHM of the pulse envelope (mm)
        self.dr = fwhm / 2.6
        self.n_r = int(np.ceil(probe.depth / self.dr)) + 1
        self.r = probe.r0 + np.arange(self.n_r) * self.dr
        below = self.r - probe.r0
        # lateral two-way beam width (first zero of sinc^2), mm, then in beam units
        w_mm = 0.75 * lam / probe.aperture * np.maximum(below, 6.0) * (1 + 0.9 * np.abs(below - probe.focus) /
                                                                         probe.focus)
        w_mm = np.maximum(w_mm, 0.9 * lam)
        if probe.kind == "linear":
            w_u = w_mm
        else:
            w_u = np.minimum(w_mm / np.maximum(self.r, 1.0), 0.2)
        # scatterer density: enough per resolution cell (FWHM x FWHM at the focus) for developed speckle
        w_focus = float(np.interp(probe.focus, below, w_mm)) * 0.886
        self.density = float(np.clip(SCATTERERS_PER_CELL / (fwhm * w_focus), 3.0, MAX_SCATTERERS / probe.area()))
        u0, u1 = probe.u_range
        du_target = np.percentile(w_u, 5) / 2.6
        self.n_u = int(np.clip(np.ceil((u1 - u0) / du_target), 96, 360))
        self.du = (u1 - u0) / (self.n_u - 1)
        self.pad = int(min(np.ceil(3 * w_u.max() / self.du), self.n_u))
        self.n_up = int(2 ** np.ceil(np.log2(self.n_u + 2 * self.pad)))
        lag = (np.fft.fftfreq(self.n_up) * self.n_up) * self.du
        x = lag[None, :] / w_u[:, None]
        kern = np.sinc(x) ** 2 * np.exp(-0.5 * (x / 2.5) ** 2)
        kern /= kern.sum(1, keepdims=True)
        self.h_lat = np.fft.fft(kern, axis=1).astype(np.complex64)
        # axial pulse: gamma envelope x^2 e^-x, FWHM about 3.4 tau, peak aligned with the scatterer's range
        tau = fwhm / 3.4
        n_k = int(np.ceil(14 * tau / self.dr))
        rr = np.arange(n_k) * self.dr
        env = (rr / tau) ** 2 * np.exp(-rr / tau)
        env /= np.sqrt((env ** 2).sum())
        self.shift = int(round(2 * tau / self.dr))
        self.n_rp = int(2 ** np.ceil(np.log2(self.n_r + n_k)))
        self.h_ax = np.fft.fft(env, self.n_rp).astype(np.complex64)
        self.k2 = 2 * 2 * np.pi / lam  # two-way wavenumber
        # TGC and directivity
        tgc_db = 2 * settings.tgc_alpha * probe.f0 * below / 10.0
        tgc_db = tgc_db + np.interp(below, np.linspace(0, probe.depth, 4), settings.tgc_wiggle)
        self.tgc = (10 ** (tgc_db / 20)).astype(np.float32)
        uu = u0 + np.arange(self.n_u) * self.du
        self.u = uu
        self.directivity = (np.cos(uu) ** 1.5).astype(np.float32) if probe.kind == "phased" else np.ones(self.n_u,
                                                                                                         np.float32)
        # coarse grid for attenuation (1 mm x every 2nd beam)
        self.n_rc = int(np.ceil(probe.depth / 1.0)) + 1
        self.rc = probe.r0 + np.linspace(0, probe.depth, self.n_rc)
        self.uc = np.linspace(u0, u1, max(self.n_u // 2, 32))
        ug, rg = np.meshgrid(self.uc, self.rc)
        self.coarse_xz = probe.to_image(ug, rg)
        # static clutter field: white complex scatter under the probe, shaped in depth
        prof = np.exp(-np.maximum(below - 3.0, 0) / settings.clutter_depth)
        if settings.reverb_depth > 0:
            for k in (1, 2, 3):
                prof = prof + 0.6 ** k * np.exp(-0.5 * ((below - k * settings.reverb_depth) / 1.2) ** 2)
        field = (rng.standard_normal((self.n_r, self.n_u)) + 1j * rng.standard_normal((self.n_r, self.n_u)))
        self.clutter = self._psf(field * prof[:, None]).astype(np.complex64)
        self.noise_rng = rng
        self.calibrated = False
        self.sigma_noise = 0.0
        self.clutter_scale = 0.0
        self.ref_db = 0.0

    # ---- the stages ----

    def splat(self, X, Z, amp_c):
        """Complex scatterer echoes to the (range x beam) grid, bilinear in both coordinates."""
        u, r = self.probe.to_beam(X, Z)
        fr = (r - self.probe.r0) / self.dr
        fu = (u - self.probe.u_range[0]) / self.du
        ok = (fr >= 0) & (fr < self.n_r - 1) & (fu >= 0) & (fu < self.n_u - 1)
        fr, fu, a = fr[ok], fu[ok], amp_c[ok] * np.exp(1j * self.k2 * r[ok])
        ir, iu = fr.astype(np.int64), fu.astype(np.int64)
        wr, wu = fr - ir, fu - iu
        idx, wts = [], []
        for dr_, dw_r in ((0, 1 - wr), (1, wr)):
            for du_, dw_u in ((0, 1 - wu), (1, wu)):
                idx.append((ir + dr_) * self.n_u + iu + du_)
                wts.append(dw_r * dw_u)
        idx = np.concatenate(idx)
        w = np.concatenate(wts)
        aa = np.concatenate([a] * 4)
        n = self.n_r * self.n_u
        re = np.bincount(idx, weights=w * aa.real, minlength=n)
        im = np.bincount(idx, weights=w * aa.imag, minlength=n)
        return (re + 1j * im).reshape(self.n_r, self.n_u).astype(np.complex64)

    def attenuation(self, tissue_coarse):
        """Two-way amplitude factor on the fine grid from tissue ids on the coarse grid."""
        alpha = ATTEN[tissue_coarse] * (2 * self.probe.f0 / 10.0)  # dB per mm, two-way
        step = self.rc[1] - self.rc[0]
        cum = np.cumsum(alpha, 0) * step - alpha * step * 0.5
        fac = (10 ** (-cum / 20)).astype(np.float32)
        return cv2.resize(fac, (self.n_u, self.n_r), interpolation=cv2.INTER_LINEAR)

    def _psf(self, S):
        """Lateral then axial point-spread function (both linear, separable, lateral one depth-dependent)."""
        P = np.zeros((S.shape[0], self.n_up), np.complex64)
        P[:, self.pad:self.pad + self.n_u] = S
        P = np.fft.ifft(np.fft.fft(P, axis=1) * self.h_lat[:S.shape[0]], axis=1)[:, self.pad:self.pad + self.n_u]
        return self._axial(P)

    def _axial(self, P):
        Q = np.fft.ifft(np.fft.fft(P, self.n_rp, axis=0) * self.h_ax[:, None], axis=0)
        return Q[self.shift:self.shift + P.shape[0]]

    def envelope_db(self, S, atten, tissue_coarse, ref_tissue):
        """Beam-domain scatter map -> log envelope (dB). The first call calibrates, from that frame: the automatic
        TGC (as a scanner's tissue optimisation, from the attenuation actually met along the beams), the reference
        level (median echo of ref_tissue), the noise and the clutter."""
        sig = self._psf(S * atten * self.directivity[None, :]) * self.tgc[:, None]
        if not self.calibrated:
            shape_c = (len(self.uc), self.n_rc)
            att_c = cv2.resize(atten, shape_c, interpolation=cv2.INTER_AREA)
            pc = cv2.resize((np.abs(sig) ** 2).astype(np.float32), shape_c, interpolation=cv2.INTER_AREA)
            # automatic TGC: level out 70% of the difference between the attenuation met along the beams (median
            # over the beams not yet shadowed by 40 dB) and the nominal one the TGC assumes, within +-12 dB
            below_c = self.rc - self.probe.r0
            met_db = -20 * np.log10(np.maximum(att_c, 1e-12))
            met = np.array([np.median(row[row < 40]) if (row < 40).any() else np.nan for row in met_db])
            met = np.where(np.isfinite(met), met, 2 * self.s.tgc_alpha * self.probe.f0 * (self.rc - self.probe.r0) / 10)
            nominal = 2 * self.s.tgc_alpha * self.probe.f0 * below_c / 10.0
            k = 10
            sm = np.convolve(np.pad(met - nominal, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), "valid")
            corr = np.clip(0.7 * sm, -12, 12)
            g = (10 ** (np.interp(self.r, self.rc, corr) / 20)).astype(np.float32)
            self.tgc = self.tgc * g
            sig = sig * g[:, None]
            pc = pc * (10 ** (corr / 10))[:, None].astype(np.float32)
            solid = (AMP[tissue_coarse] >= 0.1) & ~FLOW[tissue_coarse] & (ATTEN[tissue_coarse] < 3) & (att_c > 0.05)
            sel = (tissue_coarse == ref_tissue) & (att_c > 0.05)
            if sel.sum() < 20:
                sel = solid if solid.sum() >= 20 else pc > np.percentile(pc, 60)
            p_ref = float(np.median(pc[sel]))
            self.ref_db = 10 * np.log10(p_ref + 1e-30)
            # noise: constant before TGC, at noise_db relative to the tissue at full depth after TGC
            self.sigma_noise = np.sqrt(p_ref * 10 ** (self.s.noise_db / 10)) / self.tgc[-1]
            below = self.r - self.probe.r0
            i5 = int(np.argmin(np.abs(below - 5.0)))
            p_cl = float(np.mean(np.abs(self.clutter[i5] * self.tgc[i5]) ** 2))
            self.clutter_scale = np.sqrt(p_ref * 10 ** (self.s.clutter_db / 10) / max(p_cl, 1e-30))
            self.calibrated = True
        rng = self.noise_rng
        noise = (rng.standard_normal(sig.shape, np.float32) + 1j * rng.standard_normal(sig.shape, np.float32))
        noise = self._axial(noise * np.float32(self.sigma_noise / np.sqrt(2)))
        total = sig + (self.clutter * self.clutter_scale + noise) * self.tgc[:, None]
        return 10 * np.log10(np.abs(total) ** 2 + 1e-30).astype(np.float32)

    def grey(self, db):
        """Log-compressed grey levels 0..1: the reference tissue's median at ref_grey, shifted by gain_db."""
        s = self.s
        lo = self.ref_db - s.gain_db - s.ref_grey * s.dynamic_range
        v = np.clip((db - lo) / s.dynamic_range, 0, 1)
        return v ** s.gamma

    # ---- one frame ----

    def scatter_map(self, X, Z, tissue, z_amp, keep_u, gain=None, flow_phase=None):
        """Complex amplitudes of the scatterers kept by their tissue's density, splatted to the beam grid."""
        keep = keep_u < DENSITY[tissue]
        amp = AMP[tissue] * np.exp(SPREAD[tissue] * z_amp - 0.5 * SPREAD[tissue] ** 2)
        if gain is not None:
            amp = amp * gain
        amp_c = amp.astype(np.complex128)
        if flow_phase is not None:
            fl = FLOW[tissue]
            amp_c[fl] *= np.exp(1j * flow_phase[fl])
        return self.splat(X[keep], Z[keep], amp_c[keep])
