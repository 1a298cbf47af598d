"""sonoedge_train: the sonoedge training harness (simulator, readers, models, training, evaluation)."""
__version__ = "0.1.0"
