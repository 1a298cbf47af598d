"""Special mask values of real (partly annotated) datasets, format sonoedge-real/1 (import_real.py).

Segmentation labels are 0 background, 1 LV, 2 myocardium, 3 LA (constants.SEG_LABELS). Two more values mark what
a real annotation leaves open; the losses (losses.py) and the dataset reader (synthetic.SimDataset) know them:

- IGNORE (255): not annotated. The pixel contributes to no loss term.
- NOT_LV (254): known not to be LV cavity, but whether background, myocardium or LA is not known (EchoNet-Dynamic
  traces only the LV: every pixel outside the tracing is "not LV"). The cross-entropy term is -log(1 - p_LV) (the
  probability of the set {background, myocardium, LA}); the LV Dice term counts the pixel as not LV; the Dice terms
  of the other classes leave it out.

Ignoring the pixels outside an EchoNet tracing instead (255) would leave nothing that penalises LV predicted
outside the cavity, and fine-tuning would grow the LV.
"""
LV = 1
NOT_LV = 254
IGNORE = 255
SPECIAL = (NOT_LV, IGNORE)
