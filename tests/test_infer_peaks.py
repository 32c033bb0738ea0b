"""Segmentation → peaks on hand-made masks."""

import numpy as np
import pytest

from peaknet_bench.geometry import Assembler, Geometry, Panel, preset
from peaknet_bench.infer.peaks import ExtractionConfig, extract_peaks, segmentation_to_peaks


def _gauss(shape, r0, c0, amp, sigma=1.0):
    r, c = np.mgrid[: shape[0], : shape[1]]
    return amp * np.exp(-((r - r0) ** 2 + (c - c0) ** 2) / (2 * sigma**2))


def test_single_blob_centroid_and_intensity():
    img = 10.0 + _gauss((40, 40), 20.3, 15.6, 500.0)
    seg = img > 60
    out = extract_peaks(seg, img)
    assert len(out["row"]) == 1
    assert out["row"][0] == pytest.approx(20.3, abs=0.05)
    assert out["col"][0] == pytest.approx(15.6, abs=0.05)
    assert out["background"][0] == pytest.approx(10.0, abs=0.5)
    # Integral of the part of the Gaussian inside the component, above the flat background.
    truth = (img - 10.0)[seg].sum()
    assert out["intensity"][0] == pytest.approx(truth, rel=0.02)


def test_diagonal_touching_blobs_merge_and_separate_blobs_do_not():
    seg = np.zeros((10, 10), bool)
    seg[2, 2] = seg[3, 3] = True  # diagonal neighbours: one component (8-connectivity)
    seg[7, 7] = True
    img = np.where(seg, 100.0, 1.0)
    out = extract_peaks(seg, img)
    assert sorted(out["npix"].tolist()) == [1.0, 2.0]


def test_size_cut_and_max_peaks():
    seg = np.zeros((20, 20), bool)
    seg[1:6, 1:6] = True  # 25 px
    seg[10, 10] = True
    seg[15, 15] = True
    img = np.where(seg, 50.0, 0.0)
    img[15, 15] = 500.0
    out = extract_peaks(seg, img, config=ExtractionConfig(max_pixels=10))
    assert out["npix"].tolist() == [1.0, 1.0]
    strongest = extract_peaks(seg, img, config=ExtractionConfig(max_pixels=10, max_peaks=1))
    assert (strongest["row"][0], strongest["col"][0]) == (15.0, 15.0)


def test_significance_cut_reads_the_local_snr_input():
    """Σz/√npix per component, z un-squashed from the model's asinh input; without the snr
    image (a global-z-score model) nothing is cut."""
    seg = np.zeros((20, 20), bool)
    seg[2:4, 2:4] = True  # 4 px at z = 4: significance 8
    seg[10:13, 10:13] = True  # 9 px at z = 6: significance 18
    z = np.where(seg, 4.0, 0.0)
    z[10:13, 10:13] = 6.0
    squash = 10.0
    x = squash * np.arcsinh(z / squash)  # what the model saw
    img = np.where(seg, 50.0, 1.0)
    out = extract_peaks(seg, img, snr=x, snr_squash=squash, config=ExtractionConfig(min_snr=0.0, min_pixel_snr=0.0))
    assert out["snr"].tolist() == pytest.approx([8.0, 18.0])
    cut = extract_peaks(seg, img, snr=x, snr_squash=squash, config=ExtractionConfig(min_snr=10.0, min_pixel_snr=0.0))
    assert cut["row"].tolist() == pytest.approx([11.0]) and cut["snr"].tolist() == pytest.approx([18.0])
    assert ExtractionConfig().min_snr == 10.0  # the default cut
    assert len(extract_peaks(seg, img)["row"]) == 2 and "snr" not in extract_peaks(seg, img)


