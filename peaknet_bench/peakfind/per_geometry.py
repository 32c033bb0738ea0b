"""peakfinder8 over frames whose geometries differ file to file (each CBF carries its own beam
centre): one finder, and its cached radial layout, per distinct geometry."""

from __future__ import annotations

from typing import Any

from peaknet_bench.frame import Frame, PeakList


class PerGeometryFinder:
    """A `PeakFinder` that builds a `Peakfinder8` for each distinct geometry it meets (equal
    geometries from different files share one)."""

    name = "pf8"

    def __init__(self, params: Any = None) -> None:
        from peaknet_bench.peakfind import Peakfinder8Params

        self.params = params if params is not None else Peakfinder8Params()
        self._finders: list[tuple[Any, Any]] = []

    def finder_for(self, geometry):
        from peaknet_bench.peakfind import Peakfinder8

        for g, finder in self._finders:
            if g is geometry or g == geometry:
                return finder
        finder = Peakfinder8(self.params, geometry)
        if not self._finders:
            finder.warm_up()  # compile/load the kernels now, not inside the first frame's timing
        self._finders.append((geometry, finder))
        return finder

    def find(self, frame: Frame) -> PeakList:
        return self.finder_for(frame.geometry).find(frame)
