"""training/scripts/ef_coverage.py: the runtime's EF interval coverage from runtime_ef.py reports, by quality, and the
cines whose EF differs between two runtimes, on a hand-made report."""
import json

from script_module import load_script

efc = load_script("ef_coverage")


def _report():
    def run(ef, ci, quality="ok"):
        return {"ef": ef, "ci": ci, "quality": quality}
    cines = [
        {"id": 0, "ref": 50.0, "runtimes": {"H": run(55.0, [47.0, 63.0]), "C": run(55.0, [45.0, 63.0])}},
        {"id": 1, "ref": 40.0, "runtimes": {"H": run(52.0, [44.0, 60.0]), "C": run(52.0, [38.0, 60.0])}},
        {"id": 2, "ref": 60.0, "runtimes": {"H": run(70.0, [61.0, 79.0], "low"), "C": run(70.0, [59.0, 79.0], "ok")}},
        {"id": 3, "ref": 30.0, "runtimes": {"H": {"ef": None}, "C": {"ef": None}}},
        {"id": 4, "ref": None, "runtimes": {"H": run(20.0, [10.0, 30.0]), "C": run(20.0, [10.0, 30.0])}},
    ]
    return {"source": "test", "clis": {"H": "a", "C": "b"}, "cines": cines}


def test_coverage_by_quality_and_the_cines_whose_ef_differs(tmp_path, capsys):
    rep = _report()
    h = efc.rows([rep], "H")
    assert [r[0] for r in h] == [50.0, 40.0, 60.0], "no EF (cine 3) and no reference (cine 4) are left out"
    assert efc.coverage(h) == {"n": 3, "coverage": 0.333, "median_width": 16.0}
    assert efc.coverage(h, "ok") == {"n": 2, "coverage": 0.5, "median_width": 16.0}
    assert efc.coverage(h, "low") == {"n": 1, "coverage": 0.0, "median_width": 18.0}
    assert efc.coverage(efc.rows([rep], "C")) == {"n": 3, "coverage": 1.0, "median_width": 20.0}
    assert efc.coverage(h, "unknown") == {"n": 0}
    # cine 2's flag differs (low against ok); an EF value apart by more than 1e-9 or one present on one side too
    assert efc.same_efs([rep], "H", "C") == [("test", 2)]
    rep["cines"][0]["runtimes"]["C"]["ef"] = 55.001
    rep["cines"][3]["runtimes"]["C"] = {"ef": 31.0, "ci": [20.0, 40.0], "quality": None}
    assert efc.same_efs([rep], "H", "C") == [("test", 0), ("test", 2), ("test", 3)]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_report()))
    assert efc.main([str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["H"]["all"]["coverage"] == 0.333 and out["C"]["efs_unlike_H"] == [["test", 2]]
