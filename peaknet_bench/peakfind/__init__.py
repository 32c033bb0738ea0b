"""Classic peak finders (peakfinder8) behind the `PeakFinder` interface the networks share."""

from peaknet_bench.peakfind.base import FinderResult, PeakFinder, run_finder
from peaknet_bench.peakfind.peakfinder8 import Peakfinder8, Peakfinder8Params, RadialLayout

__all__ = ["FinderResult", "PeakFinder", "Peakfinder8", "Peakfinder8Params", "RadialLayout", "run_finder"]
