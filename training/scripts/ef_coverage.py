"""How often the runtime's 95% EF interval holds the reference EF, per runtime of `runtime_ef.py` reports (the
forty-third and forty-fourth waves, training/RESULTS.md): over all EFs and by the EF's quality flag, with the
median interval width; and whether each further runtime gives every cine the first one's EF (present or not, value,
quality flag), so that a change meant to move the interval alone is seen to move nothing else. Reads the reports
only.

    training/.venv/bin/python training/scripts/ef_coverage.py REPORT.json [REPORT.json ...]
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def rows(reports, name):
    """(reference, EF, interval low, interval high, quality) per cine with a reference and an EF from runtime `name`
    (a negatives report has no reference: nothing)."""
    out = []
    for rep in reports:
        for c in rep["cines"]:
            r = c["runtimes"].get(name) or {}
            if r.get("ef") is not None and r.get("ci") and c.get("ref") is not None:
                out.append((c["ref"], r["ef"], r["ci"][0], r["ci"][1], r["quality"]))
    return out


def coverage(rs, quality=None) -> dict:
    sel = [r for r in rs if quality is None or r[4] == quality]
    if not sel:
        return {"n": 0}
    a = np.array([r[:4] for r in sel], np.float64)
    inside = (a[:, 0] >= a[:, 2]) & (a[:, 0] <= a[:, 3])
    return {"n": len(sel), "coverage": round(float(inside.mean()), 3),
            "median_width": round(float(np.median(a[:, 3] - a[:, 2])), 1)}


def same_efs(reports, first, other) -> list:
    """Cines whose EF (presence, value to 1e-9, quality) differs between two runtimes."""
    diff = []
    for rep in reports:
        for c in rep["cines"]:
            a, b = c["runtimes"].get(first) or {}, c["runtimes"].get(other) or {}
            ka = (a.get("ef") is None, a.get("quality"))
            kb = (b.get("ef") is None, b.get("quality"))
            if ka != kb or (a.get("ef") is not None and abs(a["ef"] - b["ef"]) > 1e-9):
                diff.append((rep.get("source"), c["id"]))
    return diff


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+")
    a = ap.parse_args(argv)
    reports = [json.loads(open(p).read()) for p in a.reports]
    names = list(reports[0]["clis"])
    out = {}
    for n in names:
        rs = rows(reports, n)
        out[n] = {"all": coverage(rs), "ok": coverage(rs, "ok"), "low": coverage(rs, "low")}
        if n != names[0]:
            out[n]["efs_unlike_" + names[0]] = same_efs(reports, names[0], n)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
