"""A PeakNet model as a batched peak finder, with preprocessing exactly as in training.

Preprocessing is the training code path's (`peaknet_bench.data.normalise`, with the
normalisation the checkpoint records): the slab is normalised (``local``: signal-to-noise
against a per-tile background, robust to hot and NaN pixels; older checkpoints: one
z-score per frame), assembled with the geometry and placed on a canvas — by default the
whole assembled detector, padded by the model to its stride, so no spot is cropped away
(a fixed `size` centres the beam instead) — so a checkpoint sees at inference exactly the
input distribution it was trained on. The three stages (`prepare` on the host,
`segment` on the device, `peaks` on the host) are separate methods so the pipeline can
overlap them; `run` chains them for plain use.

Segmentation → peaks uses `segmentation_to_peaks` with the *raw detector image* (not the
z-scored one), so intensities are real background-subtracted ADU integrals.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from peaknet_bench.data.canvas import CanvasPlan, beam_offsets, count_nonfinite
from peaknet_bench.data.normalise import GLOBAL, InputNorm, normalised_slab, panel_rects
from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.geometry import Assembler, Geometry
from peaknet_bench.infer.config import RunnerConfig
from peaknet_bench.infer.peaks import ExtractionConfig, segmentation_to_peaks, window
from peaknet_bench.peakfind.dispersion import DispersionFinder, DispersionParams


def load_network(model: str | os.PathLike | torch.nn.Module, seed: int = 0,
                 threads: int | None = None) -> torch.nn.Module:
    """A model from a checkpoint (.safetensors file or checkpoint directory), an exported .onnx
    file, a model config file (.json/.yaml) or a registry name; eval mode.

    Config files and registry names give *untrained* weights drawn from `seed` (for plumbing
    and speed measurements); the global torch RNG is left as it was.
    """
    if isinstance(model, torch.nn.Module):
        return model.eval()
    text = str(model)
    p = Path(text)
    if p.suffix == ".onnx":
        from peaknet_bench.models.onnx import OnnxPeakNet

        return OnnxPeakNet(p, threads=threads)
    if p.suffix == ".safetensors" or p.is_dir():
        from peaknet_bench.models import load_model

        return load_model(p).eval()
    from peaknet_bench.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(text).eval()


def model_input_norm(net: Any) -> InputNorm:
    """The normalisation a loaded network was trained with (torch model config or ONNX
    metadata); a model without a config (a bare module) gets the original global z-score."""
    cfg = getattr(net, "config", None)
    if cfg is not None and hasattr(cfg, "input_norm"):
        return cfg.input_norm
    return getattr(net, "input_norm", GLOBAL)


@dataclass
class Prepared:
    """A batch ready for the network, plus what postprocessing needs (host memory).

    `images` (k, 1, H, W) float32 z-scored canvases; `good` (k, H, W) good-pixel masks on the
    canvas; `raw` (k, H, W) the raw assembled detector image on the canvas; `offset` the
    canvas origin in assembled-image coordinates (the same for every frame of a geometry);
    `nonfinite` (k,) per frame, the pixels the mask called good that held NaN or ±Inf (they
    are treated as bad pixels; callers report the count); `slabs`, `masks` (k, ss, fs) the
    frames as given (a view, not a copy), for filters that work per panel.
    """

    images: torch.Tensor
    good: np.ndarray
    raw: np.ndarray
    offset: tuple[int, int]
    nonfinite: np.ndarray
    slabs: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])


class ModelRunner:
    """Assemble → pad/crop on the beam → z-score → segment → components → slab peaks."""

    def __init__(self, model: str | os.PathLike | torch.nn.Module, geometry: Geometry,
                 config: RunnerConfig | None = None) -> None:
        self.config = cfg = config or RunnerConfig()
        cfg.validate()
        self.geometry = geometry
        self.assembler = Assembler(geometry)
        self.panel_good = geometry.panel_map >= 0
        self.device = torch.device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(int(cfg.threads))
        net = load_network(model, cfg.seed, cfg.threads)
        self.model_name = (getattr(getattr(net, "config", None), "name", None)
                           or (type(model).__name__ if isinstance(model, torch.nn.Module) else Path(str(model)).stem))
        if cfg.backend == "onnx" and isinstance(net, torch.nn.Module):
            net = self._to_onnx(net)
        if isinstance(net, torch.nn.Module):
            net = net.to(self.device).eval()
            if cfg.compile:
                net = torch.compile(net)
        self.net = net
        self.input_norm = model_input_norm(net)
        self.rects = panel_rects(geometry)
        self._dispersion = DispersionFinder(DispersionParams(), geometry)  # regions for the shape filter
        self._panels_know_gain = all(p.adu_per_photon for p in geometry.panels)
        self.size = tuple(cfg.size) if cfg.size is not None else tuple(self.assembler.shape)
        if cfg.size is None:
            self.canvas_offset = (0, 0)  # canvas = assembled image
        else:
            beam_rc = (self.assembler.y_max, -self.assembler.x_min)  # lab x = y = 0, as the store records it
            self.canvas_offset = beam_offsets(beam_rc, self.size)
        # Canvas origin in assembled coordinates (negative where the canvas pads the image).
        self.offset = (-self.canvas_offset[0], -self.canvas_offset[1])
        self.plan = CanvasPlan.build(self.assembler, self.size, self.canvas_offset)
        self._pool = ThreadPoolExecutor(cfg.host_threads, "peaknet-host") if cfg.host_threads > 1 else None
        self._copy_stream = None
        self._logit_gap = None if cfg.threshold is None else math.log(cfg.threshold / (1.0 - cfg.threshold))

    def _to_onnx(self, net: torch.nn.Module):
        from peaknet_bench.models.onnx import OnnxPeakNet, export_onnx

        with tempfile.TemporaryDirectory(prefix="peaknet-onnx-") as tmp:
            path = export_onnx(net, Path(tmp) / "model.onnx", example_hw=tuple(self.config.size or (64, 64)))
            return OnnxPeakNet(path, threads=self.config.threads)

    # ------------------------------------------------------------------ stages
    def prepare(self, data: np.ndarray, mask: np.ndarray | None = None) -> Prepared:
        """(k, ss, fs) slabs (+ good-pixel masks) → z-scored canvases, as in training."""
        data = np.asarray(data, dtype=np.float32)
        if data.ndim == 2:
            data = data[None]
        if data.shape[1:] != tuple(self.geometry.slab_shape):
            raise InputError(None, "data", f"frame shape {data.shape[1:]} does not match the geometry slab "
                                           f"{tuple(self.geometry.slab_shape)}")
        k = data.shape[0]
        masks = np.broadcast_to(self.panel_good, data.shape) if mask is None else \
            np.asarray(mask, dtype=bool).reshape(data.shape) & self.panel_good
        H, W = self.size
        pin = self.device.type == "cuda"
        images = torch.empty((k, 1, H, W), dtype=torch.float32, pin_memory=pin)
        good = np.empty((k, H, W), dtype=bool)
        raw = np.empty((k, H, W), dtype=np.float32)
        out = images.numpy()
        nonfinite = np.zeros(k, np.int64)

        def one(i: int) -> None:
            slab = np.ascontiguousarray(data[i])
            slab_mask = np.ascontiguousarray(masks[i])
            nonfinite[i] = count_nonfinite(slab, slab_mask)
            image, mean, scale = normalised_slab(slab, slab_mask, self.rects, self.input_norm)
            self.plan.fill(image, slab_mask, out[i, 0], good[i], mean=mean, scale=scale)
            self.plan.fill(slab, self.panel_good, raw[i], np.empty((H, W), np.bool_))  # bad pixels kept

        self._map(one, range(k))
        return Prepared(images=images, good=good, raw=raw, offset=self.offset, nonfinite=nonfinite, slabs=data,
                        masks=masks)

    def _map(self, fn, items) -> list:
        """fn over items, on `host_threads` threads (the numba kernels release the GIL)."""
        if self._pool is None:
            return [fn(i) for i in items]
        return list(self._pool.map(fn, items))

    def upload(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Start the host→device copy of a prepared batch on a side CUDA stream, so it overlaps
        the previous batch's compute; `segment` waits for it. A no-op off CUDA."""
        if self.device.type != "cuda" or not isinstance(self.net, torch.nn.Module):
            return images
        if self._copy_stream is None:
            self._copy_stream = torch.cuda.Stream(self.device)
        with torch.cuda.stream(self._copy_stream):
            x = images.to(self.device, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self._copy_stream)
        return x, done

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def segment(self, images: torch.Tensor | tuple[torch.Tensor, Any]) -> np.ndarray:
        """(k, 1, H, W) canvases (or what `upload` returned) → (k, H, W) boolean peak
        segmentation in host memory. The decision is taken on the device, so only one byte
        per pixel comes back."""
        if not isinstance(self.net, torch.nn.Module):  # onnxruntime
            return self._decide(self.net(images)).numpy()
        if isinstance(images, tuple):  # uploaded on the side stream: wait for the copy
            x, done = images
            stream = torch.cuda.current_stream(self.device)
            stream.wait_event(done)
            x.record_stream(stream)
        else:
            x = images.to(self.device, non_blocking=True)
        k = x.shape[0]
        if self.config.compile and k < self.config.batch_size:
            # A compiled graph is specialised to the batch size: pad a short last batch
            # instead of paying a recompilation.
            x = torch.cat([x, x.new_zeros((self.config.batch_size - k, *x.shape[1:]))])
        with torch.inference_mode(), self._autocast():
            logits = self.net(x)[:k]
            return self._decide(logits).cpu().numpy()

    def _decide(self, logits: torch.Tensor) -> torch.Tensor:
        gap = logits[:, 1].float() - logits[:, 0].float()
        return gap > (0.0 if self._logit_gap is None else self._logit_gap)

    def warmup(self) -> None:
        """One full batch of blank frames through all three stages: JIT loading (numba,
        torch.compile), cuDNN autotuning and allocator growth happen here, before frames are
        timed."""
        blank = np.zeros((self.config.batch_size, *self.geometry.slab_shape), np.float32)
        prepared = self.prepare(blank)
        self.peaks(self.segment(self.upload(prepared.images)), prepared)

    def peaks(self, segmentation: np.ndarray, prepared: Prepared) -> list[PeakList]:
        """Per-frame slab peak lists from the canvas segmentation and the raw detector image."""
        # the significance cut (ExtractionConfig.min_snr) reads the local signal-to-noise input
        images = prepared.images.numpy() if self.input_norm.kind != GLOBAL else None

        extraction = self.extraction()

        def one(i: int) -> PeakList:
            peaks = segmentation_to_peaks(
                segmentation[i], prepared.raw[i], self.assembler, offset=prepared.offset, good=prepared.good[i],
                config=extraction, snr=None if images is None else images[i, 0],
                snr_squash=self.input_norm.squash)
            return self._shape_filter(peaks, prepared, i)

        return self._map(one, range(len(prepared)))

    def extraction(self) -> ExtractionConfig:
        """The extraction rules as they apply to this detector: the two-pixel cut
        (`min_pixel_snr`) only where the detector is known to integrate charge, whose spots
        always spread over neighbours; a photon-counting detector's may be one pixel, and an
        unknown detector (a CrystFEL .geom) keeps them."""
        cfg = self.config.extraction
        if self.geometry.counts_photons is False or cfg.min_pixel_snr == 0:
            return cfg
        return dataclasses.replace(cfg, min_pixel_snr=0.0)

    def _shape_filter(self, peaks: PeakList, prepared: Prepared, i: int) -> PeakList:
        """DIALS' peak-centroid filter (ExtractionConfig.max_separation) on the frame's slab; peaks
        on no strong spot are kept (the filter has nothing to judge). DIALS' strong-pixel test
        needs the detector's units per photon, so the filter runs only where the geometry
        knows them (photon-counting detectors, simulated ones, a .geom's adu_per_photon)."""
        limit = self.config.extraction.max_separation
        if limit <= 0 or len(peaks) == 0 or not self._panels_know_gain:
            return peaks
        sep = self._dispersion.spot_separation(peaks, prepared.slabs[i], prepared.masks[i])
        return peaks.subset(np.flatnonzero(~(sep > limit)))

    def run(self, data: np.ndarray, mask: np.ndarray | None = None) -> list[PeakList]:
        """All three stages over (k, ss, fs) slabs, `batch_size` frames at a time."""
        data = np.asarray(data)
        if data.ndim == 2:
            data = data[None]
            mask = None if mask is None else np.asarray(mask)[None]
        out: list[PeakList] = []
        b = self.config.batch_size
        for lo in range(0, data.shape[0], b):
            prepared = self.prepare(data[lo : lo + b], None if mask is None else mask[lo : lo + b])
            out.extend(self.peaks(self.segment(prepared.images), prepared))
        return out

    def describe(self) -> dict[str, Any]:
        c = self.config
        return {"model": self.model_name, "size": list(self.size), "batch_size": c.batch_size, "device": c.device,
                "precision": c.precision, "compile": c.compile, "backend": c.backend, "threshold": c.threshold,
                "input_norm": self.input_norm.kind}


