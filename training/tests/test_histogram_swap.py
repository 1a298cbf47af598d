"""training/scripts/histogram_swap.py's grey-level swap: the sector's grey levels take the reference's distribution,
their order and everything at or under the floor stay."""
import numpy as np

from script_module import load_script

hs = load_script("histogram_swap")


def test_swap_maps_the_sector_onto_the_reference_distribution_and_keeps_order_and_the_outside():
    rng = np.random.default_rng(0)
    frames = np.zeros((2, 32, 32), np.uint8)
    frames[:, 8:24, 8:24] = rng.integers(20, 120, (2, 16, 16))  # the "sector": grey levels 20-119
    frames[0, 0, 0] = 3  # under the floor: left alone
    u = np.linspace(0.0, 1.0, 10_001)
    reference = (100.0 + 150.0 * u ** 2).astype(np.float32)  # skewed: quartiles 109.4, 137.5, 184.4
    out = hs.swap(frames, reference)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    inside = frames > hs.FLOOR
    assert (out[~inside] == frames[~inside]).all() and out[0, 0, 0] == 3
    for k in range(2):
        v, w = frames[k][inside[k]].astype(int), out[k][inside[k]].astype(int)
        assert w.min() >= 100 and w.max() <= 250
        # order kept: a brighter input pixel is never mapped darker
        o = np.argsort(v, kind="stable")
        assert (np.diff(w[o]) >= 0).all()
        # the distribution is the reference's, not a linear stretch of the input's (which would put the quartiles
        # near 137.5, 175, 212.5): within 3 grey levels of 109.4, 137.5, 184.4
        assert np.allclose(np.percentile(w, [25, 50, 75]), [109.4, 137.5, 184.4], atol=3.0)
        # pixels of one grey level stay one grey level
        for level in np.unique(v)[:5]:
            assert len(np.unique(w[v == level])) == 1
    assert np.array_equal(hs.sector_values(frames), frames[inside].astype(np.float32))
    # a frame with nothing over the floor: returned as it is
    black = np.zeros((1, 8, 8), np.uint8)
    assert np.array_equal(hs.swap(black, reference), black)
