"""Tissue classes of the image model: backscatter amplitude, scatterer density, amplitude spread and attenuation.

amp      mean backscatter amplitude of one scatterer (linear, arbitrary unit; myocardium 0.2)
density  fraction of the full scatterer density (echo.Imager.density) this tissue keeps (Poisson thinning)
spread   sigma of the log-normal spread of scatterer amplitudes (texture: large = heterogeneous, septated)
atten    attenuation, dB / (cm MHz), one way
flow     True for flowing fluid: its scatterers decorrelate from frame to frame (blood speckle boils)

Values are of the order of the tables in Szabo, "Diagnostic Ultrasound Imaging: Inside Out" (2nd ed., 2014,
appendix B) and Duck, "Physical Properties of Tissue" (1990); contrasts are set so that blood sits 25-30 dB below
myocardium and specular structures (pericardium, valves) 10-15 dB above it, as on clinical echo.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

@dataclass(frozen=True)
class Tissue:
    name: str
    amp: float
    density: float
    spread: float
    atten: float
    flow: bool = False


TISSUES = (
    Tissue("soft", 0.11, 1.0, 0.6, 0.6),
    Tissue("blood", 0.003, 0.6, 0.3, 0.18, True),
    Tissue("myocardium", 0.20, 1.0, 0.45, 0.52),
    Tissue("pericardium", 0.95, 1.0, 0.35, 0.6),
    Tissue("valve", 0.42, 1.0, 0.3, 0.5),
    Tissue("fibrous", 0.40, 1.0, 0.4, 0.6),
    Tissue("fat", 0.34, 1.0, 0.7, 0.6),
    Tissue("lung", 0.045, 0.8, 0.9, 4.0),
    Tissue("pleura", 0.85, 1.0, 0.4, 2.0),
    Tissue("skin", 0.40, 1.0, 0.4, 1.2),
    Tissue("subcutaneous_fat", 0.09, 1.0, 1.0, 0.6),
    Tissue("muscle", 0.12, 1.0, 0.5, 1.0),
    Tissue("liver", 0.21, 1.0, 0.25, 0.5),
    Tissue("kidney_cortex", 0.13, 1.0, 0.3, 0.6),
    Tissue("kidney_medulla", 0.05, 1.0, 0.3, 0.6),
    Tissue("renal_sinus", 0.48, 1.0, 0.6, 0.6),
    Tissue("fluid", 0.002, 0.3, 0.2, 0.005, True),
    Tissue("bone", 1.4, 1.0, 0.3, 40.0),
    Tissue("node_cortex", 0.065, 1.0, 0.4, 0.6),
    Tissue("node_hilum", 0.40, 1.0, 0.5, 0.6),
    Tissue("vessel_wall", 0.60, 1.0, 0.3, 0.6),
    Tissue("gas", 1.2, 1.0, 0.6, 25.0),
    Tissue("organ", 0.16, 1.0, 0.4, 0.7),
    Tissue("pericardial_fluid", 0.01, 0.5, 0.3, 0.05, True),
    Tissue("trabeculae", 0.07, 0.6, 0.8, 0.5),
)
ID = {t.name: i for i, t in enumerate(TISSUES)}
AMP = np.array([t.amp for t in TISSUES], np.float32)
DENSITY = np.array([t.density for t in TISSUES], np.float32)
SPREAD = np.array([t.spread for t in TISSUES], np.float32)
ATTEN = np.array([t.atten for t in TISSUES], np.float32)
FLOW = np.array([t.flow for t in TISSUES], bool)
