"""Detector presets built in code, so that no file is needed for the common detectors."""

from __future__ import annotations

from collections.abc import Callable

from peaknet_bench.geometry.model import Geometry, Panel


def _rotate(v: tuple[float, float, float], quarter_turns: int) -> tuple[float, float, float]:
    """Rotate a lab vector about +z by 90° steps (counter-clockwise seen from the source)."""
    x, y, z = v
    for _ in range(quarter_turns % 4):
        x, y = -y, x
    return (float(x), float(y), float(z))


def epix10k2m(clen_m: float = 0.1, photon_energy_ev: float | None = 9500.0) -> Geometry:
    """LCLS Epix10ka2M: 16 modules x 4 ASICs of 192 (fs) x 176 (ss), 100 µm pixels.

    Slab 5632 x 384 (module m holds slab rows 352m..352m+351). Four quadrants of 2 x 2
    modules, each quadrant rotated by 90° about the beam (a pinwheel around a small hole);
    ASIC corners 195 px apart in fs and 179 px in ss, modules 8 px apart.
    """
    asic_w, asic_h, pitch_fs, pitch_ss = 192, 176, 195, 179
    mod_w, mod_h, mod_gap, hole = pitch_fs + asic_w, pitch_ss + asic_h, 8, 12
    panels: list[Panel] = []
    groups: dict[str, list[str]] = {}
    for m in range(16):
        quad, k = divmod(m, 4)
        col, row = k % 2, k // 2
        # Module's top-left lab corner in quadrant 0 (top right of the beam).
        mx = hole + col * (mod_w + mod_gap)
        my = hole + 2 * mod_h + mod_gap - row * (mod_h + mod_gap)
        names = []
        for a in range(4):
            ar, ac = divmod(a, 2)
            cx, cy = mx + ac * pitch_fs, my - ar * pitch_ss
            x, y, _ = _rotate((cx, cy, 0.0), quad)
            name = f"p{m}a{a}"
            names.append(name)
            panels.append(
                Panel(
                    name=name,
                    min_fs=ac * asic_w, max_fs=ac * asic_w + asic_w - 1,
                    min_ss=m * 352 + ar * asic_h, max_ss=m * 352 + ar * asic_h + asic_h - 1,
                    corner_x=x, corner_y=y,
                    fs=_rotate((1.0, 0.0, 0.0), quad), ss=_rotate((0.0, -1.0, 0.0), quad),
                    res=10000.0, adu_per_photon=10.0,
                    max_adu=30000.0,
                )
            )
        groups[f"p{m}"] = names
    groups.update({f"q{q}": [f"p{m}" for m in range(4 * q, 4 * q + 4)] for q in range(4)})
    groups["all"] = [f"q{q}" for q in range(4)]
    return Geometry(
        panels=panels, clen_m=clen_m, photon_energy_ev=photon_energy_ev,
        groups=groups, rigid_groups={f"p{m}": groups[f"p{m}"] for m in range(16)},
        header={"data": "/entry_1/data_1/data", "dim0": "%", "dim1": "ss", "dim2": "fs"},
        source="epix10k2m", counts_photons=False,
    )


def jungfrau4m(clen_m: float = 0.1, photon_energy_ev: float | None = 12000.0) -> Geometry:
    """PSI Jungfrau 4M: 8 modules of 512 x 1024 (each 2 x 4 ASICs of 256 x 256), 75 µm.

    Slab 4096 x 1024. Modules in 2 columns x 4 rows around the beam; ASICs separated by
    2-pixel gaps (the real detector's double-size edge pixels are not modelled).
    """
    asic, gap, res = 256, 2, 1.0 / 75e-6
    mod_w, mod_h = 4 * asic + 3 * gap, 2 * asic + gap
    v_gap, h_gap = 20, 12
    top = (4 * mod_h + 3 * v_gap) / 2
    panels: list[Panel] = []
    groups: dict[str, list[str]] = {}
    for m in range(8):
        mrow, mcol = divmod(m, 2)
        mx = -mod_w - h_gap / 2 if mcol == 0 else h_gap / 2
        my = top - mrow * (mod_h + v_gap)
        names = []
        for a in range(8):
            ar, ac = divmod(a, 4)
            name = f"m{m}a{a}"
            names.append(name)
            panels.append(
                Panel(
                    name=name,
                    min_fs=ac * asic, max_fs=ac * asic + asic - 1,
                    min_ss=m * 512 + ar * asic, max_ss=m * 512 + ar * asic + asic - 1,
                    corner_x=mx + ac * (asic + gap), corner_y=my - ar * (asic + gap),
                    fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=res,
                    adu_per_photon=1.0, max_adu=120000.0,
                )
            )
        groups[f"m{m}"] = names
    groups["all"] = [f"m{m}" for m in range(8)]
    return Geometry(
        panels=panels, clen_m=clen_m, photon_energy_ev=photon_energy_ev, groups=groups,
        rigid_groups={f"m{m}": groups[f"m{m}"] for m in range(8)},
        header={"data": "/entry_1/data_1/data", "dim0": "%", "dim1": "ss", "dim2": "fs"},
        source="jungfrau4m", counts_photons=False,
    )


