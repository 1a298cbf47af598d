import math

import pytest
import torch
import torch.nn.functional as F

from sonoedge_train.config import resolve
from sonoedge_train.data.labels import IGNORE, NOT_LV
from sonoedge_train.errors import ConfigError
from sonoedge_train.losses import DiceCELoss, focal_loss, lv_area_loss, partial_cross_entropy, soft_dice_loss
from sonoedge_train.train import Task


def test_soft_dice_hand_case():
    # 2 classes, 1x1x2 image, probabilities for class 1: [0.5, 0.5] (logits 0), target [1, 0]
    logits = torch.zeros(1, 2, 1, 2)
    target = torch.tensor([[[1, 0]]])
    # class 1: inter = 0.5, |P| = 1, |G| = 1 -> dice 0.5 -> loss 0.5
    assert soft_dice_loss(logits, target, smooth=0).item() == pytest.approx(0.5)
    # with background: class 0 also 0.5 -> mean 0.5
    assert soft_dice_loss(logits, target, include_background=True, smooth=0).item() == pytest.approx(0.5)
    perfect = torch.tensor([[[[-20.0, 20.0]], [[20.0, -20.0]]]])
    assert soft_dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)


def test_dice_ce_is_the_sum():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 5)
    target = torch.randint(0, 4, (2, 5, 5))
    expected = soft_dice_loss(logits, target) + F.cross_entropy(logits, target)
    assert DiceCELoss()(logits, target).item() == pytest.approx(expected.item())


def test_focal_hand_case():
    logits = torch.tensor([[math.log(3.0), 0.0]])  # p = [0.75, 0.25]
    t = torch.tensor([0])
    assert focal_loss(logits, t, gamma=2.0).item() == pytest.approx(-(0.25 ** 2) * math.log(0.75))
    assert focal_loss(logits, t, gamma=0.0).item() == pytest.approx(F.cross_entropy(logits, t).item())
    assert focal_loss(logits, t, gamma=2.0, alpha=[0.25, 0.75]).item() == pytest.approx(-0.25 * 0.0625 * math.log(0.75))
    # ignore_index rows do not count
    l2 = torch.cat([logits, logits])
    assert focal_loss(l2, torch.tensor([0, -1]), gamma=2.0, ignore_index=-1).item() == pytest.approx(
        -(0.25 ** 2) * math.log(0.75))


def test_lv_area_loss_hand_case():
    # 4 classes, two 1x4 frames; logits 0 everywhere but class 1 (LV) at log 3 -> p_LV = 3 / 6 = 0.5 per pixel
    logits = torch.zeros(3, 4, 1, 4)
    logits[:, 1] = math.log(3.0)
    target = torch.tensor([[[1, 0, 0, 0]],  # 1 LV pixel, soft area 2.0 -> |2 - 1| / 1 = 1
                           [[1, 1, IGNORE, NOT_LV]],  # 2 LV pixels, soft area over 3 known pixels 1.5 -> 0.25
                           [[0, 2, 3, IGNORE]]])  # no LV: left out of the mean
    assert lv_area_loss(logits, target).item() == pytest.approx((1.0 + 0.25) / 2)
    assert lv_area_loss(logits[2:], target[2:]).item() == 0.0


def test_task_adds_the_area_term_with_its_weight():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 6, 6)
    target = torch.randint(0, 4, (2, 6, 6))
    base = Task(resolve(), "cpu").loss(logits, {"mask": target}).item()
    cfg = resolve(sets=["loss.area_weight=0.5"])
    assert Task(cfg, "cpu").loss(logits, {"mask": target}).item() == pytest.approx(
        base + 0.5 * lv_area_loss(logits, target).item())
    with pytest.raises(ConfigError, match="loss.area_weight expected a number >= 0 but received -1"):
        resolve(sets=["loss.area_weight=-1"])


def test_task_seg_loss_choices():
    """loss.seg picks the segmentation loss: "ce" is the cross-entropy alone (the Dice + CE loss without its soft
    Dice term), "focal" the focal loss; anything else is refused with its name."""
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 6, 6)
    target = torch.randint(0, 4, (2, 6, 6))
    target[0, 0, :2] = IGNORE
    target[1, 1, :3] = NOT_LV
    ce = Task(resolve(sets=["loss.seg=ce"]), "cpu").loss(logits, {"mask": target}).item()
    assert ce == pytest.approx(partial_cross_entropy(logits, target).item())
    both = Task(resolve(), "cpu").loss(logits, {"mask": target}).item()
    assert both == pytest.approx(ce + soft_dice_loss(logits, target).item())
    focal = Task(resolve(sets=["loss.seg=focal", "loss.focal_gamma=0"]), "cpu").loss(logits, {"mask": target}).item()
    assert focal == pytest.approx(ce)  # focal with gamma 0 is the cross-entropy
    with pytest.raises(ConfigError) as e:
        resolve(sets=["loss.seg=dice"])
    assert str(e.value) == ("E_CONFIG_VALUE: loss.seg expected one of ['ce', 'dice_ce', 'dice_focal', 'focal'] but "
                            "received 'dice'")
