"""The only definitions shared with the training harness: view names, segmentation labels, the format tag."""

FORMAT = "sonoedge-phantom/1"
VIEWS = ["A4C", "A2C", "PLAX", "PSAX", "OTHER"]
SEG_LABELS = ["background", "lv", "myocardium", "la"]  # 0 background, 1 LV cavity, 2 LV myocardium, 3 LA
APICAL = ("A4C", "A2C")
CARDIAC_VIEWS = ("A4C", "A2C", "PLAX", "PSAX")
POSITIVE_VARIANTS = ("clean", "noisy", "shadow", "gain_low", "gain_high", "off_axis", "foreshortened")
NEGATIVE_VARIANTS = ("rotated", "flipped", "noncardiac")
VARIANTS = POSITIVE_VARIANTS + NEGATIVE_VARIANTS
SCENES = ("liver", "kidney", "lymph_node", "bladder", "muscle")