def rayonix_mx340_4x4(clen_m: float = 0.15, photon_energy_ev: float | None = 9500.0) -> Geometry:
    """Rayonix MX340-HS binned 4 x 4: one panel of 1920 x 1920 pixels of 177 µm, beam at the centre."""
    n = 1920
    panel = Panel(
        name="p0", min_fs=0, max_fs=n - 1, min_ss=0, max_ss=n - 1,
        corner_x=-n / 2, corner_y=n / 2, fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0),
        res=1.0 / 177.0e-6, adu_per_photon=1.0, max_adu=65535.0,
    )
    return Geometry(
        panels=[panel], clen_m=clen_m, photon_energy_ev=photon_energy_ev,
        header={"data": "/entry_1/data_1/data", "dim0": "%", "dim1": "ss", "dim2": "fs"},
        source="rayonix-mx340-4x4", counts_photons=False,
    )


def pilatus6m(clen_m: float = 0.2, photon_energy_ev: float | None = 12700.0) -> Geometry:
    """Dectris Pilatus 6M: 5 x 12 modules of 487 (fs) x 195 (ss) pixels of 172 µm, one
    2463 x 2527 slab as the detector writes it. The inter-module gaps (7 px along fs, 17 px
    along ss) are slab pixels outside every panel, so they are never good; photon counting
    (1 count per photon, no read noise), beam near the centre."""
    mod_w, mod_h, gap_fs, gap_ss = 487, 195, 7, 17
    n_fs, n_ss = 5 * mod_w + 4 * gap_fs, 12 * mod_h + 11 * gap_ss
    beam_fs, beam_ss = 1231.5, 1263.5  # slab position of the beam
    panels = []
    for row in range(12):
        for col in range(5):
            fs0, ss0 = col * (mod_w + gap_fs), row * (mod_h + gap_ss)
            panels.append(Panel(
                name=f"m{row}x{col}", min_fs=fs0, max_fs=fs0 + mod_w - 1, min_ss=ss0, max_ss=ss0 + mod_h - 1,
                corner_x=fs0 - beam_fs, corner_y=beam_ss - ss0, fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0),
                res=1.0 / 172e-6, adu_per_photon=1.0, max_adu=1048500.0,
            ))
    assert panels[-1].max_fs == n_fs - 1 and panels[-1].max_ss == n_ss - 1
    return Geometry(
        panels=panels, clen_m=clen_m, photon_energy_ev=photon_energy_ev,
        header={"data": "/entry_1/data_1/data", "dim0": "%", "dim1": "ss", "dim2": "fs"},
        source="pilatus6m", counts_photons=True,
    )


def cspad(clen_m: float = 0.13, photon_energy_ev: float | None = 9500.0) -> Geometry:
    """LCLS CXI CSPAD: 64 ASICs of 194 x 185 pixels of 110 µm in four quadrants of eight
    2 x 1 sensors, with a real metrology (`data/cspad-cxi.geom`, from a facility file's
    detector description). Integrating, ~25 ADU per photon at 9.5 keV (set by the experiment)."""
    import dataclasses
    from importlib.resources import files

    from peaknet_bench.geometry.crystfel_geom import parse_geom_text

    path = files("peaknet_bench.geometry") / "data" / "cspad-cxi.geom"
    geom = parse_geom_text(path.read_text(), source="cspad")
    return dataclasses.replace(geom, clen_m=clen_m, photon_energy_ev=photon_energy_ev, counts_photons=False)


PRESETS: dict[str, Callable[..., Geometry]] = {
    "epix10k2m": epix10k2m,
    "jungfrau4m": jungfrau4m,
    "rayonix-mx340-4x4": rayonix_mx340_4x4,
    "pilatus6m": pilatus6m,
    "cspad": cspad,
}


def preset(name: str, **kwargs) -> Geometry:
    """Build a named preset (see PRESETS)."""
    try:
        return PRESETS[name](**kwargs)
    except KeyError:
        from peaknet_bench.errors import InputError

        raise InputError(name, None, f"unknown detector preset; expected one of {sorted(PRESETS)}") from None