def test_global_threshold_counts_pixels_over_it_around_each_component():
    """DIALS' absolute cut: a model component (often just a sharp spot's peak pixel) is kept when
    at least min_spot_size pixels of it and its 8-neighbours exceed global_threshold (raw units);
    a bad pixel never counts."""
    img = np.full((20, 20), 10.0)
    seg = np.zeros((20, 20), bool)
    seg[3, 3] = True
    img[3, 3], img[4, 3] = 300.0, 150.0  # a sharp spot: the neighbour is over 100 too
    seg[10, 10] = True
    img[10, 10], img[11, 10] = 300.0, 60.0  # one pixel over 100: a DIALS spot of size 1
    seg[15, 14:16] = True
    img[15, 14:16] = 120.0  # two pixels of the component itself
    off = extract_peaks(seg, img, config=ExtractionConfig(min_snr=0.0))
    assert len(off["row"]) == 3  # 0: off, the default
    kept = extract_peaks(seg, img, config=ExtractionConfig(global_threshold=100.0, min_spot_size=2))
    assert kept["row"].tolist() == pytest.approx([3.0, 15.0])
    one = extract_peaks(seg, img, config=ExtractionConfig(global_threshold=100.0, min_spot_size=1))
    assert len(one["row"]) == 3
    good = np.ones_like(seg)
    good[4, 3] = False  # the spot's second pixel is bad: it no longer counts
    masked = extract_peaks(seg, img, good=good, config=ExtractionConfig(global_threshold=100.0))
    assert masked["row"].tolist() == pytest.approx([15.0])


def test_two_pixel_cut_counts_pixels_over_a_local_snr():
    """A spot is more than one bright pixel: with min_pixel_snr, a component is kept when at
    least min_spot_size pixels of it and its 8-neighbours lie that many local sigmas up (the
    model's squashed local-SNR input, unsquashed for the comparison); a lone bright pixel, the
    signature of a zinger or a hot pixel, goes however bright it is."""
    squash = 10.0
    z = np.zeros((20, 20))
    seg = np.zeros((20, 20), bool)
    seg[3, 3], z[3, 3], z[3, 4] = True, 60.0, 12.0  # a sharp spot: its neighbour is 12 sigma up
    seg[10, 10], z[10, 10], z[11, 10] = True, 1000.0, 3.0  # a lone pixel, 1000 sigma
    seg[15, 14:16], z[15, 14:16] = True, 11.5  # two pixels of the component itself
    img = np.where(seg, 50.0, 1.0)
    x = squash * np.arcsinh(z / squash)
    off = extract_peaks(seg, img, snr=x, snr_squash=squash, config=ExtractionConfig(min_snr=0.0, min_pixel_snr=0.0))
    assert len(off["row"]) == 3
    kept = extract_peaks(seg, img, snr=x, snr_squash=squash, config=ExtractionConfig(min_snr=0.0, min_pixel_snr=11.0))
    assert kept["row"].tolist() == pytest.approx([3.0, 15.0])
    strict = extract_peaks(seg, img, snr=x, snr_squash=squash, config=ExtractionConfig(min_snr=0.0, min_pixel_snr=12.5))
    assert len(strict["row"]) == 0  # 12 and 11.5 sigma are under 12.5
    good = np.ones_like(seg)
    good[3, 4] = False  # a bad pixel never counts
    masked = extract_peaks(seg, img, good=good, snr=x, snr_squash=squash,
                           config=ExtractionConfig(min_snr=0.0, min_pixel_snr=11.0))
    assert masked["row"].tolist() == pytest.approx([15.0])
    assert ExtractionConfig().min_pixel_snr == 11.0  # the default (on charge-integrating detectors)


def test_bad_pixels_excluded():
    img = _gauss((20, 20), 10, 10, 100.0)
    seg = img > 20
    good = np.ones_like(seg)
    good[10, 10] = False
    out = extract_peaks(seg, img, good)
    assert out["npix"][0] == seg.sum() - 1


