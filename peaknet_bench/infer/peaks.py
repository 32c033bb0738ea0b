"""Segmentation → peaks: connected components of the peak class turned into a PeakList.

Centroids are weighted by the *detector image* (not the network's probabilities), and
intensities are real integrals above a local background measured on a ring around
each component — never a placeholder. All per-component statistics are computed with
`np.bincount` over the labelled image: no Python loop per component.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import ndimage

from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList
from peaknet_bench.geometry import Assembler

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class ExtractionConfig:
    """How components become peaks."""

    min_pixels: int = 1  # smaller components are dropped
    max_pixels: int = 400  # larger ones are not Bragg peaks (streaks, rings)
    background_gap: int = 1  # pixels skipped around a component before its background ring (peak tails)
    background_ring: int = 3  # ring width (pixels) for the local background
    max_peaks: int = 2048  # CXI limit; the strongest are kept
    # Components whose local signal-to-noise Σz/√npix is lower are dropped (0: keep all). Applied
    # where the model's input is the local signal-to-noise (not to old global-z-score models).
    # 10 maximises the F1 of the reference student against its label rule (the dispersion
    # finder's strong spots) on simulated Pilatus frames, and costs nothing on the others
    # (docs/inference.md): networks also mark weak spots that the label rule leaves out.
    min_snr: float = 10.0
    # DIALS' absolute cut, for agreeing with a DIALS run on a detector in ADU: a peak is kept
    # only when at least `min_spot_size` pixels of it and its 8-neighbours (good pixels) exceed
    # `global_threshold`, in the detector's raw units (DIALS' global_threshold and min_spot_size;
    # 0: off). The model marks a sharp spot's peak pixel, DIALS counts every pixel over its cut,
    # hence the neighbours.
    global_threshold: float = 0.0
    min_spot_size: int = 2
    # A spot is more than one bright pixel: at least `min_spot_size` pixels of the component and
    # its 8-neighbours must lie `min_pixel_snr` local noise sigmas above the local background (the
    # model's ``local`` input; 0: off). On charge-integrating detectors only (Geometry.counts_photons
    # False; ModelRunner.extraction), whose spots always spread over neighbours, so a lone bright
    # pixel is a zinger, a hot pixel or noise; a photon-counting detector's spot may be one pixel.
    # 11 is the best mean F1 against the label rule on the simulated integrating detectors
    # (baselines/models/choose_min_snr.py --field min_pixel_snr; docs/inference.md).
    min_pixel_snr: float = 11.0
    # DIALS' peak-centroid filter (its filter.max_separation, default 2 px; 0: off): a peak is
    # dropped when, on the strong spot under it (the dispersion finder's strong pixels, DIALS'
    # defaults), the brightest pixel lies farther than this from the raw-value-weighted centroid:
    # streaks, split and overlapping spots, which DIALS does not call spots. Needs the detector's
    # units per photon (the geometry's adu_per_photon); skipped where they are unknown.
    max_separation: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_pixels <= self.max_pixels:
            raise InputError(None, "min_pixels", f"expected 1 <= min_pixels <= max_pixels, got {self.min_pixels}, {self.max_pixels}")
        if self.background_gap < 0 or self.background_ring < 1:
            raise InputError(None, "background_ring", "expected background_gap >= 0 and background_ring >= 1")
        if self.max_peaks < 1:
            raise InputError(None, "max_peaks", f"expected >= 1, got {self.max_peaks}")
        if not (self.min_snr >= 0.0 and np.isfinite(self.min_snr)):
            raise InputError(None, "min_snr", f"expected a finite value >= 0, got {self.min_snr}")
        if not (self.global_threshold >= 0.0 and np.isfinite(self.global_threshold)):
            raise InputError(None, "global_threshold", f"expected a finite value >= 0, got {self.global_threshold}")
        if not (self.min_pixel_snr >= 0.0 and np.isfinite(self.min_pixel_snr)):
            raise InputError(None, "min_pixel_snr", f"expected a finite value >= 0, got {self.min_pixel_snr}")
        if not (self.max_separation >= 0.0 and np.isfinite(self.max_separation)):
            raise InputError(None, "max_separation", f"expected a finite value >= 0, got {self.max_separation}")
        if not 1 <= self.min_spot_size <= 9:
            raise InputError(None, "min_spot_size", f"expected 1..9 (pixels of a 3 x 3 neighbourhood), got {self.min_spot_size}")

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | None = None) -> "ExtractionConfig":
        """Build from a mapping of field names (a model method's `--params` file)."""
        from peaknet_bench.util.structured import dataclass_from_mapping

        return dataclass_from_mapping(cls, values, "peak-extraction", source)

    def changed(self) -> dict[str, Any]:
        """The fields that differ from the defaults (what a method spec records beside min_snr)."""
        default = ExtractionConfig()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}


