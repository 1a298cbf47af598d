"""Post-training calibration, fitted on held-out data and stored with the model (then in its package's manifest):

- **View temperature** (temperature scaling, Guo et al. 2017): one T > 0 minimising the negative log-likelihood of
  the validation views; the runtime applies softmax(logits / T). ECE before and after, and the reliability diagrams.
- **In-distribution score** (models/viewnet.py IdScoreHead): two complementary signals, combined by a logistic fit of
  held-out in-distribution frames against held-out generated negatives:
  * feature density: the Mahalanobis distance of the pooled backbone features to the nearest heart-view class mean
    with a tied, shrunk covariance (Lee et al. 2018), fitted on training frames as the model saw them (domain
    randomisation on): far from every heart view = not a heart the model knows;
  * the free energy of the calibrated view logits (Liu et al. 2020): low confidence over all classes.
  The view head also has an explicit OTHER class trained on generated negatives (negatives.py); the score is the
  second line, for what no negative family covered. Thresholds `ok` / `unknown` are set on the validation frames
  (`ok`: at most OK_MISS of the in-distribution frames below it; `unknown`: at most UNKNOWN_MISS of them below it).
- **EF bias** (lv_segmentation): EF_reported = slope * EF_measured + intercept, least squares over the validation
  cines' EF as the runtime measures it (area-length on the predicted masks, metrics.ef_runtime), with the residual
  standard deviation for the EF's interval. With a trim (`--trim`, calibration.ef.trim) the runtime's ED and ES are
  means of that share of the volumes, and the fit is for that rule; fitted on cines of several frame rates (`--val`
  with several sets), since the largest and smallest volume's excess grows with the frames per beat (RESULTS.md,
  seventeenth and eighteenth waves).
- **LV border band** (lv_segmentation, calibration.lv_border): per frame, the pixels whose LV probability lies
  between BORDER_LOW and BORDER_HIGH over the LV mask's border pixels (metrics.border_band: the mean width of the
  model's uncertain border); per cine, its mean over the EF window. The threshold is the BORDER_QUANTILE (0.9) of
  the validation cines' means: the runtime gives an EF whose window is wider than that quality low, about 10% of
  in-distribution EFs. Why: the band's width follows the EF error on the simulator's test cines and on the
  independent generator's alike (training/RESULTS.md, eighth wave); fitted on simulated validation cines only.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, logsumexp, softmax

from .constants import VIEWS
from .metrics import BORDER_HIGH, BORDER_LOW, ece

HEART = [VIEWS.index(v) for v in ("A4C", "A2C", "PLAX", "PSAX")]
OK_MISS, UNKNOWN_MISS = 0.05, 0.005
BORDER_QUANTILE = 0.9
SHRINK = 0.1


@torch.no_grad()
def collect(model, frames_u8: np.ndarray, bs: int = 256) -> dict:
    """View logits, quality and pooled features of frames (uint8 [N, H, W]) as the exported model sees them."""
    from .train import to_input
    model.eval()
    out = {"view": [], "quality": [], "features": []}
    for s in range(0, len(frames_u8), bs):
        o = model(to_input(frames_u8[s:s + bs].astype(np.float32) / 255.0, torch.device("cpu")), features=True)
        for k in out:
            out[k].append(o[k].float().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def collect01(model, x01: np.ndarray, bs: int = 256) -> dict:
    """As collect, for float frames in [0, 1] (after domain randomisation)."""
    return collect(model, (np.clip(x01, 0, 1) * 255 + 0.5).astype(np.uint8), bs)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    def nll(log_t):
        z = logits / math.exp(log_t)
        return float(-(z[np.arange(len(z)), labels] - logsumexp(z, 1)).mean())
    return float(math.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def reliability(logits: np.ndarray, labels: np.ndarray, t: float = 1.0) -> dict:
    p = softmax(logits / t, 1)
    e, centers, acc, cnt = ece(p.max(1), (p.argmax(1) == labels).astype(np.float64))
    return {"ece": float(e), "bins": [float(v) for v in centers], "accuracy": [float(v) for v in acc],
            "count": [int(v) for v in cnt]}


def fit_mahalanobis(features: np.ndarray, labels: np.ndarray):
    """Class means of the heart views and the Cholesky factor L of the shrunk tied precision (P = L L^T)."""
    keep = np.isin(labels, HEART)
    f, y = features[keep].astype(np.float64), labels[keep]
    means = np.stack([f[y == c].mean(0) for c in HEART])
    centred = f - means[np.searchsorted(HEART, y)]
    cov = centred.T @ centred / max(1, len(f) - 1)
    cov = (1 - SHRINK) * cov + SHRINK * np.trace(cov) / len(cov) * np.eye(len(cov))
    prec = np.linalg.inv(cov)
    chol = np.linalg.cholesky((prec + prec.T) / 2)
    return chol, means @ chol


def distance(features, chol, centers):
    z = features.astype(np.float64) @ chol
    return ((z[:, None, :] - centers[None]) ** 2).sum(-1).min(1)


def energy(logits, t):
    return -t * logsumexp(logits / t, 1)


def id_inputs(features, logits, chol, centers, t):
    return np.stack([np.log1p(distance(features, chol, centers) / features.shape[1]), energy(logits, t)], 1)


def fit_logistic(x_id: np.ndarray, x_ood: np.ndarray) -> np.ndarray:
    """w (3) of P(in-distribution) = sigmoid(w0 x0 + w1 x1 + w2), classes weighted equally, small L2."""
    x = np.concatenate([x_id, x_ood])
    y = np.concatenate([np.ones(len(x_id)), np.zeros(len(x_ood))])
    sw = np.where(y == 1, 0.5 / len(x_id), 0.5 / len(x_ood))
    mu, sd = x.mean(0), x.std(0) + 1e-9
    xs = np.concatenate([(x - mu) / sd, np.ones((len(x), 1))], 1)

    def loss(w):
        z = xs @ w
        return float((sw * (np.logaddexp(0, z) - y * z)).sum() + 1e-4 * (w[:2] ** 2).sum())

    def grad(w):
        return xs.T @ (sw * (expit(xs @ w) - y)) + np.concatenate([2e-4 * w[:2], [0.0]])
    w = minimize(loss, np.zeros(3), jac=grad, method="L-BFGS-B").x
    return np.array([w[0] / sd[0], w[1] / sd[1], w[2] - w[0] * mu[0] / sd[0] - w[1] * mu[1] / sd[1]])


def id_score(x, w):
    return expit(x @ w[:2] + w[2])


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    from scipy.stats import rankdata
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def thresholds(score_id: np.ndarray) -> dict:
    return {"ok": float(np.quantile(score_id, OK_MISS)), "unknown": float(np.quantile(score_id, UNKNOWN_MISS))}


def attach(model, chol, centers, w, t):
    """Puts the fitted values into the model's IdScoreHead (created here)."""
    head = model.attach_id_head(len(centers))
    head.chol.copy_(torch.from_numpy(chol.astype(np.float32)))
    head.centers.copy_(torch.from_numpy(centers.astype(np.float32)))
    head.coef.copy_(torch.from_numpy(np.asarray(w, np.float32)))
    head.temperature.fill_(float(t))
    return head


