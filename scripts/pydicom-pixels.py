"""The reference side of test/unit/io.dicom.pydicom.test.ts: pydicom with
pylibjpeg (libjpeg, OpenJPEG, RLE plugins) decodes DICOM files, and writes what
it got for the test to compare with sonoedge's decoder, value for value.

    python scripts/pydicom-pixels.py make OUT_DIR SAMPLE HTJ2K_DIR
        writes ultrasound-shaped files that pydicom's wheel lacks into OUT_DIR:
        the bundled cine (SAMPLE) in JPEG 2000, JPEG-LS and RLE, colour by
        plane, YBR_FULL, segmented and plain PALETTE COLOR, and the HTJ2K
        codestreams the test encoded with OpenJPH (HTJ2K_DIR/*.j2c + .json)
        wrapped as DICOM.
    python scripts/pydicom-pixels.py dump OUT_DIR FILE...
        for each FILE writes OUT_DIR/<index>.bin (the pixel_array's bytes,
        little endian; after apply_color_lut for PALETTE COLOR) and prints one
        JSON line: index, file, ok, dtype, shape, photometric, or error.
    python scripts/pydicom-pixels.py us-data
        prints the path of every US-modality file of pydicom-data (pydicom's
        larger test files, a package of their own; looked up where pydicom's
        get_testdata_file looks, never downloaded), one a line; exits 3 with
        the reason when pydicom-data is not installed.

Nothing here is committed test data: pydicom's own test files are read from
the installed wheel, pydicom-data's from its installed package, and the made
files live in a temporary folder.
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut
from pydicom.uid import (
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

ENCAPSULATED_PLUGIN = "pylibjpeg"


def dump(out: Path, files: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(files):
        line: dict = {"index": i, "file": name}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ds = pydicom.dcmread(name)
                if "PixelData" not in ds:
                    raise ValueError("no Pixel Data")
                if ds.file_meta.TransferSyntaxUID.is_compressed:
                    ds.pixel_array_options(decoding_plugin=ENCAPSULATED_PLUGIN)
                arr = ds.pixel_array
                photometric = ds.PhotometricInterpretation
                if photometric == "PALETTE COLOR":
                    arr = apply_color_lut(arr, ds)
            line["warnings"] = [str(w.message) for w in caught][:3]
            arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
            line.update(ok=True, dtype=arr.dtype.str, shape=list(arr.shape), photometric=photometric)
            (out / f"{i}.bin").write_bytes(arr.tobytes())
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the dump
            line.update(ok=False, error=f"{type(e).__name__}: {e}".splitlines()[0][:300])
        print(json.dumps(line), flush=True)


def base(rows: int, cols: int, samples: int, photometric: str, bits: int = 8, frames: int = 1) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if samples == 3:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    return ds


def save(ds: Dataset, path: Path) -> None:
    ds.save_as(path, enforce_file_format=True)


def colour(frames: int, rows: int, cols: int) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:cols]
    f = np.arange(frames)[:, None, None]
    return np.stack([(5 * x + 0 * f) % 256, (7 * y + 0 * f) % 256, (x + y + 10 * f) % 256], axis=-1).astype(np.uint8)


def make(out: Path, sample: str, htj2k: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cine = pydicom.dcmread(sample)
    gray = cine.pixel_array[:6]
    for uid, name in ((JPEG2000Lossless, "us_j2k_lossless"), (JPEGLSLossless, "us_jls_lossless"), (RLELossless, "us_rle")):
        ds = base(gray.shape[1], gray.shape[2], 1, "MONOCHROME2", frames=len(gray))
        ds.compress(uid, gray, encoding_plugin="pylibjpeg" if uid != JPEGLSLossless else "pyjpegls")
        save(ds, out / f"{name}.dcm")

    rgb = colour(3, 30, 40)
    ds = base(30, 40, 3, "RGB", frames=3)
    ds.PlanarConfiguration = 1
    ds.PixelData = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2)).tobytes()
    save(ds, out / "us_rgb_planar.dcm")

    ds = base(30, 40, 3, "RGB", frames=3)
    ds.PlanarConfiguration = 1
    ds.compress(JPEGLSLossless, rgb, encoding_plugin="pyjpegls")
    save(ds, out / "us_rgb_jls_planar.dcm")

    ds = base(30, 40, 3, "YBR_FULL", frames=3)
    ds.PixelData = rgb.tobytes()  # any bytes: both readers convert them as YBR_FULL
    save(ds, out / "us_ybr_full.dcm")

    # PALETTE COLOR, segmented (discrete, linear and indirect segments) and plain 16-bit tables.
    idx = (np.arange(30 * 40).reshape(30, 40) % 256).astype(np.uint8)
    ds = base(30, 40, 1, "PALETTE COLOR")
    ds.PixelData = idx.tobytes()
    for c, segs in zip(("Red", "Green", "Blue"), (
        [0, 2, 0, 1000, 1, 100, 65535, 1, 154, 300],
        [0, 1, 65535, 1, 255, 0],
        [0, 3, 10, 20, 30, 1, 50, 5000, 2, 2, 0, 0, 1, 150, 40000],
    )):
        setattr(ds, f"{c}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"Segmented{c}PaletteColorLookupTableData", np.asarray(segs, dtype="<u2").tobytes())
    save(ds, out / "us_palette_segmented.dcm")

    ds = base(30, 40, 1, "PALETTE COLOR")
    ds.PixelData = idx.tobytes()
    ramp = np.arange(256, dtype=np.uint32)
    for c, table in (("Red", ramp * 257), ("Green", (255 - ramp) * 257), ("Blue", (ramp * 7 % 256) * 256)):
        setattr(ds, f"{c}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{c}PaletteColorLookupTableData", table.astype("<u2").tobytes())
    save(ds, out / "us_palette_16bit.dcm")

    # HTJ2K codestreams encoded by the test with OpenJPH, wrapped here.
    for meta_path in sorted(htj2k.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        frames = [p.read_bytes() for p in sorted(htj2k.glob(f"{meta_path.stem}.*.j2c"))]
        ds = base(meta["rows"], meta["columns"], meta["samples"], meta["photometric"], bits=meta["bits"], frames=len(frames))
        ds.file_meta.TransferSyntaxUID = HTJ2KLossless
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
        save(ds, out / f"{meta_path.stem}.dcm")


def us_data() -> None:
    from pydicom.data.data_manager import external_data_sources

    store = external_data_sources().get("pydicom-data")
    if store is None:
        print("pydicom-data is not installed (training/pyproject.toml lists it)", file=sys.stderr)
        sys.exit(3)
    for path in sorted(Path(store.data_path).rglob("*")):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not a DICOM file: not an ultrasound one either
            continue
        if ds.get("Modality") == "US":
            print(path)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "us-data":
        us_data()
        sys.exit(0)
    out = Path(sys.argv[2])
    if mode == "dump":
        dump(out, sys.argv[3:])
    elif mode == "make":
        make(out, sys.argv[3], Path(sys.argv[4]))
    else:
        sys.exit(f"unknown mode {mode!r}: expected dump, make or us-data")
