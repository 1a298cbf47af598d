"""training/scripts/view_display.py's replay of the runtime's ClassSmoother (src/pipeline/postprocess.ts), on the
sequences test/unit/pipeline.postprocess.test.ts feeds the TypeScript one: the same frames shown."""

import numpy as np

from script_module import load_script

view_display = load_script("view_display")


def test_a_clean_change_is_shown_on_the_5th_frame_at_weight_0_3_and_the_10th_at_0_1():
    seq = np.array([[1.0, 0.0]] + [[0.0, 1.0]] * 12)
    assert view_display.shown_views(seq, 0.3, 0.1, 3)[1:].tolist() == [0] * 4 + [1] * 8
    assert view_display.shown_views(seq, 0.1, 0.1, 3)[1:].tolist() == [0] * 9 + [1] * 3


def test_a_wavering_model_flips_the_display_at_weight_0_3_and_not_at_0_1():
    seq = np.array([[0.8, 0.2] if i % 10 < 6 else [0.1, 0.9] for i in range(100)])
    assert set(view_display.shown_views(seq, 0.3, 0.1, 3).tolist()) == {0, 1}
    assert set(view_display.shown_views(seq, 0.1, 0.1, 3).tolist()) == {0}


def test_one_frame_of_another_class_does_not_flip_it_and_the_first_frame_shows_its_own_best():
    # ClassSmoother switches only after a sustained lead (the TypeScript test's sequence, weight 0.5, hold 3)
    seq = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1]] + [[0.05, 0.9, 0.05]] * 5)
    assert view_display.shown_views(seq, 0.5, 0.1, 3).tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    assert view_display.ema(np.array([1.0, 0.0, 0.0]), 0.5).tolist() == [1.0, 0.5, 0.25]


def test_confidence_split_counts_right_and_wrong_frames_under_each_threshold():
    views = ["A4C", "A2C", "OTHER"]
    prob = np.array([[0.9, 0.05, 0.05], [0.55, 0.4, 0.05], [0.3, 0.65, 0.05], [0.1, 0.85, 0.05]])
    # an A4C cine: frames 0 and 1 right (0.9, 0.55), frames 2 and 3 wrong (0.65, 0.85)
    s = view_display.confidence_split([{"view": "A4C", "prob": prob}], views, thresholds=(0.6, 0.9))
    assert s == {"frames_right": 2, "frames_wrong": 2, "under": {"0.6": [0.5, 0.0], "0.9": [0.5, 1.0]}}


def test_shown_views_with_average_gives_the_shown_class_averaged_probability():
    seq = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    shown, kept = view_display.shown_views(seq, 0.5, 0.1, 3, with_average=True)
    # the average of class 0 (still shown): 1, 0.5, 0.25
    assert shown.tolist() == [0, 0, 0] and kept.tolist() == [1.0, 0.5, 0.25]


def test_quantile_row_gives_the_threshold_over_right_frames_and_the_wrong_frames_under_it():
    right = [0.5, 0.6, 0.7, 0.8, 0.9]
    # numpy's linear quantile: 0.25 of the way from 0.5 to 0.6 at q = 0.0625
    row = view_display.quantile_row(right, [0.4, 0.52, 0.53, 0.95], 0.0625)
    assert row == {"threshold": 0.525, "wrong_under": 0.5}
    assert view_display.quantile_row(right, [], 0.5) == {"threshold": 0.7, "wrong_under": None}