def fit_ef_calibration(ef_measured: np.ndarray, ef_true: np.ndarray) -> dict:
    a, b = np.polyfit(ef_measured, ef_true, 1)
    resid = ef_true - (a * ef_measured + b)
    return {"slope": float(a), "intercept": float(b), "residual_sd": float(resid.std(ddof=2)),
            "n": int(len(ef_true))}


def _framed(ds, idx, rng, cfg, augment: bool = True):
    """Frames of a wide dataset as training shows them (framing, acquisition chain, overlays), uint8 [n, 112, 112]."""
    from .constants import INPUT_SIZE
    from .domain import acquire_batch, frame_batch, overlay_batch
    f, m, _ = frame_batch(ds.frames[idx], ds.masks[idx], ds.box[idx], rng, cfg, INPUT_SIZE[0])
    if not augment:
        return f, m
    x = overlay_batch(acquire_batch(f, rng, cfg), rng, cfg["overlay_p"])
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8), m


def negative_set(n: int, seed: int, hearts_u8=None, heart_views=None) -> tuple[np.ndarray, list[str]]:
    """Generated negatives for calibration or evaluation: the procedural families and, given heart frames,
    transformed hearts (`rotated`)."""
    from .negatives import negatives, transform_hearts
    rng = np.random.default_rng([seed, 4242])
    x, fam = negatives(n, rng)
    if hearts_u8 is not None and len(hearts_u8):
        k = min(n // 2, len(hearts_u8))
        pick = rng.choice(len(hearts_u8), k, replace=False)
        x = np.concatenate([x, transform_hearts(hearts_u8[pick], heart_views[pick], rng, VIEWS)])
        fam = fam + ["rotated"] * k
    return x, fam


def calibrate_view(view_ckpt, train_dir, val_raw_dir, out_ckpt, n_train: int = 6000, n_neg: int = 3000,
                   seed: int = 7, log=print) -> dict:
    """Fits the view temperature and the in-distribution score of a trained view model; writes a checkpoint with
    the IdScoreHead and the fitted values (`id_head`), and returns the report (ECE, AUROC, thresholds)."""
    from .config import DEFAULTS
    from .data.synthetic import SimDataset
    from .train import _atomic_save, load_checkpoint, model_from_checkpoint
    from pathlib import Path
    model, ck = model_from_checkpoint(view_ckpt)
    dcfg = ck["config"].get("domain", DEFAULTS["domain"])
    other = VIEWS.index("OTHER")
    train, val = SimDataset(train_dir), SimDataset(val_raw_dir)
    rng = np.random.default_rng([seed, 1])
    idx = np.sort(rng.choice(len(train), min(n_train, len(train)), replace=False))
    ft, _ = _framed(train, idx, rng, dcfg)
    tr = collect(model, ft)
    chol, centers = fit_mahalanobis(tr["features"], train.view[idx])
    # validation: every frame as training frames it (seeded), and once more framed by its sector box, clean
    rng = np.random.default_rng([seed, 2])
    vi = np.arange(len(val))
    fa, _ = _framed(val, vi, rng, dcfg)
    fc, _ = _framed(val, vi, rng, {**dcfg, "framing": {"bbox": 1.0}}, augment=False)
    vf = np.concatenate([fa, fc])
    vv = np.concatenate([val.view, val.view])
    hearts = vv != other
    neg, fam = negative_set(n_neg, seed + 1, vf[hearts], vv[hearts])
    v = collect(model, vf)
    n = collect(model, neg)
    labels = np.concatenate([vv, np.full(len(neg), other)])
    logits = np.concatenate([v["view"], n["view"]])
    t = fit_temperature(logits, labels)
    rel_before, rel_after = reliability(logits, labels), reliability(logits, labels, t)
    x_id = id_inputs(v["features"][hearts], v["view"][hearts], chol, centers, t)
    x_other = id_inputs(v["features"][~hearts], v["view"][~hearts], chol, centers, t)
    x_neg = id_inputs(n["features"], n["view"], chol, centers, t)
    w = fit_logistic(x_id, np.concatenate([x_neg, x_other]))
    s_id, s_other, s_neg = id_score(x_id, w), id_score(x_other, w), id_score(x_neg, w)
    th = thresholds(s_id)
    fams = sorted(set(fam))
    fam = np.array(fam)
    report = {
        "temperature": t, "ece_before": rel_before["ece"], "ece_after": rel_after["ece"],
        "reliability_before": rel_before, "reliability_after": rel_after, "coef": [float(c) for c in w],
        "thresholds": th, "fitted_on": f"{val_raw_dir} ({int(hearts.sum())} heart frames, {len(neg)} generated "
                                      f"negatives, {int((~hearts).sum())} simulated OTHER frames); features of "
                                      f"{len(idx)} frames of {train_dir}",
        "auroc": {f: auroc(s_id, s_neg[fam == f]) for f in fams} | {"simulated_other": auroc(s_id, s_other)},
        "unknown_rate": {f: float((s_neg[fam == f] < th["unknown"]).mean()) for f in fams}
        | {"simulated_other": float((s_other < th["unknown"]).mean()), "in_distribution": float(
            (s_id < th["unknown"]).mean())},
    }
    attach(model, chol, centers, w, t)
    base = load_checkpoint(view_ckpt)
    out = dict(base, model=model.state_dict(), id_head={"n_centers": len(centers), "report": report,
                                                          "source": str(view_ckpt)})
    Path(out_ckpt).parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(out, Path(out_ckpt))
    log(f"calibrated {view_ckpt} -> {out_ckpt}: T {t:.3f}, ECE {rel_before['ece']:.4f} -> {rel_after['ece']:.4f}, "
        f"thresholds {th}, AUROC {report['auroc']}")
    return report


def ef_measurements(seg_model, ds, calibration: dict | None = None, trim: float = 0.0):
    """Per apical cine of a rendered set (sonoedge-sim/1 with spacing_xy): (true EF, EF as the runtime measures it,
    valid, the window's mean LV border band in pixels or NaN) with the largest-component area-length rule of
    metrics.ef_runtime (ED and ES trimmed by `trim`, calibration.ef.trim) and the band of metrics.border_band, the
    EF calibrated when given."""
    from .constants import APICAL_VIEWS
    from .evaluate import _predict
    from .metrics import border_band, ef_runtime, largest_component
    # per batch of _predict's outputs: the LV masks and each frame's band, without a second copy of every logit
    lv, band = [], []
    for o in _predict(seg_model, ds.frames):
        z = o.numpy()
        m = z.argmax(1) == 1
        lv.append(m)
        band += [border_band(zi, largest_component(mi)) for zi, mi in zip(z, m)]
    lv = np.concatenate(lv)
    rows = []
    for c in ds.cines:
        if c["view"] not in APICAL_VIEWS:
            continue
        sel = np.nonzero(ds.cine == c["id"])[0]
        r = ef_runtime(lv[sel], tuple(float(v) for v in ds.spacing_xy[sel[0]]), min_frames=min(16, len(sel)),
                       bands=[band[i] for i in sel], trim=trim)
        ef = r["ef"]
        if calibration:
            ef = float(np.clip(calibration["slope"] * ef + calibration["intercept"], 0, 100))
        rows.append((c["ef"], ef, r["valid"], np.nan if r["border_band"] is None else r["border_band"]))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def fit_border_threshold(bands: np.ndarray, quantile: float = BORDER_QUANTILE) -> float:
    """calibration.lv_border's threshold: the `quantile` of the validation cines' mean LV border band, so that
    about 1 - quantile of in-distribution EFs are flagged low for their border."""
    from .errors import DatasetError
    b = np.asarray(bands, np.float64)
    b = b[np.isfinite(b)]
    if len(b) == 0:
        raise DatasetError("E_DATASET_EMPTY", "expected validation cines with an LV border to fit calibration.lv_border "
                           "but received none", None)
    return float(np.quantile(b, quantile))


def ef_interval(sets) -> str:
    """The EF interval (calibration.ef.interval) a calibration fitted on these sets gets: "statistical" when every
    one is real scans (import-real's format), where the calibration is the scanner's own; else "with_uncalibrated",
    since a calibration fitted on simulation corrects what the LV model does on simulated images, which may not hold
    for a scan (training/RESULTS.md, forty-third and forty-fourth waves): the runtime's interval then covers the
    uncalibrated EF too."""
    from .data.synthetic import FORMAT_REAL
    return "statistical" if all(ds.index.get("format") == FORMAT_REAL for ds in sets) else "with_uncalibrated"


def calibrate_seg(seg_ckpt, val_dir, out_ckpt, log=print, trim: float = 0.0) -> dict:
    """Fits the EF bias calibration on the validation cines of `val_dir` (one rendered set, or several joined by
    commas, fitted as one); writes a checkpoint with `ef_calibration` (with `trim` when > 0: the runtime's ED and
    ES are then the means of that share of the window's volumes, and the calibration is fitted for that rule)."""
    from pathlib import Path

    from .data.synthetic import SimDataset
    from .train import _atomic_save, load_checkpoint, model_from_checkpoint
    model, _ = model_from_checkpoint(seg_ckpt)
    sets = [SimDataset(d) for d in str(val_dir).split(",")]
    m = np.concatenate([ef_measurements(model, ds, trim=trim) for ds in sets])
    ok = m[:, 2] > 0
    if ok.sum() < 3:
        from .errors import DatasetError
        raise DatasetError("E_DATASET_EMPTY", f"{val_dir}: expected at least 3 apical cines with a valid EF to fit the "
                           f"EF calibration but received {int(ok.sum())} (of {len(m)} apical cines)", val_dir)
    cal = fit_ef_calibration(m[ok, 1], m[ok, 0])
    if trim > 0:
        cal["trim"] = float(trim)
    cal["interval"] = ef_interval(sets)
    after = cal["slope"] * m[ok, 1] + cal["intercept"]
    fitted_on = f"{val_dir} ({int(ok.sum())} apical cines the runtime's rule accepts)"
    cal.update(fitted_on=fitted_on,
               mae_before=float(np.abs(m[ok, 1] - m[ok, 0]).mean()), bias_before=float((m[ok, 1] - m[ok, 0]).mean()),
               mae_after=float(np.abs(after - m[ok, 0]).mean()), bias_after=float((after - m[ok, 0]).mean()))
    threshold = fit_border_threshold(m[ok, 3])
    flagged = m[ok, 3] > threshold
    err = np.abs(after - m[ok, 0])
    border = {"low": BORDER_LOW, "high": BORDER_HIGH, "threshold": threshold, "quantile": BORDER_QUANTILE,
              "fitted_on": fitted_on, "n": int(np.isfinite(m[ok, 3]).sum()),
              "ef_mae_flagged": float(err[flagged].mean()) if flagged.any() else None,
              "ef_mae_kept": float(err[~flagged].mean()) if (~flagged).any() else None}
    base = load_checkpoint(seg_ckpt)
    Path(out_ckpt).parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(dict(base, ef_calibration=cal, lv_border=border), Path(out_ckpt))
    log(f"EF calibration of {seg_ckpt} -> {out_ckpt}: {cal}; LV border band: {border}")
    return {**cal, "lv_border": border}


def plot_reliability(report: dict, path) -> None:
    """Reliability diagrams of the view probabilities before and after temperature scaling (calibrate_view's
    report), side by side, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), dpi=80)
    for ax, key, title in ((axes[0], "reliability_before", "before"), (axes[1], "reliability_after", "after")):
        r = report[key]
        conf, acc, cnt = (np.array(r[k], np.float64) for k in ("bins", "accuracy", "count"))
        ok = cnt > 0
        ax.bar(conf[ok], acc[ok], width=1 / len(conf), edgecolor="k", alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top class)", ylabel="accuracy",
               title=f"{title} (T = {report['temperature']:.2f})" if key.endswith("after") else title)
        ax.text(0.04, 0.9, f"ECE {r['ece']:.3f}", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
