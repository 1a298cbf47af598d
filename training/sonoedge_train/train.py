"""Training loop: seeded, resumable mid-epoch, CSV + TensorBoard logs, AMP on CUDA, DDP through torchrun.

Determinism: the sample order of epoch e is permutation(default_rng([seed, e])), the augmentation of step s of
epoch e draws from default_rng([seed, e, s, rank]) (domain.dim_p's factors from default_rng([seed, e, s, rank, 45])),
and the torch RNG state is saved in every checkpoint, so a run resumed from last.pt produces the same weights as one
that never stopped (CPU, same thread count).
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .augment import augment_batch, degradations
from .config import SEG_LOSSES, TASK_MODELS
from .constants import INPUT_SIZE, MEAN, STD, VIEWS
from .data.labels import LV
from .data.synthetic import ARRAYS, WIDE_ARRAYS, SimDataset
from .errors import CheckpointError, ConfigError
from .losses import DiceCELoss, focal_loss, lv_area_loss, partial_cross_entropy, soft_dice_loss
from .metrics import dice
from .models import build_model, count_params


def dist_info():
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    return ws, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def to_input(x01: np.ndarray, device) -> torch.Tensor:
    return ((torch.from_numpy(x01).to(device) - MEAN) / STD).unsqueeze(1)


# loss.seg's segmentation losses by name: (task, logits, mask, focal gamma) -> loss. config.SEG_LOSSES is the
# list the config is checked against; the two are held equal here, when this module loads.
SEG_LOSS = {
    "dice_ce": lambda task, out, mask, gamma: task.dice_ce(out, mask),
    "ce": lambda task, out, mask, gamma: partial_cross_entropy(out, mask.long()),
    "focal": lambda task, out, mask, gamma: focal_loss(out, mask, gamma),
    "dice_focal": lambda task, out, mask, gamma: soft_dice_loss(out, mask) + focal_loss(out, mask, gamma),
}
if set(SEG_LOSS) != set(SEG_LOSSES):
    raise ImportError(f"train.SEG_LOSS has {sorted(SEG_LOSS)} but config.SEG_LOSSES {sorted(SEG_LOSSES)}")


class Task:
    def __init__(self, cfg, device):
        self.cfg, self.device = cfg, device
        self.task = cfg["task"]
        self.dice_ce = DiceCELoss()

    def targets(self, ds, idx, qf=None, guid=None):
        """qf: the augmentation's per-frame quality factor (label-aware augmentation), or None; guid: the augmented
        frames' guidance labels (-2 = the stored one), or None."""
        d = self.device
        if self.task == "seg":
            return {"mask": torch.from_numpy(ds.masks[idx].astype(np.int64)).to(d)}
        q = ds.quality[idx] if qf is None else np.clip(ds.quality[idx] * np.asarray(qf, np.float32), 0, 1)
        g = ds.guidance[idx] if guid is None else np.where(np.asarray(guid) == -2, ds.guidance[idx], guid)
        return {"view": torch.from_numpy(ds.view[idx]).to(d), "quality": torch.from_numpy(q).to(d),
                "guidance": torch.from_numpy(g.astype(np.int64)).to(d)}

    def loss(self, out, t):
        lc = self.cfg["loss"]
        if self.task == "seg":
            loss = SEG_LOSS[lc["seg"]](self, out, t["mask"], lc["focal_gamma"])
            if lc["area_weight"] > 0:
                loss = loss + lc["area_weight"] * lv_area_loss(out, t["mask"])
            return loss
        if lc["view_loss"] == "focal":
            lv = focal_loss(out["view"], t["view"], lc["focal_gamma"])
        else:
            lv = F.cross_entropy(out["view"], t["view"])
        lq = F.l1_loss(out["quality"].float(), t["quality"])
        loss = lv + lc["quality_weight"] * lq
        if "guidance" in out and (t["guidance"] >= 0).any():
            loss = loss + lc["guidance_weight"] * F.cross_entropy(out["guidance"], t["guidance"], ignore_index=-1)
        return loss


