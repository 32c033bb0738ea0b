"""Real versus simulated frames, measured the same way (`peaknet-bench sim compare`).

Why a concept of its own, placed just above `engine` in the layering: the comparison reads
real frames (`io`), makes simulated ones (`sim`), finds spots (`peakfind`) and fits them with
the data engine's pseudo-Voigt fitter (`engine`), so it must sit above all four; `sim` itself
is a low layer and may import none of peakfind/engine. Directly above `engine` is the lowest
place that allows it, so nothing higher (datasets, models, training, evaluation) is pulled in,
and `evaluate` (the benchmark of peak finders) stays about peak finders. The verb is added to
the `sim` noun from `simcompare/commands.py` (a higher layer may add a verb to a lower
noun's table, as `evaluate` adds `peaks tune`).

* `measure`: `FrameSetMeasurement` — radial background profile in |q| bins, pixel statistics,
  spots and their fits, for one set of frames;
* `compare`: `CompareConfig` (the defaults), `compare_real_and_simulated` (the library
  function under the command), the summary table and the output files;
* `plot`: the figure.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "CompareConfig": "compare",
    "FrameSetMeasurement": "measure",
    "Gain": "measure",
    "RadialBinner": "measure",
    "compare_frames": "compare",
    "compare_real_and_simulated": "compare",
    "default_pf8_params": "compare",
    "format_summary": "compare",
    "pixel_q": "measure",
    "plot_comparison": "plot",
    "pseudo_voigt_fwhm": "measure",
    "spot_shapes": "measure",
    "summary_rows": "compare",
    "write_outputs": "compare",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
