import math

import pytest
import torch
import torch.nn.functional as F

from sonoedge_train.losses import DiceCELoss, focal_loss, soft_dice_loss


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