class WideStepBatches(torch.utils.data.Dataset):
    """Step s of an epoch of a wide training set (sonoedge-sim/2) -> (s, sample indices, augmented float32 batch in
    [0, 1], targets): domain randomisation (domain.py: framing, acquisition chain, overlays) with the labels that
    follow it (masks cut with the frame, the quality label recomputed from the frame the model sees) and, for the
    view task, a fraction of generated negatives (negatives.py: procedural families and transformed hearts, view
    OTHER, quality 0, no guidance). Same per-step RNG as StepBatches."""

    def __init__(self, ds, perm, bs, dcfg, task, seed, epoch, rank, quality_target: str = "label"):
        self.ds, self.perm, self.bs, self.dcfg, self.task = ds, perm, bs, dcfg, task
        self.seed, self.epoch, self.rank, self.quality_target = seed, epoch, rank, quality_target

    def __len__(self):
        return len(self.perm) // self.bs

    def __getitem__(self, step):
        from .domain import acquire_batch, frame_batch, overlay_batch, quality_labels
        from .negatives import negatives, transform_hearts, transform_in_sector
        ds, c = self.ds, self.dcfg
        idx = np.sort(self.perm[step * self.bs:(step + 1) * self.bs])
        rng = np.random.default_rng([self.seed, self.epoch, step, self.rank])
        f, m, _ = frame_batch(ds.frames[idx], ds.masks[idx], ds.box[idx], rng, c, INPUT_SIZE[0])
        view, qg, guid = ds.view[idx].copy(), ds.quality_geom[idx].copy(), ds.guidance[idx].copy()
        other = VIEWS.index("OTHER")
        if self.task == "view" and c["negatives"] > 0:
            k = int(round(c["negatives"] * len(idx)))
            slots = rng.choice(len(idx), k, replace=False)
            hearts = np.flatnonzero(view != other)
            n_rot = min(len(hearts), k // 2)
            if n_rot:
                src = rng.choice(hearts, n_rot, replace=len(hearts) < n_rot)
                hearts_f = f[src]
                f[slots[:n_rot]] = transform_hearts(hearts_f, view[src], rng, VIEWS)
                if c["neg_in_sector"] > 0:  # drawn only when on: other configs draw exactly as before
                    turn = rng.random(n_rot) < c["neg_in_sector"]
                    f[slots[:n_rot][turn]] = transform_in_sector(hearts_f[turn], rng, c["neg_in_sector_min_deg"])
            f[slots[n_rot:]] = negatives(k - n_rot, rng, INPUT_SIZE[0])[0]
            view[slots], qg[slots], guid[slots], m[slots] = other, 0.0, -1, 0
        x = acquire_batch(f, rng, c, m if self.task == "seg" else None, m) if c["enabled"] else f.astype(np.float32) / 255
        if self.task == "seg":
            t = {"mask": m}
        else:  # with loss.quality_target "teacher" the training loop puts the teacher's quality in: no label computed
            q = np.zeros(len(x), np.float32) if self.quality_target == "teacher" else \
                quality_labels(x, m, qg, view, other, self.quality_target)
            t = {"view": view, "quality": q, "guidance": guid}
        x = overlay_batch(x, rng, c["overlay_p"] if c["enabled"] else 0.0)
        return step, idx, x, t


class StepBatches(torch.utils.data.Dataset):
    """Step s of an epoch -> (s, sample indices, augmented float32 batch in [0, 1], quality factor [B], guidance
    labels [B] (-2 = stored)). The same
    function runs in process (train.workers = 0) or in DataLoader workers, with the same per-step RNG, so results
    do not depend on the number of workers. deg: per-frame degradations for label-aware augmentation, or None."""

    def __init__(self, frames, perm, bs, aug, seed, epoch, rank, deg=None):
        self.frames, self.perm, self.bs, self.aug = frames, perm, bs, aug
        self.seed, self.epoch, self.rank, self.deg = seed, epoch, rank, deg

    def __len__(self):
        return len(self.perm) // self.bs

    def __getitem__(self, step):
        idx = np.sort(self.perm[step * self.bs:(step + 1) * self.bs])
        rng = np.random.default_rng([self.seed, self.epoch, step, self.rank])
        deg = None if self.deg is None else {k: v[idx] for k, v in self.deg.items()}
        x, qf, guid = augment_batch(self.frames[idx], self.aug, rng, deg, return_labels=True)
        return step, idx, x, qf, guid


def _batches(sb, step0, spe, workers, pin):
    if workers <= 0:
        for step in range(step0, spe):
            yield sb[step]
        return
    import multiprocessing as mp
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None  # share the arrays, no pickling
    loader = torch.utils.data.DataLoader(sb, batch_size=None, sampler=range(step0, spe), num_workers=workers,
                                         pin_memory=pin, prefetch_factor=4, multiprocessing_context=ctx)
    for item in loader:
        step, idx, x = item[:3]
        rest = [{k: v.numpy() for k, v in r.items()} if isinstance(r, dict) else r.numpy() for r in item[3:]]
        yield (int(step), idx.numpy(), x, *rest)


def adversarial_input(model, task, x, t, acfg):
    """FGSM (one step of size eps) or PGD (steps of alpha, projected on the eps ball) on the normalised input."""
    was = model.training
    x0 = x.detach()
    xa = x0.clone()
    steps = 1 if acfg["mode"] == "fgsm" else acfg["steps"]
    step = acfg["eps"] if acfg["mode"] == "fgsm" else acfg["alpha"]
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = task.loss(model(xa), t)
        g, = torch.autograd.grad(loss, xa)
        xa = xa.detach() + step * g.sign()
        xa = x0 + (xa - x0).clamp(-acfg["eps"], acfg["eps"])
    model.train(was)
    return xa.detach()


def _val_indices(n, k):
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.linspace(0, n - 1, k).round().astype(int)


@torch.no_grad()
def validate(model, cfg, ds, device):
    model.eval()
    idx = _val_indices(len(ds), cfg["train"]["val_max_frames"])
    res = {}
    if cfg["task"] == "seg":
        ds_ = []
        for s in range(0, len(idx), 64):
            b = idx[s:s + 64]
            pred = model(to_input(ds.frames[b].astype(np.float32) / 255.0, device)).argmax(1).cpu().numpy()
            ds_ += [dice(p == 1, g == 1) for p, g in zip(pred, ds.masks[b]) if (g == 1).any()]
        res["val_lv_dice"] = float(np.mean(ds_))
        res["score"] = res["val_lv_dice"]
    else:
        other = VIEWS.index("OTHER")
        geometric = cfg["loss"]["quality_target"] == "geometric"  # the label is the product: the walls measured on the frame
        if geometric:
            from .domain import measured_quality
        corr, qerr = [], []
        for s in range(0, len(idx), 128):
            b = idx[s:s + 128]
            x = ds.frames[b].astype(np.float32) / 255.0
            out = model(to_input(x, device))
            corr += (out["view"].argmax(1).cpu().numpy() == ds.view[b]).tolist()
            q = out["quality"].float().cpu().numpy()
            if geometric:
                q = np.where(ds.view[b] == other, 0.0, measured_quality(q, x, ds.masks[b]))
            qerr += np.abs(q - ds.quality[b]).tolist()
        res["val_view_acc"] = float(np.mean(corr))
        res["val_quality_mae"] = float(np.mean(qerr))
        res["score"] = res["val_view_acc"] - res["val_quality_mae"]
    model.train()
    return res


def load_training_set(cfg):
    """The training set (data.train plus data.extra_train, concatenated) and, for label-aware augmentation of the
    view task, each frame's degradation parameters (None otherwise)."""
    parts = [SimDataset(p) for p in [cfg["data"]["train"], *cfg["data"]["extra_train"]]]
    if len({d.wide for d in parts}) > 1:
        raise ConfigError("E_CONFIG_VALUE", "data.train and data.extra_train expected datasets of one format but "
                          "received a mix of sonoedge-sim/1 and sonoedge-sim/2", None)
    want = cfg["task"] == "view" and cfg["augment"]["label_aware"] and not parts[0].wide
    degs = [degradations(d.index, d.cine) if want else None for d in parts]
    ds = parts[0]
    if len(parts) > 1:
        for k in (*ARRAYS, *(WIDE_ARRAYS if ds.wide else ())):
            setattr(ds, k, np.concatenate([getattr(d, k) for d in parts]))
        ds.cines = [c for d in parts for c in d.cines]
    if not want or any(d is None for d in degs):
        return ds, None
    return ds, {k: np.concatenate([d[k] for d in degs]) for k in degs[0]}


PHASE_BINS, PHASE_CAP = 10, 4.0


def phase_sampling_p(masks: np.ndarray, cine: np.ndarray, alpha: float) -> np.ndarray:
    """Sampling probabilities that balance cardiac phases (train.phase_balance = alpha > 0). A frame's phase is its
    label LV area over the largest in its cine (1 at end-diastole, smallest at end-systole; a cine is a run of
    equal cine ids, so concatenated training folders whose ids restart stay apart), binned in tenths. With f the
    share of LV frames in the frame's bin and f_max the largest bin's, its weight is (f / f_max) ** -alpha, at most
    PHASE_CAP; weights are scaled so that LV frames average 1, and frames of a cine without LV (other views) weigh 1.
    On wide_train with wide_valve_train 59% of LV frames lie in the top tenth and 6% below 0.6."""
    if len(masks) == 0:
        return np.zeros(0)
    area = (masks.reshape(len(masks), -1) == LV).sum(1).astype(np.float64)
    run = np.concatenate([[0], np.cumsum(cine[1:] != cine[:-1])])
    peak = np.zeros(run[-1] + 1)
    np.maximum.at(peak, run, area)
    lv = peak[run] > 0
    w = np.ones(len(masks))
    if lv.any():
        b = np.minimum((area[lv] / peak[run][lv] * PHASE_BINS).astype(int), PHASE_BINS - 1)
        share = np.bincount(b, minlength=PHASE_BINS) / lv.sum()
        x = np.minimum((share[b] / share.max()) ** -alpha, PHASE_CAP)
        w[lv] = x / x.mean()
    return w / w.sum()


def full_gain(x01: torch.Tensor, pct: float, floor: float = 2 / 255) -> torch.Tensor:
    """Frames (float [B, H, W] in [0, 1]) at full display gain: each scaled so that the pct-th percentile of its
    pixels above `floor` (the sector, the black around it left out; screen overlays, where drawn, count too) reaches
    1, then clipped to 1. A frame with fewer than 16 such pixels is returned as it is; no frame is darkened (the
    percentile is at most 1)."""
    flat = x01.flatten(1)
    inside = flat > floor
    q = torch.nanquantile(flat.masked_fill(~inside, float("nan")), pct / 100.0, dim=1)
    div = torch.where(inside.sum(1) >= 16, q.clamp(min=floor), torch.ones_like(q))
    return (x01 / div.view(-1, *([1] * (x01.dim() - 1)))).clamp(max=1.0)


def dim_input(x: torch.Tensor, rng: np.random.Generator, p: float, lo: float) -> torch.Tensor:
    """The normalised input batch x ([B, 1, H, W]) with each frame, with probability p, as if its [0, 1] pixels were
    scaled by a factor drawn uniformly in [lo, 1] (domain.dim_p, dim_min): darker and lower in contrast."""
    c = np.where(rng.random(len(x)) < p, rng.uniform(lo, 1.0, len(x)), 1.0).astype(np.float32)
    c = torch.as_tensor(c, device=x.device).view(-1, 1, 1, 1)
    return c * x + (c - 1) * (MEAN / STD)


def teacher_quality(teacher, x):
    """The quality a frozen model (loss.quality_target "teacher") gives the normalised input batch x: the target
    that replaces the label, so the quality head stays where the starting model was while the view learns."""
    with torch.no_grad():
        return teacher(x)["quality"].float().reshape(len(x))


def load_checkpoint(path, map_location="cpu"):
    """A checkpoint file, or a model package folder (unpack.checkpoint_from_package: its fp32 weights rebuilt)."""
    path = Path(path)
    from .unpack import checkpoint_from_package, is_package
    if is_package(path):
        return checkpoint_from_package(path)
    if not path.exists():
        raise CheckpointError("E_CKPT_MISSING", f"{path}: checkpoint not found", path)
    try:
        ck = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:
        raise CheckpointError("E_CKPT_CORRUPT", f"{path}: cannot load checkpoint ({type(e).__name__}: {e})",
                              path) from None
    for k in ("model", "model_name", "model_args", "config"):
        if k not in ck:
            raise CheckpointError("E_CKPT_CORRUPT", f"{path}: checkpoint lacks {k!r}", path)
    return ck


def model_from_checkpoint(path, map_location="cpu"):
    ck = load_checkpoint(path, map_location)
    m = build_model(ck["model_name"], **ck["model_args"])
    if ck.get("id_head"):  # a calibrated view model (calibrate.py): its in-distribution head's buffers
        m.attach_id_head(int(ck["id_head"]["n_centers"]))
    m.load_state_dict(ck["model"])
    m.eval()
    return m, ck


def _atomic_save(obj, path: Path):
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(cfg: dict, resume: bool = True, crash_after_steps: int | None = None) -> dict:
    """Train per the resolved config. crash_after_steps simulates a kill (for the resume test)."""
    world, rank, local_rank = dist_info()
    use_cuda = torch.cuda.is_available()
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    tc = cfg["train"]
    seed = cfg["seed"]
    out = Path(cfg["out_dir"])
    want = TASK_MODELS[cfg["task"]]
    if cfg["model"]["name"] != want:
        raise ConfigError("E_CONFIG_VALUE", f"model.name expected {want!r} for task {cfg['task']!r} but received "
                          f"{cfg['model']['name']!r}", None)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg, indent=1))
    torch.manual_seed(seed)
    ds, deg = load_training_set(cfg)
    val = SimDataset(cfg["data"]["val"])
    n = len(ds) if cfg["data"]["max_frames"] <= 0 else min(len(ds), cfg["data"]["max_frames"])
    margs = dict(cfg["model"]["args"])
    try:
        model = build_model(cfg["model"]["name"], **margs).to(device)
    except TypeError as e:
        raise ConfigError("E_CONFIG_VALUE", f"model.args rejected by {cfg['model']['name']}: {e}", None) from None
    bs = tc["batch_size"]
    spe = max(1, n // (bs * world))
    total = tc["epochs"] * spe
    if tc["max_steps"] > 0:
        total = min(total, tc["max_steps"])
    opt = torch.optim.AdamW(model.parameters(), lr=tc["lr"], weight_decay=tc["weight_decay"])
    # cosine over the planned steps; with train.time_schedule and max_minutes, over whichever of the steps and the
    # wall-clock budget runs out first (so a time-limited run still anneals; not bitwise reproducible then)
    clock = {"t0": time.time(), "elapsed0": 0.0}
    budget_s = tc["max_minutes"] * 60 if tc["time_schedule"] and tc["max_minutes"] > 0 else 0.0

    def lr_factor(s):
        prog = min(s, total) / total
        if budget_s:
            prog = max(prog, min(1.0, (clock["elapsed0"] + time.time() - clock["t0"]) / budget_s))
        return min(1.0, (s + 1) / 20) * 0.5 * (1 + math.cos(math.pi * prog))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    amp = bool(tc["amp"]) and use_cuda
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    epoch, step0, gstep, best, elapsed0 = 0, 0, 0, -float("inf"), 0.0
    last = out / "last.pt"
    resuming = resume and last.exists()
    wants_teacher = cfg["loss"]["quality_target"] == "teacher"
    teacher = None
    if tc["init_from"] and (wants_teacher or not resuming):  # read once: the start, the teacher or both
        ck = load_checkpoint(tc["init_from"])
        if ck["model_name"] != cfg["model"]["name"] or ck["model_args"] != margs:
            raise ConfigError("E_CONFIG_VALUE", f"train.init_from expected a {cfg['model']['name']} checkpoint with "
                              f"model.args {margs} but received {ck['model_name']} with {ck['model_args']} "
                              f"({tc['init_from']})", None)
        if not resuming:
            model.load_state_dict(ck["model"])
            if rank == 0:
                print(f"initialised the weights from {tc['init_from']}")
        if wants_teacher:  # the init_from model, frozen: its quality is the target
            teacher = build_model(cfg["model"]["name"], **margs).to(device)
            teacher.load_state_dict(ck["model"])
            teacher.eval().requires_grad_(False)
    if resuming:
        ck = load_checkpoint(last)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        epoch, step0, gstep, best = ck["epoch"], ck["step_in_epoch"], ck["global_step"], ck["best"]
        elapsed0 = ck.get("elapsed_s", 0.0)
        torch.set_rng_state(ck["rng_torch"])
        if rank == 0:
            print(f"resumed from {last} at epoch {epoch} step {step0} (global step {gstep})")
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, device_ids=[local_rank] if use_cuda else None)
    task = Task(cfg, device)
    writer = None
    log_f = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(out / "tb"), purge_step=gstep if gstep else None)
        new = not (out / "log.csv").exists() or gstep == 0
        log_f = open(out / "log.csv", "w" if new else "a", newline="")
        logw = csv.writer(log_f)
        if new:
            logw.writerow(["global_step", "epoch", "step", "loss", "lr", "elapsed_s", "val"])

    def save(path, epoch_, step_, extra=None):
        if rank != 0:
            return
        ck = {"model": model.state_dict(), "model_name": cfg["model"]["name"], "model_args": margs, "config": cfg,
              "task": cfg["task"], "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
              "scaler": scaler.state_dict(), "epoch": epoch_, "step_in_epoch": step_, "global_step": gstep,
              "best": best, "rng_torch": torch.get_rng_state(), "elapsed_s": elapsed0 + time.time() - t0,
              "n_params": count_params(model)}
        if extra:
            ck.update(extra)
        _atomic_save(ck, path)

    t0 = time.time()
    clock.update(t0=t0, elapsed0=elapsed0)
    model.train()
    stopped = False
    metrics = {}
    lv = float("nan")
    phase_p = phase_sampling_p(ds.masks[:n], ds.cine[:n], tc["phase_balance"]) if tc["phase_balance"] else None
    while epoch < tc["epochs"] and gstep < total and not stopped:
        erng = np.random.default_rng([seed, epoch])
        perm = (erng.permutation(n) if phase_p is None else erng.choice(n, n, p=phase_p))[rank::world]
        if ds.wide:
            sb = WideStepBatches(ds, perm, bs, cfg["domain"], cfg["task"], seed, epoch, rank, cfg["loss"]["quality_target"])
        else:
            sb = StepBatches(ds.frames, perm, bs, cfg["augment"], seed, epoch, rank, deg)
        bar = _batches(sb, step0, spe, tc["workers"], use_cuda)
        if tc["progress"] and rank == 0:
            from tqdm import tqdm
            bar = tqdm(bar, desc=f"epoch {epoch}", initial=step0, total=spe, leave=False)
        for item in bar:
            step, idx, x01 = item[:3]
            if isinstance(x01, np.ndarray):
                x = to_input(x01, device)
            else:
                x = ((x01.to(device, non_blocking=True) - MEAN) / STD).unsqueeze(1)
            if ds.wide:
                t = {k: torch.as_tensor(np.asarray(v), device=device) for k, v in item[3].items()}
                t = {k: v.long() if k in ("mask", "view", "guidance") else v.float() for k, v in t.items()}
            else:
                t = task.targets(ds, idx, item[3], item[4])  # qf 1 and guid -2 (stored) unless label-aware
            if teacher is not None:
                q = teacher_quality(teacher, x)
                if cfg["loss"]["teacher_full_gain"]:
                    full01 = full_gain(torch.as_tensor(x01).to(device).float(), cfg["loss"]["teacher_full_gain"])
                    full = ((full01 - MEAN) / STD).unsqueeze(1)  # as to_input, without a trip through numpy
                    q = torch.maximum(q, teacher_quality(teacher, full))
                t["quality"] = q.to(t["quality"].dtype)
            if ds.wide and cfg["domain"]["enabled"] and cfg["domain"]["dim_p"] > 0:  # after the targets are fixed
                x = dim_input(x, np.random.default_rng([seed, epoch, step, rank, 45]), cfg["domain"]["dim_p"],
                              cfg["domain"]["dim_min"])
            with torch.autocast(device.type, enabled=amp):
                loss = task.loss(net(x), t)
                if cfg["adversarial"]["mode"] != "none":
                    xa = adversarial_input(net, task, x, t, cfg["adversarial"])
                    w = cfg["adversarial"]["weight"]
                    loss = (1 - w) * loss + w * task.loss(net(xa), t)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            gstep += 1
            lv = float(loss.detach())
            if rank == 0 and (gstep % tc["log_every"] == 0 or gstep == 1):
                logw.writerow([gstep, epoch, step + 1, f"{lv:.6f}", f"{sched.get_last_lr()[0]:.6g}",
                               f"{elapsed0 + time.time() - t0:.1f}", ""])
                log_f.flush()
                writer.add_scalar("train/loss", lv, gstep)
                writer.add_scalar("train/lr", sched.get_last_lr()[0], gstep)
            if gstep % tc["checkpoint_every"] == 0:
                save(last, epoch, step + 1)
            if crash_after_steps is not None and gstep >= crash_after_steps:
                raise RuntimeError(f"simulated crash after step {gstep}")
            if tc["max_minutes"] > 0 and (elapsed0 + time.time() - t0) / 60 > tc["max_minutes"]:
                stopped = True
                break
            if gstep >= total:
                break
        if stopped:
            save(last, epoch, step + 1)
            break
        epoch, step0 = epoch + 1, 0
        if rank == 0:
            metrics = validate(model, cfg, val, device)
            logw.writerow([gstep, epoch, 0, "", "", f"{elapsed0 + time.time() - t0:.1f}", json.dumps(metrics)])
            print(f"epoch {epoch} step {gstep} t={elapsed0 + time.time() - t0:.1f}s loss {lv:.4f} "
                  f"lr {sched.get_last_lr()[0]:.3g} val {json.dumps({k: round(v, 4) for k, v in metrics.items()})}",
                  flush=True)
            log_f.flush()
            for k, v in metrics.items():
                writer.add_scalar(f"val/{k}", v, gstep)
            if metrics["score"] > best:
                best = metrics["score"]
                save(out / "best.pt", epoch, 0, {"val": metrics})
        save(last, epoch, 0)
    if rank == 0:
        metrics = metrics or validate(model, cfg, val, device)
        final = {"model": model.state_dict(), "model_name": cfg["model"]["name"], "model_args": margs,
                 "config": cfg, "task": cfg["task"], "global_step": gstep, "val": metrics,
                 "n_params": count_params(model), "stopped_early": stopped}
        _atomic_save(final, out / "final.pt")
        (out / "summary.json").write_text(json.dumps({"global_step": gstep, "val": metrics,
                                                      "n_params": count_params(model),
                                                      "elapsed_s": round(elapsed0 + time.time() - t0, 1),
                                                      "stopped_early": stopped}, indent=1))
        writer.close()
        log_f.close()
    if world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return {"global_step": gstep, "val": metrics}