class ModelPeakFinder:
    """A PeakNet model behind the `PeakFinder` protocol (`find(frame) -> PeakList`), so the
    evaluation harness can score a model directly; `find_batch` batches frames."""

    def __init__(self, model: str | os.PathLike | torch.nn.Module, geometry: Geometry,
                 config: RunnerConfig | None = None, name: str | None = None) -> None:
        self.runner = ModelRunner(model, geometry, config)
        self.name = name or f"model:{self.runner.model_name}"

    def find(self, frame: Frame) -> PeakList:
        return self.runner.run(frame.data[None], frame.mask[None])[0]

    def find_with_segmentation(self, frame: Frame) -> tuple[PeakList, np.ndarray]:
        """Peaks plus the segmentation mapped back to the slab (bool, (n_ss, n_fs)), so that an
        evaluation can score pixels against a slab label mask."""
        r = self.runner
        prepared = r.prepare(frame.data[None], frame.mask[None])
        seg = r.segment(prepared.images)
        peaks = r.peaks(seg, prepared)[0]
        # Canvas → assembled image (the inverse window) → slab.
        assembled = window(seg[0], r.canvas_offset, r.assembler.shape, fill=False)
        return peaks, r.assembler.disassemble(assembled, fill=False)

    def find_batch(self, frames: list[Frame]) -> list[PeakList]:
        if not frames:
            return []
        return self.runner.run(np.stack([f.data for f in frames]), np.stack([f.mask for f in frames]))
