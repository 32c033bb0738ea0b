"""A peak finder over frames whose geometries differ file to file (each CBF carries its own beam
centre): one finder (for peakfinder8: its cached radial layout), per distinct geometry."""

from __future__ import annotations

from typing import Any

from peaknet_bench.frame import Frame, PeakList


class PerGeometryFinder:
    """A `PeakFinder` that builds the finder of `method` (a MethodSpec of any registered kind;
    default: peakfinder8 with `params`) for each distinct geometry it meets (equal geometries
    from different files share one)."""

    def __init__(self, params: Any = None, *, method: Any = None, truth_of: Any = None) -> None:
        from peaknet_bench.peakfind.methods import pf8_method

        self.method = method if method is not None else pf8_method(params)
        self.name = self.method.name
        self.truth_of = truth_of
        self._finders: list[tuple[Any, Any]] = []

    def finder_for(self, geometry):
        from peaknet_bench.peakfind.methods import build_finder

        for g, finder in self._finders:
            if g is geometry or g == geometry:
                return finder
        finder = build_finder(self.method, geometry, self.truth_of)
        if not self._finders and hasattr(finder, "warm_up"):
            finder.warm_up()  # compile/load the kernels now, not inside the first frame's timing
        self._finders.append((geometry, finder))
        return finder

    def find(self, frame: Frame) -> PeakList:
        return self.finder_for(frame.geometry).find(frame)
