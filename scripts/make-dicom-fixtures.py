"""Writes the DICOM fixtures of test/fixtures/dicom/ with pydicom and Pillow,
encoders independent of sonoedge's readers (src/io/). Run once, commit the
output; the tap tests read the committed files and need no Python:

    training/.venv/bin/python scripts/make-dicom-fixtures.py

Gray fixtures are the first frames of the bundled sample cine
(models/samples/a4c_cine_16f.dcm); colour fixtures are a pattern the tests
recompute: R = 5x, G = 7y, B = x + y + 10f (mod 256) at column x, row y, frame f.
"""
from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit, RLELossless

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "dicom"
GRAY_FRAMES = 4


def pattern(frames: int, rows: int, cols: int) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:cols]
    out = np.zeros((frames, rows, cols, 3), np.uint8)
    for f in range(frames):
        out[f, ..., 0] = (5 * x) % 256
        out[f, ..., 1] = (7 * y) % 256
        out[f, ..., 2] = (x + y + 10 * f) % 256
    return out


def with_frames(ds: pydicom.Dataset, frames: np.ndarray, syntax: str) -> pydicom.Dataset:
    """A copy of ds holding `frames` (uint8 [F,H,W] or [F,H,W,3]), uncompressed."""
    d = copy.deepcopy(ds)
    d.file_meta.TransferSyntaxUID = syntax
    d.NumberOfFrames = frames.shape[0]
    d.Rows, d.Columns = frames.shape[1], frames.shape[2]
    rgb = frames.ndim == 4
    d.SamplesPerPixel = 3 if rgb else 1
    d.PhotometricInterpretation = "RGB" if rgb else "MONOCHROME2"
    if rgb:
        d.PlanarConfiguration = 0
    d.PixelData = np.ascontiguousarray(frames).tobytes()
    return d


def jpeg_frames(frames: np.ndarray, quality: int, subsampling: int) -> list[bytes]:
    out = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=quality, subsampling=subsampling)
        out.append(buf.getvalue())
    return out


def pillow_decode(blobs: list[bytes]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(io.BytesIO(b))) for b in blobs])


def save(ds: pydicom.Dataset, name: str) -> None:
    ds.save_as(str(OUT / name), enforce_file_format=True)
    print(f"{name}: {(OUT / name).stat().st_size} bytes, {ds.file_meta.TransferSyntaxUID.name}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sample = pydicom.dcmread(str(ROOT / "models" / "samples" / "a4c_cine_16f.dcm"))
    gray = sample.pixel_array[:GRAY_FRAMES]
    reference: dict[str, object] = {}

    # RLE Lossless, gray: pydicom's own RLE encoder.
    d = with_frames(sample, gray, ExplicitVRLittleEndian)
    d.compress(RLELossless, encoding_plugin="pydicom")
    save(d, "a4c_rle.dcm")

    # JPEG Baseline, gray: Pillow (libjpeg) encodes each frame.
    blobs = jpeg_frames(gray, 95, 0)
    d = with_frames(sample, gray, JPEGBaseline8Bit)
    d.PixelData = encapsulate(blobs)
    d["PixelData"].VR = "OB"
    d["PixelData"].is_undefined_length = True
    d.LossyImageCompression = "01"
    save(d, "a4c_jpeg.dcm")
    dec = pillow_decode(blobs).astype(np.int16)
    reference["a4c_jpeg.dcm"] = {
        "pillowMeanAbsErr": float(np.abs(dec - gray).mean()),
        "pillowFrameMeans": [float(m) for m in dec.reshape(GRAY_FRAMES, -1).mean(axis=1)],
    }

    # Colour: RLE (three segments per frame) and JPEG 4:2:2 (YBR_FULL_422).
    rgb = pattern(2, 30, 40)
    d = with_frames(sample, rgb, ExplicitVRLittleEndian)
    del d.SequenceOfUltrasoundRegions, d.ImageComments
    d.PixelSpacing = [0.25, 0.5]
    d.compress(RLELossless, encoding_plugin="pydicom")
    save(d, "rgb_rle.dcm")

    blobs = jpeg_frames(rgb, 95, 1)
    d = with_frames(sample, rgb, JPEGBaseline8Bit)
    del d.SequenceOfUltrasoundRegions, d.ImageComments
    d.PhotometricInterpretation = "YBR_FULL_422"
    d.PixelData = encapsulate(blobs)
    d["PixelData"].VR = "OB"
    d["PixelData"].is_undefined_length = True
    save(d, "rgb_jpeg.dcm")
    dec = pillow_decode(blobs).astype(np.int16)
    reference["rgb_jpeg.dcm"] = {"pillowMeanAbsErr": float(np.abs(dec - rgb).mean())}

    # Implicit VR little endian, with a region box smaller than the frame.
    small = gray[:2, 100:124, 100:132]
    d = with_frames(sample, small, ImplicitVRLittleEndian)
    r = d.SequenceOfUltrasoundRegions[0]
    r.RegionLocationMinX0, r.RegionLocationMinY0, r.RegionLocationMaxX1, r.RegionLocationMaxY1 = 4, 2, 27, 21
    r.PhysicalDeltaX = r.PhysicalDeltaY = 0.05
    d.ImageComments = "free text, not JSON"
    save(d, "implicit_gray.dcm")

    # JPEG 2000: the transfer syntax the reader refuses (the payload is never decoded).
    d = with_frames(sample, small, JPEG2000Lossless)
    d.PixelData = encapsulate([b"\xff\x4f\xff\x51 not decoded", b"\xff\x4f\xff\x51 not decoded"])
    d["PixelData"].VR = "OB"
    d["PixelData"].is_undefined_length = True
    save(d, "j2k.dcm")

    (OUT / "reference.json").write_text(json.dumps(reference, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
