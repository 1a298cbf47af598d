"""Evaluation with clinical metrics and 95% bootstrap CIs; writes report.md, metrics.json and PNG plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .constants import APICAL_VIEWS, GUIDANCE, VIEWS
from .data.synthetic import SimDataset
from .metrics import bootstrap_ci, confusion, dice, ece, ef_from_masks, ef_runtime, hd95, regression
from .train import model_from_checkpoint, to_input


def _device(name):
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@torch.no_grad()
def _predict(model, frames, bs=64):
    """Model outputs on the CPU; the model runs on the device its parameters are on."""
    dev = next(model.parameters()).device
    outs = []
    for s in range(0, len(frames), bs):
        o = model(to_input(frames[s:s + bs].astype(np.float32) / 255.0, dev))
        outs.append({k: v.cpu() for k, v in o.items()} if isinstance(o, dict) else o.cpu())
    return outs


def eval_seg(model, ds, n_boot, seed=0):
    preds = np.concatenate([o.argmax(1).numpy().astype(np.uint8) for o in _predict(model, ds.frames)])
    has = np.array([(m == 1).any() for m in ds.masks])
    lv_d = np.array([dice(p == 1, g == 1) for p, g, h in zip(preds, ds.masks, has) if h])
    myo_d = np.array([dice(p == 2, g == 2) for p, g in zip(preds[has], ds.masks[has])])
    la_has = np.array([(m == 3).any() for m in ds.masks])
    la_d = np.array([dice(p == 3, g == 3) for p, g in zip(preds[la_has], ds.masks[la_has])])
    hd = np.array([hd95(p == 1, g == 1, (s[1], s[0])) for p, g, s in zip(preds[has], ds.masks[has],
                                                                         ds.spacing_xy[has])])
    res = {"n_frames": int(has.sum()), "lv_dice": float(lv_d.mean()),
           "lv_dice_ci": bootstrap_ci(np.mean, lv_d, n_boot=n_boot, seed=seed),
           "myo_dice": float(myo_d.mean()), "la_dice": float(la_d.mean()) if len(la_d) else float("nan"),
           "lv_hd95_mm": float(np.nanmean(hd)), "lv_hd95_ci": bootstrap_ci(np.nanmean, hd, n_boot=n_boot, seed=seed),
           "lv_hd95_nan": int(np.isnan(hd).sum())}
    # EF per apical cine: per-frame segmentation -> area-length volumes -> ED/ES -> EF
    # and, per cine, the EF and validity flag the runtime would report after its last frame (metrics.ef_runtime)
    ef_true, ef_pred, views, rt, rt_ids = [], [], [], [], []
    for c in ds.cines:
        if c["view"] not in APICAL_VIEWS:
            continue
        sel = np.nonzero(ds.cine == c["id"])[0]
        lv, sp = preds[sel] == 1, tuple(float(v) for v in ds.spacing_xy[sel[0]])
        ef, _, _, _ = ef_from_masks(lv, sp)
        ef_pred.append(ef)
        ef_true.append(c["ef"])
        views.append(c["view"])
        # the runtime needs 16 frames; a shorter cine (tiny test sets) is judged on all of its frames
        rt.append(ef_runtime(lv, sp, min_frames=min(16, len(sel))))
        rt_ids.append(str(c["id"]))
    ef_true, ef_pred = np.array(ef_true), np.array(ef_pred)
    if len(ef_true):
        r = regression(ef_pred, ef_true)
        res["ef"] = r
        res["ef_n"] = len(ef_true)
        res["ef_mae_ci"] = bootstrap_ci(lambda p, t: np.abs(p - t).mean(), ef_pred, ef_true, n_boot=n_boot, seed=seed)
        ok = np.array([v["valid"] for v in rt])
        res["ef_valid_n"] = int(ok.sum())
        res["ef_accept_rate"] = float(ok.mean())
        res["ef_rejected"] = {i: v["reason"] for i, v in zip(rt_ids, rt) if not v["valid"]}
        if ok.sum() >= 2:
            p_ok = np.array([v["ef"] for v in rt])[ok]
            res["ef_valid"] = regression(p_ok, ef_true[ok])
            res["ef_valid_mae_ci"] = bootstrap_ci(lambda p, t: np.abs(p - t).mean(), p_ok, ef_true[ok],
                                                  n_boot=n_boot, seed=seed)
    return res, preds, (ef_true, ef_pred), lv_d


def eval_view(model, ds, n_boot, seed=0):
    outs = _predict(model, ds.frames, 128)
    logits = torch.cat([o["view"] for o in outs]).float()
    prob = logits.softmax(1).numpy()
    q = torch.cat([o["quality"] for o in outs]).float().numpy()
    pred = prob.argmax(1)
    correct = (pred == ds.view).astype(np.float64)
    cm = confusion(pred, ds.view, len(VIEWS))
    e, bc, ba, cnt = ece(prob.max(1), correct)
    qerr = np.abs(q - ds.quality)
    res = {"n_frames": int(len(ds)), "view_acc": float(correct.mean()),
           "view_acc_ci": bootstrap_ci(np.mean, correct, n_boot=n_boot, seed=seed),
           "confusion": cm.tolist(), "ece": e, "quality_mae": float(qerr.mean()),
           "quality_mae_ci": bootstrap_ci(np.mean, qerr, n_boot=n_boot, seed=seed)}
    if "guidance" in outs[0]:
        g = torch.cat([o["guidance"] for o in outs]).argmax(1).numpy()
        m = ds.guidance >= 0
        res["guidance_acc"] = float((g[m] == ds.guidance[m]).mean()) if m.any() else float("nan")
    return res, (bc, ba, cnt), q


def _plots(out: Path, seg=None, view=None, ds=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []
    if seg is not None and "ef" in seg[0]:
        t, p = seg[2]
        fig, ax = plt.subplots(1, 2, figsize=(8, 3.4), dpi=80)
        ax[0].scatter(t, p, s=10)
        ax[0].plot([0, 90], [0, 90], "k--", lw=0.8)
        ax[0].set(xlabel="true EF (%)", ylabel="predicted EF (%)", title="EF")
        m, d = (p + t) / 2, p - t
        ax[1].scatter(m, d, s=10)
        bias, loa = d.mean(), 1.96 * d.std(ddof=1)
        for y, ls in ((bias, "-"), (bias + loa, "--"), (bias - loa, "--")):
            ax[1].axhline(y, color="r", ls=ls, lw=0.8)
        ax[1].set(xlabel="mean EF (%)", ylabel="pred - true (%)", title=f"Bland-Altman (bias {bias:.2f}, LoA ±{loa:.2f})")
        fig.tight_layout()
        fig.savefig(out / "ef_bland_altman.png")
        plt.close(fig)
        files.append("ef_bland_altman.png")
        fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
        ax.hist(seg[3], bins=30, range=(0.5, 1))
        ax.set(xlabel="LV Dice per frame", ylabel="frames")
        fig.tight_layout()
        fig.savefig(out / "lv_dice_hist.png")
        plt.close(fig)
        files.append("lv_dice_hist.png")
    if view is not None:
        cm = np.array(view[0]["confusion"])
        fig, ax = plt.subplots(1, 3, figsize=(12, 3.6), dpi=80)
        ax[0].imshow(cm, cmap="Blues")
        for i in range(len(cm)):
            for j in range(len(cm)):
                ax[0].text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8)
        ax[0].set(xticks=range(len(VIEWS)), yticks=range(len(VIEWS)), xticklabels=VIEWS, yticklabels=VIEWS,
                  xlabel="predicted", ylabel="true", title="view confusion")
        bc, ba, cnt = view[1]
        ok = cnt > 0
        ax[1].bar(np.linspace(0, 1, 16)[:-1][ok] + 1 / 30, ba[ok], width=1 / 16, alpha=0.7)
        ax[1].plot([0, 1], [0, 1], "k--", lw=0.8)
        ax[1].set(xlabel="confidence", ylabel="accuracy", title=f"reliability (ECE {view[0]['ece']:.3f})")
        ax[2].scatter(ds.quality, view[2], s=3, alpha=0.4)
        ax[2].plot([0, 1], [0, 1], "k--", lw=0.8)
        ax[2].set(xlabel="true quality", ylabel="predicted", title=f"quality (MAE {view[0]['quality_mae']:.3f})")
        fig.tight_layout()
        fig.savefig(out / "view_quality.png")
        plt.close(fig)
        files.append("view_quality.png")
    return files


def _fmt_ci(ci, nd=3):
    return f"[{ci[0]:.{nd}f}, {ci[1]:.{nd}f}]"


def evaluate(data, out, seg_ckpt="", view_ckpt="", n_boot=1000, seed=0, device="cpu"):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = SimDataset(data)
    summary, seg, view = {"data": str(data), "n_frames": len(ds), "n_cines": len(ds.cines)}, None, None
    lines = ["# sonoedge evaluation report", "", f"Data: `{data}` ({len(ds)} frames, {len(ds.cines)} cines, "
             f"difficulty {ds.index.get('difficulty')}, seed {ds.index.get('seed')}). 95% CIs: percentile bootstrap, "
             f"{n_boot} resamples.", ""]
    if seg_ckpt:
        m, ck = model_from_checkpoint(seg_ckpt)
        m.to(_device(device))
        seg = eval_seg(m, ds, n_boot, seed)
        r = seg[0]
        summary["seg"] = r
        lines += ["## LV segmentation", "", f"Checkpoint `{seg_ckpt}` ({ck.get('n_params', '?')} parameters).", "",
                  "| metric | value | 95% CI |", "| --- | --- | --- |",
                  f"| LV Dice ({r['n_frames']} frames) | {r['lv_dice']:.4f} | {_fmt_ci(r['lv_dice_ci'], 4)} |",
                  f"| LV HD95 (mm) | {r['lv_hd95_mm']:.2f} | {_fmt_ci(r['lv_hd95_ci'], 2)} |",
                  f"| myocardium Dice | {r['myo_dice']:.4f} | |", f"| LA Dice | {r['la_dice']:.4f} | |"]
        if "ef" in r:
            e = r["ef"]
            lines += [f"| EF MAE ({r['ef_n']} apical cines, points) | {e['mae']:.2f} | {_fmt_ci(r['ef_mae_ci'], 2)} |",
                      f"| EF RMSE | {e['rmse']:.2f} | |", f"| EF R2 | {e['r2']:.3f} | |",
                      f"| EF bias / 1.96 SD | {e['bias']:.2f} / {e['loa']:.2f} | |"]
            lines.append(f"| EF accepted by the runtime's validity rule | {r['ef_valid_n']} of {r['ef_n']} cines "
                         f"({100 * r['ef_accept_rate']:.1f}%) | |")
            if "ef_valid" in r:
                v = r["ef_valid"]
                lines += [f"| EF MAE, accepted cines (runtime EF) | {v['mae']:.2f} | {_fmt_ci(r['ef_valid_mae_ci'], 2)} |",
                          f"| EF RMSE / R2, accepted cines | {v['rmse']:.2f} / {v['r2']:.3f} | |"]
        lines.append("")
    if view_ckpt:
        m, ck = model_from_checkpoint(view_ckpt)
        m.to(_device(device))
        view = eval_view(m, ds, n_boot, seed)
        r = view[0]
        summary["view"] = r
        lines += ["## View, quality, guidance", "", f"Checkpoint `{view_ckpt}` ({ck.get('n_params', '?')} parameters).",
                  "", "| metric | value | 95% CI |", "| --- | --- | --- |",
                  f"| view accuracy ({r['n_frames']} frames) | {r['view_acc']:.4f} | {_fmt_ci(r['view_acc_ci'], 4)} |",
                  f"| quality MAE | {r['quality_mae']:.4f} | {_fmt_ci(r['quality_mae_ci'], 4)} |",
                  f"| view ECE (15 bins) | {r['ece']:.4f} | |",
                  f"| guidance accuracy | {r.get('guidance_acc', float('nan')):.4f} | |", "",
                  "Confusion (rows true, columns predicted; " + ", ".join(VIEWS) + "): `" + json.dumps(r["confusion"])
                  + "`", ""]
    files = _plots(out, seg, view, ds)
    lines += [f"![{f}]({f})" for f in files]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    (out / "metrics.json").write_text(json.dumps(summary, indent=1, default=float))
    return {"summary": summary, "files": files}