def extract_peaks(
    segmentation: np.ndarray,
    image: np.ndarray,
    good: np.ndarray | None = None,
    config: ExtractionConfig | None = None,
    snr: np.ndarray | None = None,
    snr_squash: float | None = None,
) -> dict[str, np.ndarray]:
    """Components of a boolean (H, W) mask as peaks in the image's own (row, col) coordinates.

    Returns columns row, col (intensity-weighted centroid), intensity (Σ(v − local bg)),
    max_intensity, npix, background, and snr when `snr` is given: the per-pixel local
    signal-to-noise image z (the model's ``local`` input; `snr_squash` undoes its asinh
    squash), summed over the component and divided by √npix — the component's significance
    against the frame's own measured noise, whatever the detector's units. `good` (True =
    usable pixel) excludes bad pixels from components, centroids and backgrounds.
    """
    cfg = config or ExtractionConfig()
    seg = np.asarray(segmentation, dtype=bool)
    img = np.asarray(image)  # values are gathered (sparse) and converted to float64 then
    if seg.shape != img.shape:
        raise ValueError(f"segmentation {seg.shape} and image {img.shape} differ in shape")
    if good is not None:
        seg = seg & good
    labels, n = ndimage.label(seg, structure=_EIGHT)
    columns = ("row", "col", "intensity", "max_intensity", "npix", "background") + (("snr",) if snr is not None else ())
    empty = {k: np.zeros(0) for k in columns}
    if n == 0:
        return empty
    flat = labels.ravel()
    on = flat > 0
    lab = flat[on]
    vals = img.ravel()[on].astype(np.float64)
    npix = np.bincount(lab, minlength=n + 1)[1:]
    # Local background: mean of the good pixels in a ring `background_gap` pixels away from each
    # component (so its tails do not bias it), `background_ring` pixels wide.
    on_flat = np.flatnonzero(on)
    ring, ring_lab = _background_ring(seg, labels, on_flat, lab, cfg.background_gap,
                                      cfg.background_ring, good)
    ring_sum = np.bincount(ring_lab, weights=img.ravel()[ring].astype(np.float64), minlength=n + 1)[1:]
    ring_n = np.bincount(ring_lab, minlength=n + 1)[1:]
    background = np.divide(ring_sum, ring_n, out=np.zeros(n), where=ring_n > 0)
    above = vals - background[lab - 1]
    intensity = np.bincount(lab, weights=above, minlength=n + 1)[1:]
    peak_max = np.full(n + 1, -np.inf)
    np.maximum.at(peak_max, lab, above)
    # Centroid weighted by the background-subtracted signal, clipped at 0 so noise below the
    # background cannot drag it; components with no positive signal use the plain mean.
    rows, cols = np.divmod(on_flat, seg.shape[1])
    w = np.clip(above, 0.0, None)
    wsum = np.bincount(lab, weights=w, minlength=n + 1)[1:]
    use_w = wsum > 0
    weight = np.where(use_w[lab - 1], w, 1.0)
    wtot = np.bincount(lab, weights=weight, minlength=n + 1)[1:]
    row = np.bincount(lab, weights=weight * rows, minlength=n + 1)[1:] / wtot
    col = np.bincount(lab, weights=weight * cols, minlength=n + 1)[1:] / wtot
    keep = (npix >= cfg.min_pixels) & (npix <= cfg.max_pixels)
    comp_snr = None
    if snr is not None:
        z = np.asarray(snr).ravel()[on].astype(np.float64)
        if snr_squash:
            z = snr_squash * np.sinh(z / snr_squash)
        comp_snr = np.bincount(lab, weights=z, minlength=n + 1)[1:] / np.sqrt(npix)
        keep &= comp_snr >= cfg.min_snr
    if cfg.global_threshold > 0:
        keep &= _pixels_over(img, on_flat, lab, n, cfg.global_threshold, good) >= cfg.min_spot_size
    if snr is not None and cfg.min_pixel_snr > 0:
        cut = snr_squash * np.arcsinh(cfg.min_pixel_snr / snr_squash) if snr_squash else cfg.min_pixel_snr
        keep &= _pixels_over(np.asarray(snr), on_flat, lab, n, cut, good) >= cfg.min_spot_size
    order = np.argsort(-intensity[keep], kind="stable")[: cfg.max_peaks]
    idx = np.nonzero(keep)[0][order]
    idx.sort()  # raster order of first pixel, as the labels are assigned
    out = {
        "row": row[idx], "col": col[idx], "intensity": intensity[idx], "max_intensity": peak_max[1:][idx],
        "npix": npix[idx].astype(np.float64), "background": background[idx],
    }
    if comp_snr is not None:
        out["snr"] = comp_snr[idx]
    return out


