"""The half-maximum label rule on spots of known shape, and painting into slab masks."""

from __future__ import annotations

import numpy as np

from peaknet_bench.engine.labels import assembled_labels, data_labels, label_iou, paint_labels, window_labels
from peaknet_bench.engine.profile import FitResult, Windows, extract_windows, fit_batched
from peaknet_bench.geometry import Assembler, preset


def _fit_from_params(params: np.ndarray) -> FitResult:
    n = params.shape[0]
    ones = np.ones(n, bool)
    return FitResult(params, np.ones(n), np.full(n, 81), np.ones(n, np.int64), ones, ones, "given")


def _windows(n: int, size: int = 9) -> Windows:
    z = np.zeros(n, np.int64)
    return Windows(np.zeros((n, size, size)), np.ones((n, size, size), bool), z + 10, z + 10, z.astype(np.int32), z)


def test_gaussian_half_maximum_disc():
    # Pure Gaussian, σ = 2 px: half maximum at r = σ√(2 ln 2) = 2.355 px.
    p = np.array([[100.0, 0.0, 0.0, 0.0, 2.0, 2.0, 1.0, 1.0, 0.0, 0.0, 50.0]])
    lab = window_labels(_fit_from_params(p), _windows(1))[0]
    yy, xx = np.mgrid[-4:5, -4:5]
    expect = np.hypot(yy, xx) <= 2.0 * np.sqrt(2 * np.log(2))
    assert np.array_equal(lab, expect)
    assert lab.sum() == 21  # r² ≤ 5.545: 1 + 4 + 4 + 4 + 8 pixels


def test_lorentzian_and_anisotropic_shapes():
    # Pure Lorentzian: L ≥ ½ ⇔ y²/γy² + x²/γx² ≤ 1 (an ellipse with the HWHM as semi-axes).
    p = np.array([[10.0, 1.0, 0.0, 0.0, 1.0, 1.0, 3.0, 1.0, 0.0, 0.0, 0.0]])
    lab = window_labels(_fit_from_params(p), _windows(1))[0]
    yy, xx = np.mgrid[-4:5, -4:5]
    assert np.array_equal(lab, (yy / 3.0) ** 2 + xx**2 <= 1.0)
    # Background and amplitude do not change the label (rule on the profile without background).
    q = p.copy()
    q[0, 0], q[0, 8:] = 1e4, (5.0, -3.0, 100.0)
    assert np.array_equal(window_labels(_fit_from_params(q), _windows(1))[0], lab)


def test_sharp_spot_between_pixels_labels_its_central_pixels():
    # Centre on a pixel corner: the four pixels around it are equally bright and all labelled
    # (relative to the brightest pixel); the A/2 rule would label none of them.
    p = np.array([[100.0, 0.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 0.0]])
    fit = _fit_from_params(p)
    lab = window_labels(fit, _windows(1))[0]
    assert lab.sum() == 4 and lab[4:6, 4:6].all()
    assert window_labels(fit, _windows(1), reference="profile")[0].sum() == 0
    # A spot centred on a pixel: same result for both references.
    q = p.copy()
    q[0, 2:4] = 0.0
    assert np.array_equal(window_labels(_fit_from_params(q), _windows(1))[0],
                          window_labels(_fit_from_params(q), _windows(1), reference="profile")[0])


def test_paint_respects_masks_frames_and_rejections():
    w = _windows(3)
    w.frame[:] = [0, 1, 1]
    w.fs0[:] = [10, 20, 40]
    w.valid[0, 4, 5] = False  # a bad pixel inside the spot
    p = np.tile(np.array([100.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]), (3, 1))
    fit = _fit_from_params(p)
    labels = window_labels(fit, w, which=np.array([True, True, False]))
    masks = paint_labels((30, 60), w, labels, n_frames=2)
    assert masks.dtype == np.uint8 and masks.shape == (2, 30, 60)
    assert masks[0, 10, 10] == 1 and masks[0, 10, 11] == 0  # masked pixel not labelled
    assert masks[1, 10, 20] == 1 and masks[1, 10, 40] == 0  # rejected fit not painted
    assert masks[0].sum() == labels[0].sum() and masks[1].sum() == labels[1].sum()


def test_fitted_labels_match_the_true_spot_on_a_detector():
    """Simulate spots on an Epix10k2M slab, fit, label, compare with the true half-max mask."""
    geom = preset("epix10k2m")
    rng = np.random.default_rng(4)
    slab = rng.poisson(5.0, geom.slab_shape).astype(np.float32)
    truth_mask = np.zeros(geom.slab_shape, bool)
    fs, ss, panel = [], [], []
    for i, p in enumerate(geom.panels[:20]):
        cf, cs = p.min_fs + 40 + rng.uniform(-0.5, 0.5), p.min_ss + 60 + rng.uniform(-0.5, 0.5)
        yy, xx = np.mgrid[-6:7, -6:7]
        r2 = ((yy + np.rint(cs) - cs) ** 2 + (xx + np.rint(cf) - cf) ** 2) / 1.1**2
        spot = 800.0 * np.exp(-0.5 * r2)
        sl = (slice(int(np.rint(cs)) - 6, int(np.rint(cs)) + 7), slice(int(np.rint(cf)) - 6, int(np.rint(cf)) + 7))
        slab[sl] += rng.poisson(spot)
        truth_mask[sl] |= spot >= 0.5 * spot.max()  # the simulator's rule: half the peak pixel
        fs.append(cf + rng.normal(0, 0.7)), ss.append(cs + rng.normal(0, 0.7)), panel.append(i)
    w = extract_windows(slab, fs, ss, panel, geom.panel_map, geom.bad_pixel_mask())
    fit = fit_batched(w)
    lab = window_labels(fit, w, fit.accepted(3.0))
    mask = paint_labels(geom.slab_shape, w, lab)[0]
    assert fit.accepted(3.0).mean() > 0.9
    assert label_iou(mask, truth_mask) > 0.85
    img = assembled_labels(Assembler(geom), mask)
    assert img.sum() == mask.sum()


def test_iou():
    a = np.zeros((4, 4), bool)
    assert np.isnan(label_iou(a, a))
    b = a.copy()
    a[0, :2] = True
    b[0, 1:3] = True
    assert label_iou(a, b) == 1 / 3


def test_data_labels_half_maximum_on_pixels():
    w = _windows(4)
    yy, xx = np.mgrid[-4:5, -4:5]
    spot = 100.0 * np.exp(-0.5 * (yy**2 + xx**2) / 1.0**2)
    w.data[:] = 10.0 + spot  # background 10 on every border pixel
    w.data[1, 0, 0] = 500.0  # a hot pixel in the corner, not connected to the spot
    w.data[2] = 10.0  # flat: no peak above the background
    w.data[3, 4, 5] += 1000.0  # brightest pixel one off the centre: the peak moves there
    lab = data_labels(w)
    expect = spot >= 50.0  # half way from background to peak
    assert np.array_equal(lab[0], expect) and expect.sum() == 5
    assert np.array_equal(lab[1], expect)  # the hot corner is not swept in
    assert not lab[2].any()
    assert lab[3].sum() == 1 and lab[3, 4, 5]
    # `which` and the valid mask are respected.
    w.valid[0, 4, 4] = False
    lab = data_labels(w, which=np.array([True, False, True, True]))
    # Centre masked: the peak is a neighbour (e^-½ of the spot), the cut halves that, and the
    # eight pixels around the centre pass it.
    assert not lab[1].any() and not lab[0, 4, 4]
    assert np.array_equal(lab[0], (spot >= 0.5 * spot[4, 5]) & w.valid[0]) and lab[0].sum() == 8
