"""Reads the DICOM objects sonoedge writes (clip, SR, secondary capture) with
pydicom and highdicom, independently of sonoedge, and prints one JSON line per
file: identity, study, pixels (shape and sha256 of the C-order array) and, for
an SR, every numeric measurement highdicom finds with its unit, modifiers and
referenced frames. Used by test/unit/dicom.*.test.ts.

usage: dicom-read-capture.py FILE...
"""
import hashlib
import json
import sys

import highdicom as hd
import pydicom
from pydicom.multival import MultiValue


def code(c):
    return None if c is None else [c.value, c.scheme_designator, c.meaning]


def sr_items(path):
    sr = hd.sr.srread(path)
    out = {"template": sr.ContentTemplateSequence[0].TemplateIdentifier, "title": code(hd.sr.CodedConcept.from_dataset(sr.ConceptNameCodeSequence[0])), "num": []}
    observer = [i for i in sr.ContentSequence if i.RelationshipType == "HAS OBS CONTEXT"]
    out["observer"] = {i.name.meaning: (code(i.value) if isinstance(i.value, hd.sr.CodedConcept) else str(i.value)) for i in observer}
    nums = hd.sr.utils.find_content_items(sr, value_type=hd.sr.ValueTypeValues.NUM, recursive=True)
    for n in nums:
        item = {"name": code(n.name), "value": n.value, "unit": code(n.unit), "text": {}, "code": {}, "frames": None}
        for m in getattr(n, "ContentSequence", []):
            if m.ValueType == "TEXT":
                item["text"].setdefault(m.name.meaning, []).append(m.value)
            elif m.ValueType == "CODE":
                item["code"][m.name.meaning] = code(m.value)
            elif m.ValueType == "IMAGE":
                ref = m.ReferencedSOPSequence[0]
                item["image"] = ref.ReferencedSOPInstanceUID
                if "ReferencedFrameNumber" in ref:
                    f = ref.ReferencedFrameNumber
                    item["frames"] = [int(x) for x in f] if isinstance(f, MultiValue) else [int(f)]
        out["num"].append(item)
    images = hd.sr.utils.find_content_items(sr, value_type=hd.sr.ValueTypeValues.IMAGE, recursive=True)
    out["library"] = [i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for i in images]
    return out


def main(paths):
    for path in paths:
        line = {"file": path}
        try:
            ds = pydicom.dcmread(path)
            line.update({
                "sopClass": ds.SOPClassUID, "sopInstance": ds.SOPInstanceUID, "study": ds.StudyInstanceUID,
                "series": ds.SeriesInstanceUID, "modality": ds.Modality, "patientName": str(ds.PatientName), "patientId": ds.PatientID,
                "transferSyntax": ds.file_meta.TransferSyntaxUID,
            })
            if "PixelData" in ds:
                a = ds.pixel_array
                line.update({
                    "shape": list(a.shape), "dtype": a.dtype.str, "sha256": hashlib.sha256(a.tobytes()).hexdigest(),
                    "photometric": ds.PhotometricInterpretation, "frameTime": float(ds.get("FrameTime", 0)),
                })
                if "SequenceOfUltrasoundRegions" in ds:
                    r = ds.SequenceOfUltrasoundRegions[0]
                    line["region"] = [r.RegionLocationMinX0, r.RegionLocationMinY0, r.RegionLocationMaxX1, r.RegionLocationMaxY1, r.PhysicalDeltaX, r.PhysicalDeltaY]
            if ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33":
                line["sr"] = sr_items(path)
            line["ok"] = True
        except Exception as err:  # reported, not raised: the test names the file and the reason
            line.update({"ok": False, "error": f"{type(err).__name__}: {err}"})
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
