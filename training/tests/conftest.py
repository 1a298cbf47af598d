import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small simulated dataset shared by the training tests: 10 cines (2 per view) of 6 frames."""
    from sonoedge_train.data.synthetic import write_dataset
    root = tmp_path_factory.mktemp("sim")
    write_dataset(root / "train", n_cines=10, seed=5, frames_per_cine=6, size=(64, 64))
    write_dataset(root / "val", n_cines=5, seed=6, frames_per_cine=6, size=(64, 64), difficulty="hard")
    return root