def test_border_blob_and_padding_offset_map_to_slab():
    # One 32x32 panel; the model input is the assembled image padded by 4 px on each side.
    g = Geometry(panels=[Panel("p0", 0, 31, 0, 31, corner_x=-16, corner_y=16, ss=(0, -1, 0))], clen_m=0.1)
    asm = Assembler(g)
    slab = np.full((32, 32), 5.0)
    slab[0, 10] = slab[0, 11] = 200.0  # a blob on the panel border row
    image = np.pad(asm.assemble(slab), 4)
    seg = image > 100
    seg[0:2, 0:2] = True  # a component entirely in the padding: discarded
    peaks = segmentation_to_peaks(seg, image, asm, offset=(-4, -4))
    assert len(peaks) == 1
    assert peaks.panel[0] == 0
    assert peaks.ss[0] == pytest.approx(0.0, abs=1e-9)
    assert peaks.fs[0] == pytest.approx(10.5, abs=1e-9)
    assert peaks.intensity[0] == pytest.approx(2 * 195.0, rel=1e-6)


def test_components_in_panel_gaps_are_dropped_on_a_real_detector():
    g = preset("epix10k2m")
    asm = Assembler(g)
    seg = np.zeros(asm.shape, bool)
    gap = np.argwhere(~asm.assembled_mask())[1000]
    seg[gap[0], gap[1]] = True
    inside = np.argwhere(asm.assembled_mask())[5000]
    seg[inside[0], inside[1]] = True
    image = seg * 100.0
    peaks = segmentation_to_peaks(seg, image, asm)
    assert len(peaks) == 1
    r, c = asm.slab_to_image(peaks.fs, peaks.ss, peaks.panel)
    assert (r[0], c[0]) == pytest.approx((inside[0], inside[1]), abs=1e-6)


def test_sparse_background_ring_equals_whole_image_dilation():
    """The sparse ring (window offsets around component pixels) is the dense dilation's ring,
    blobs on the image border and touching neighbours' windows included."""
    from scipy import ndimage

    from peaknet_bench.infer.peaks import _background_ring

    rng = np.random.default_rng(7)
    for trial in range(6):
        shape = (40 + trial, 57)
        seg = ndimage.binary_dilation(rng.random(shape) < 0.01, iterations=int(rng.integers(0, 2)))
        seg[0, :3] = seg[-2:, -1] = True  # border blobs
        good = rng.random(shape) > 0.05
        labels, _ = ndimage.label(seg, structure=np.ones((3, 3), bool))
        on = np.flatnonzero(labels)
        lab = labels.ravel()[on]
        for gap, width in ((1, 3), (0, 2), (2, 1)):
            a = _background_ring(seg, labels, on, lab, gap, width, good, sparse=True)
            b = _background_ring(seg, labels, on, lab, gap, width, good, sparse=False)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])


def test_extraction_config_from_a_mapping_checks_names_and_values():
    import pytest

    from peaknet_bench.errors import InputError

    c = ExtractionConfig.from_dict({"min_snr": 6, "max_pixels": 50}, source="x.yaml")
    assert (c.min_snr, c.max_pixels) == (6, 50) and c.changed() == {"min_snr": 6, "max_pixels": 50}
    assert ExtractionConfig().changed() == {}
    with pytest.raises(InputError, match="x.yaml: threshold: unknown peak-extraction parameter"):
        ExtractionConfig.from_dict({"threshold": 3}, source="x.yaml")
    for bad, field in (({"min_snr": -1}, "min_snr"), ({"min_snr": float("nan")}, "min_snr"),
                       ({"min_pixels": 5, "max_pixels": 4}, "min_pixels"), ({"max_peaks": 0}, "max_peaks"),
                       ({"background_ring": 0}, "background_ring"), ({"global_threshold": -1}, "global_threshold"),
                       ({"min_spot_size": 0}, "min_spot_size"), ({"max_separation": -1}, "max_separation"),
                       ({"min_pixel_snr": -1}, "min_pixel_snr")):
        with pytest.raises(InputError, match=f"x.yaml: {field}"):
            ExtractionConfig.from_dict(bad, source="x.yaml")