def _windows(flat: np.ndarray, shape: tuple[int, int], half: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the (2·half+1)² window around every pixel of `flat` (clipped to the
    image) and the position in `flat` of the pixel each came from."""
    rows, cols = np.divmod(flat, shape[1])
    d = np.arange(-half, half + 1)
    r, c = np.broadcast_arrays(rows[:, None, None] + d[None, :, None], cols[:, None, None] + d[None, None, :])
    inside = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    src = np.broadcast_to(np.arange(rows.size)[:, None, None], inside.shape)[inside]
    return r[inside] * shape[1] + c[inside], src


def _pixels_over(img: np.ndarray, on_flat: np.ndarray, lab: np.ndarray, n: int,
                 threshold: float, good: np.ndarray | None) -> np.ndarray:
    """Per component: good pixels of the component grown by one pixel (8-neighbours) whose
    value exceeds `threshold` (a pixel next to two components counts for both)."""
    pix, src = _windows(on_flat, img.shape, 1)
    comp = lab[src]
    over = img.ravel()[pix] > threshold
    if good is not None:
        over &= np.asarray(good, bool).ravel()[pix]
    pairs = np.unique(comp[over].astype(np.int64) * img.size + pix[over])  # each pixel once per component
    return np.bincount(pairs // img.size, minlength=n + 1)[1:]


def _background_ring(seg: np.ndarray, labels: np.ndarray, on_flat: np.ndarray, lab: np.ndarray, gap: int,
                     width: int, good: np.ndarray | None, sparse: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the background-ring pixels and the component each belongs to.

    A pixel is in a ring when it lies within `gap + width` pixels (square window) of a
    component but not within `gap` of any component; it belongs to the highest label in its
    window (as a grey dilation of the label image). Peaks are sparse, so by default this is
    computed only around component pixels (pixels x window offsets, scattered into the
    image) — the same result as dilating the whole image (`sparse=False`, used when the
    components cover so much of the image that the sparse form would cost more).
    """
    inner = 2 * gap + 1
    outer = inner + 2 * width
    shape = seg.shape
    if sparse is None:
        sparse = on_flat.size * outer * outer < 2 * seg.size
    if not sparse:
        near = ndimage.binary_dilation(seg, structure=np.ones((inner, inner), bool))
        grown = ndimage.grey_dilation(labels, size=(outer, outer))
        ring = (grown > 0) & ~near
        if good is not None:
            ring &= good
        idx = np.flatnonzero(ring)
        return idx, grown.ravel()[idx]
    near = np.zeros(seg.size, dtype=bool)
    near[_windows(on_flat, shape, gap)[0]] = True
    cand, src = _windows(on_flat, shape, gap + width)
    grown = np.zeros(seg.size, dtype=labels.dtype)
    np.maximum.at(grown, cand, lab[src])
    idx = np.flatnonzero(grown)  # every candidate got a label >= 1
    keep = ~near[idx]
    if good is not None:
        keep &= np.asarray(good, bool).ravel()[idx]
    idx = idx[keep]
    return idx, grown[idx]


def segmentation_to_peaks(
    segmentation: np.ndarray,
    image: np.ndarray,
    assembler: Assembler,
    offset: tuple[int, int] = (0, 0),
    good: np.ndarray | None = None,
    config: ExtractionConfig | None = None,
    snr: np.ndarray | None = None,
    snr_squash: float | None = None,
) -> PeakList:
    """Peaks of a model-input-sized segmentation, mapped back to slab (fs, ss, panel).

    `offset` is the (row, col) of the model input's origin in the assembled image (negative
    when the input was padded); components whose centroid falls in padding or a panel gap
    are discarded. `good` defaults to the geometry's panel pixels, so padding and gaps never
    count as background.
    """
    if good is None:
        good = window(assembler.assembled_mask(), offset, np.shape(segmentation), fill=False)
    cols = extract_peaks(segmentation, image, good, config, snr, snr_squash)
    row = cols["row"] + offset[0]
    col = cols["col"] + offset[1]
    panel, fs, ss = assembler.image_to_slab(row, col)
    keep = panel >= 0
    return PeakList(
        fs=fs[keep], ss=ss[keep], panel=panel[keep], intensity=cols["intensity"][keep],
        max_intensity=cols["max_intensity"][keep], npix=cols["npix"][keep],
        snr=cols["snr"][keep] if "snr" in cols else None,
    )


def window(image: np.ndarray, offset: tuple[int, int], shape: tuple[int, int], fill=0) -> np.ndarray:
    """The (H, W) window of `image` whose origin is at `offset` (may be negative or run past the
    edge: those pixels get `fill`)."""
    out = np.full(tuple(shape), fill, dtype=np.asarray(image).dtype)
    r0, c0 = offset
    h, w = shape
    src_r = slice(max(r0, 0), min(r0 + h, image.shape[0]))
    src_c = slice(max(c0, 0), min(c0 + w, image.shape[1]))
    if src_r.start < src_r.stop and src_c.start < src_c.stop:
        out[src_r.start - r0 : src_r.stop - r0, src_c.start - c0 : src_c.stop - c0] = image[src_r, src_c]
    return out
