"""From accepted fits to pixel labels.

Rule (half maximum of the fitted peak pixel): a pixel of a peak's fit window is labelled
when the fitted profile *without background*, evaluated at the pixel centre, is at least
`fraction` (default ½) of the same profile's brightest pixel in the window:

    A [η L + (1 − η) G](pixel) ≥ ½ · max over window pixels of A [η L + (1 − η) G]

Relative to the brightest *pixel* (not the continuous maximum A at the fitted centre), so a
spot centred between pixels labels its 2–4 equal central pixels instead of none, and the
rule is the simulator's truth rule (pixel signal ≥ ½ × the spot's peak pixel) applied to
the fitted profile. `reference="profile"` gives the alternative A/2 threshold. Only pixels
inside the fit window, on the peak's own panel and good in the bad-pixel mask are
labelled (a masked pixel carries no trusted signal). Label masks are uint8 (1 = peak) in
slab coordinates; `assembled_labels` maps them to the assembled image.

A rejected fit need not mean no spot: on integrating detectors many sharp spots (2-3
pixels, read noise on every pixel) fit the smooth profile badly. Left unlabelled, a real
spot that the finder found and the prediction confirmed is taught as background.
`data_labels` applies the same half-maximum rule to the window's pixels instead of the
fitted profile, for the engine's `unfit_label: half_max`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from peaknet_bench.engine.profile import FitResult, Windows, _grid, profile_components

if TYPE_CHECKING:
    from peaknet_bench.geometry import Assembler

HALF = 0.5


def window_labels(
    fit: FitResult, windows: Windows, which: np.ndarray | None = None,
    fraction: float = HALF, reference: str = "pixel",
) -> np.ndarray:
    """(N, S, S) bool: the label rule on each window (all False where `which` is False)."""
    if reference not in ("pixel", "profile"):
        raise ValueError(f"reference must be 'pixel' or 'profile', got {reference!r}")
    n, s = len(windows), windows.size
    y, x = _grid(s)
    G, L, _, _ = profile_components(fit.params, y, x)
    eta = fit.params[:, 1:2]
    shape = eta * L + (1.0 - eta) * G  # profile / A, maximum 1 at the fitted centre
    ref = shape.max(axis=1, keepdims=True) if reference == "pixel" else 1.0
    lab = (shape >= fraction * ref).reshape(n, s, s)
    lab &= windows.valid
    if which is not None:
        lab &= np.asarray(which, bool)[:, None, None]
    return lab


def data_labels(windows: Windows, which: np.ndarray | None = None, fraction: float = HALF) -> np.ndarray:
    """(N, S, S) bool: the half-maximum rule on the data of each window (no fit).

    Background = median of the window's valid border pixels; peak = the brightest valid
    pixel of the central 3x3 (the found position is the window centre). A pixel is labelled
    when it is valid, at least `fraction` of the way from background to peak, and
    8-connected to the peak pixel through such pixels (a neighbour spot in the window
    is not swept in). Windows whose peak is not above the background get no label.
    """
    n, s = len(windows), windows.size
    out = np.zeros((n, s, s), bool)
    if n == 0:
        return out
    data = np.where(windows.valid, windows.data, np.nan)
    border = np.ones((s, s), bool)
    border[1:-1, 1:-1] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: no label below
        bg = np.nanmedian(data[:, border], axis=1)
        bg = np.where(np.isnan(bg), np.nanmedian(data.reshape(n, -1), axis=1), bg)
    h = s // 2
    centre = np.where(windows.valid[:, h - 1 : h + 2, h - 1 : h + 2], windows.data[:, h - 1 : h + 2, h - 1 : h + 2], -np.inf)
    arg = centre.reshape(n, -1).argmax(axis=1)
    peak = centre.reshape(n, -1)[np.arange(n), arg]
    ok = np.isfinite(peak) & (peak > bg)
    if which is not None:
        ok &= np.asarray(which, bool)
    above = windows.valid & (windows.data >= (bg + fraction * (peak - bg))[:, None, None]) & ok[:, None, None]
    out[np.arange(n), h - 1 + arg // 3, h - 1 + arg % 3] = ok
    for _ in range(s * s):  # grow the peak's connected region inside `above`
        grown = out.copy()
        grown[:, 1:, :] |= out[:, :-1, :]
        grown[:, :-1, :] |= out[:, 1:, :]
        grown[:, :, 1:] |= grown[:, :, :-1].copy()
        grown[:, :, :-1] |= grown[:, :, 1:].copy()
        grown &= above
        if np.array_equal(grown, out):
            break
        out = grown
    return out


def paint_labels(
    slab_shape: tuple[int, int], windows: Windows, labels: np.ndarray, n_frames: int = 1,
) -> np.ndarray:
    """Write window labels into per-frame slab masks: (n_frames, n_ss, n_fs) uint8."""
    out = np.zeros((n_frames,) + tuple(slab_shape), np.uint8)
    if len(windows) == 0:
        return out
    ss, fs = windows.pixel_indices()
    sel = labels & windows.valid  # valid implies inside the slab
    frame = np.broadcast_to(windows.frame[:, None, None], labels.shape)
    out[frame[sel], ss[sel], fs[sel]] = 1
    return out


def assembled_labels(assembler: "Assembler", slab_labels: np.ndarray) -> np.ndarray:
    """Slab label masks (..., n_ss, n_fs) -> assembled images (..., H, W), gaps 0."""
    return assembler.assemble(np.asarray(slab_labels, np.uint8), fill=0)


def label_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Pixel intersection over union of two boolean masks (NaN when both are empty)."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    union = np.count_nonzero(p | t)
    return np.count_nonzero(p & t) / union if union else float("nan")
