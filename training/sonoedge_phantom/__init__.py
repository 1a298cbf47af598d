"""sonoedge_phantom: an echo generator written apart from the training simulator, used only to measure transfer.

It shares nothing with sonoedge_train but the label definitions (labels.py). See README.md for the anatomy and
image models, the on-disk format and the command line."""
from .labels import FORMAT, SEG_LABELS, VIEWS
from .errors import PhantomError

__all__ = ["FORMAT", "SEG_LABELS", "VIEWS", "PhantomError"]
