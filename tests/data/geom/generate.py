"""Regenerate the facility-style test geometry files in this folder.

The files are committed; this script only documents how their many panel blocks were
written (a facility's own export tool does the same). Run: `python generate.py`.
Each file imitates its facility's conventions (LCLS psana export, Cheetah CSPAD,
EuXFEL extra-geom, SwissFEL jungfrau_utils, single-panel Dectris files) with small
seeded panel rotations so that the vectors carry real-looking noise.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def vec(angle_deg: float, base: float, tilt: float = 0.0) -> str:
    """Direction string of a unit vector at `base + angle` degrees in the xy plane (+ z tilt)."""
    a = math.radians(base + angle_deg)
    return f"{math.cos(a):+.6f}x {math.sin(a):+.6f}y {tilt:+.6f}z"


def rot(x: float, y: float, quarter: int) -> tuple[float, float]:
    for _ in range(quarter % 4):
        x, y = -y, x
    return x, y


def epix10ka2m(rng: np.random.Generator) -> str:
    out = [
        "; Geometry for the LCLS MFX Epix10ka2M (epix10k2m.0), exported from psana",
        "; geometry constants -> CrystFEL format. Optical metrology run 2019-12, refined",
        "; with geoptimiser on lysozyme (run 113). 64 ASIC panels p<module>a<asic>.",
        "",
        "clen = /LCLS/detector_1/EncoderValue   ; mm, from the DAQ",
        "coffset = 0.0995",
        "photon_energy = /LCLS/photon_energy_eV",
        "adu_per_eV = 0.00114  ; high-gain mode",
        "max_adu = 16000",
        "res = 10000",
        "",
        "data = /entry_1/data_1/data",
        "dim0 = %",
        "dim1 = ss",
        "dim2 = fs",
        "mask = /entry_1/data_1/mask",
        "mask_good = 0x0000",
        "mask_bad = 0xffff",
        "peak_list = /entry_1/result_1",
        "peak_list_type = cxi",
        "",
    ]
    for m in range(16):
        out.append(f"group_p{m} = " + ",".join(f"p{m}a{a}" for a in range(4)))
    for q in range(4):
        out.append(f"group_q{q} = " + ",".join(f"p{m}" for m in range(4 * q, 4 * q + 4)))
    out.append("group_all = q0,q1,q2,q3")
    out.append("")
    for m in range(16):
        out.append(f"rigid_group_p{m} = " + ",".join(f"p{m}a{a}" for a in range(4)))
    out.append("rigid_group_collection_modules = " + ",".join(f"p{m}" for m in range(16)))
    out.append("")
    for m in range(16):
        quad, k = divmod(m, 4)
        col, row = k % 2, k // 2
        mx, my = 12 + col * 395, 12 + 2 * 355 + 8 - row * 363
        ang = rng.normal(0, 0.05)
        tilt = rng.normal(0, 0.002)  # modules are not quite normal to the beam
        for a in range(4):
            ar, ac = divmod(a, 2)
            x, y = rot(mx + ac * 195 + rng.normal(0, 0.3), my - ar * 179 + rng.normal(0, 0.3), quad)
            n = f"p{m}a{a}"
            out += [
                f"{n}/min_fs = {ac * 192}", f"{n}/max_fs = {ac * 192 + 191}",
                f"{n}/min_ss = {m * 352 + ar * 176}", f"{n}/max_ss = {m * 352 + ar * 176 + 175}",
                f"{n}/fs = {vec(ang, 90 * quad, tilt)}",
                f"{n}/ss = {vec(ang, 90 * quad - 90)}",
                f"{n}/corner_x = {x:.4f}", f"{n}/corner_y = {y:.4f}",
                "",
            ]
    out += [
        "; ASIC with a dead column block (slab coordinates of the data array)",
        "bad_p3a1/panel = p3a1", "bad_p3a1/min_fs = 200", "bad_p3a1/max_fs = 215",
        "bad_p3a1/min_ss = 1056", "bad_p3a1/max_ss = 1231", "",
        "; shadow of the beam stop holder (lab pixels)",
        "bad_beamstop/min_x = -20.0", "bad_beamstop/max_x = 20.0",
        "bad_beamstop/min_y = -400.0", "bad_beamstop/max_y = 0.0", "",
    ]
    return "\n".join(out)


def jungfrau4m(rng: np.random.Generator) -> str:
    out = [
        "; Jungfrau 4M (8 modules x 8 ASICs of 256 x 256, 75 um pixels)",
        "; CrystFEL 0.10 syntax. The two half-detectors sit at different depths: the",
        "; top-level coffset below is changed half-way, so it applies to modules 4-7 only.",
        "",
        "clen = 0.1212",
        "photon_energy = 12000",
        "res = 13333.3333",
        "adu_per_photon = 1",
        "max_adu = 120000",
        "data = /data/data",
        "dim0 = %",
        "dim1 = ss",
        "dim2 = fs",
        "",
    ]
    for m in range(8):
        if m == 4:
            out += ["coffset = 0.0005   ; lower half is 0.5 mm further from the sample", ""]
        mrow, mcol = divmod(m, 2)
        mx = -1030 - 6 if mcol == 0 else 6
        my = 1053 - mrow * 534
        ang = rng.normal(0, 0.03)
        for a in range(8):
            ar, ac = divmod(a, 4)
            n = f"m{m}a{a}"
            out += [
                f"{n}/min_fs = {ac * 256}", f"{n}/max_fs = {ac * 256 + 255}",
                f"{n}/min_ss = {m * 512 + ar * 256}", f"{n}/max_ss = {m * 512 + ar * 256 + 255}",
                f"{n}/corner_x = {mx + ac * 258:.2f}", f"{n}/corner_y = {my - ar * 258:.2f}",
                f"{n}/fs = {vec(ang, 0)}", f"{n}/ss = {vec(ang, -90)}",
                "",
            ]
    for m in range(8):
        out.append(f"group_m{m} = " + ",".join(f"m{m}a{a}" for a in range(8)))
    out.append("group_all = " + ",".join(f"m{m}" for m in range(8)))
    out += ["", "bad_m2a5/panel = m2a5", "bad_m2a5/min_fs = 256", "bad_m2a5/max_fs = 511",
            "bad_m2a5/min_ss = 1280", "bad_m2a5/max_ss = 1535", ""]
    return "\n".join(out)


def cspad(rng: np.random.Generator) -> str:
    out = [
        "; CSPAD geometry for CXI, written by Cheetah / psana2crystfel (CrystFEL 0.6 era)",
        "; Optimized panel offsets for run 0151, beam center from powder rings.",
        "",
        "clen = /LCLS/detector0-EncoderValue",
        "coffset = 0.573224",
        "res = 9097.525473   ; 109.92 um",
        "adu_per_eV = 0.00338",
        "max_adu = 15000",
        "photon_energy = /LCLS/photon_energy_eV",
        "data = /entry_1/data_1/data",
        "dim0 = %",
        "dim1 = ss",
        "dim2 = fs",
        "mask = /entry_1/data_1/mask",
        "mask_good = 0x0000",
        "mask_bad = 0xffff",
        "",
    ]
    # 2x1 sensors in the frame of quadrant 0: (x, y, base angle of fs).
    sensors = [(30, 860, 0), (30, 650, 0), (645, 860, -90), (855, 860, -90),
               (851, 20, 180), (851, 230, 180), (20, 40, 90), (230, 40, 90)]
    for q in range(4):
        for s, (sx, sy, base) in enumerate(sensors):
            ang = rng.normal(0, 0.15)
            for h in range(2):
                a = 2 * s + h
                n = f"q{q}a{a}"
                fx, fy = math.cos(math.radians(base)), math.sin(math.radians(base))
                cx, cy = rot(sx + h * 197 * fx + rng.normal(0, 0.5), sy + h * 197 * fy + rng.normal(0, 0.5), q)
                out += [
                    f"{n}/min_fs = {388 * q + 194 * h}", f"{n}/max_fs = {388 * q + 194 * h + 193}",
                    f"{n}/min_ss = {185 * s}", f"{n}/max_ss = {185 * s + 184}",
                    f"{n}/badrow_direction = -",
                    f"{n}/res = 9097.525473",
                    f"{n}/clen = /LCLS/detector0-EncoderValue",
                    f"{n}/coffset = 0.573224",
                    f"{n}/fs = {vec(ang, base + 90 * q)}".replace(" +0.000000z", ""),
                    f"{n}/ss = {vec(ang, base + 90 * q - 90)}".replace(" +0.000000z", ""),
                    f"{n}/corner_x = {cx:.3f}", f"{n}/corner_y = {cy:.3f}",
                    f"{n}/no_index = {1 if (q, a) == (2, 15) else 0}",
                    "",
                ]
    for q in range(4):
        out.append(f"rigid_group_q{q} = " + ",".join(f"q{q}a{a}" for a in range(16)))
        for s in range(8):
            out.append(f"rigid_group_a{q * 8 + s} = q{q}a{2 * s},q{q}a{2 * s + 1}")
    out.append("rigid_group_collection_quadrants = q0,q1,q2,q3")
    out.append("rigid_group_collection_asics = " + ",".join(f"a{i}" for i in range(32)))
    out += ["", "; hot ASIC corner (old syntax: slab coordinates without a panel)",
            "bad_q2a7/min_fs = 1358", "bad_q2a7/max_fs = 1375", "bad_q2a7/min_ss = 555", "bad_q2a7/max_ss = 600",
            "", "bad_jet/min_x = -900", "bad_jet/max_x = 900", "bad_jet/min_y = -6", "bad_jet/max_y = 6", ""]
    return "\n".join(out)


def agipd1m(rng: np.random.Generator) -> str:
    out = [
        "; AGIPD-1M geometry file written by EXtra-geom 1.10.0",
        "; You may need to edit this file to add:",
        "; - data and mask locations in the file",
        "; - mask_good & mask_bad values to interpret the mask",
        "; - adu_per_eV & photon_energy",
        "; - clen (detector distance)",
        ";",
        "; See: http://www.desy.de/~twhite/crystfel/manual-crystfel_geometry.html",
        "",
        "data = /entry_1/instrument_1/detector_1/data",
        "mask = /entry_1/instrument_1/detector_1/mask",
        "mask_good = 0x0",
        "mask_bad = 0xffffffff",
        "dim0 = %",
        "res = 5000.0 ; pixels per metre",
        "",
        "; Beam energy in keV, from the undulator settings",
        "photon_energy = /RUN/SPB_XTD2_UND/DOOCS/ENERGY/actualEnergy",
        "photon_energy_scale = 1000",
        "",
        "; Camera length, aka detector distance (mm in the file)",
        "clen = /CONTROL/SPB_IRU_AGIPD1M/MOTOR/Z_STEPPER/actualPosition",
        "",
        "; Analogue Digital Units per eV",
        "adu_per_eV = 0.0075",
        "max_adu = 10000",
        "",
        "rigid_group_q0 = " + ",".join(f"p{m}a{a}" for m in range(0, 4) for a in range(8)),
        "rigid_group_q1 = " + ",".join(f"p{m}a{a}" for m in range(4, 8) for a in range(8)),
        "rigid_group_q2 = " + ",".join(f"p{m}a{a}" for m in range(8, 12) for a in range(8)),
        "rigid_group_q3 = " + ",".join(f"p{m}a{a}" for m in range(12, 16) for a in range(8)),
        "",
    ]
    for m in range(16):
        out.append(f"rigid_group_p{m} = " + ",".join(f"p{m}a{a}" for a in range(8)))
    out += ["", "rigid_group_collection_quadrants = q0,q1,q2,q3",
            "rigid_group_collection_asics = " + ",".join(f"p{m}" for m in range(16)), ""]
    quad_origin = [(-15, 499), (-20, -153), (15, -20), (20, 622)]
    for m in range(16):
        q, k = divmod(m, 4)
        ox, oy = quad_origin[q]
        left = q < 2
        ang = rng.normal(0, 0.05)
        for a in range(8):
            n = f"p{m}a{a}"
            step = -66 if left else 66
            cx = ox + a * step + (0 if left else 0)
            cy = oy - k * 158
            out += [
                f"{n}/dim1 = {m}", f"{n}/dim2 = ss", f"{n}/dim3 = fs",
                f"{n}/min_fs = 0", f"{n}/min_ss = {64 * a}", f"{n}/max_fs = 127", f"{n}/max_ss = {64 * a + 63}",
                f"{n}/fs = {vec(ang, 90 if left else -90)}",
                f"{n}/ss = {vec(ang, 180 if left else 0)}",
                f"{n}/corner_x = {cx + rng.normal(0, 0.2):.6f}", f"{n}/corner_y = {cy + rng.normal(0, 0.2):.6f}",
                f"{n}/coffset = 0.0",
                "",
            ]
    out += ["; a module with a broken ASIC (file coordinates of module 5)",
            "bad_p5a3/panel = p5a3", "bad_p5a3/min_fs = 0", "bad_p5a3/max_fs = 127",
            "bad_p5a3/min_ss = 192", "bad_p5a3/max_ss = 255", ""]
    return "\n".join(out)


def jf16m(rng: np.random.Generator) -> str:
    out = [
        "; SwissFEL Alvra JF16M (JF07T32V01), 32 modules of 1030 x 514 with gap pixels,",
        "; geometry from jungfrau_utils (gap pixels and double pixels expanded).",
        "; Detector distance from the motor readback; edit clen for each beamtime.",
        "",
        "photon_energy = 12400",
        "clen = 0.0925",
        "adu_per_eV = 0.0000806",
        "res = 13333.3",
        "max_adu = 4000000",
        "data = /data/JF07T32V01/data",
        "dim0 = %",
        "dim1 = ss",
        "dim2 = fs",
        "mask_file = /sf/alvra/config/jungfrau/pixel_mask_JF07T32V01.h5",
        "mask = /pixel_mask",
        "mask_good = 0x0",
        "mask_bad = 0xffffffff",
        "",
    ]
    for m in range(32):
        col, row = divmod(m, 8)
        ang = rng.normal(0, 0.02)
        n = f"m{m}"
        x0 = -2080 + col * 1040 + rng.normal(0, 0.5)
        y0 = 2100 - row * 525 + rng.normal(0, 0.5)
        out += [
            f"{n}/min_fs = 0", f"{n}/max_fs = 1029",
            f"{n}/min_ss = {m * 514}", f"{n}/max_ss = {m * 514 + 513}",
            f"{n}/fs = {vec(ang, 0)}".replace(" +0.000000z", ""),
            f"{n}/ss = {vec(ang, -90)}".replace(" +0.000000z", ""),
            f"{n}/corner_x = {x0:.3f}", f"{n}/corner_y = {y0:.3f}",
            "",
        ]
    out.append("group_all = " + ",".join(f"m{m}" for m in range(32)))
    out.append("")
    return "\n".join(out)


def eiger16m(rng: np.random.Generator) -> str:
    out = [
        "; Dectris EIGER2 X 16M, single panel 4148 x 4362 (75 um), data from the",
        "; Dectris master/data files. Module gaps masked as bad regions.",
        "",
        "photon_energy = /entry/instrument/beam/incident_energy_eV",
        "clen = 0.25",
        "adu_per_photon = 1",
        "max_adu = 4294967294",
        "",
        "data = /entry/data/data",
        "dim0 = %",
        "dim1 = ss",
        "dim2 = fs",
        "",
        "p0/min_fs = 0",
        "p0/max_fs = 4147",
        "p0/min_ss = 0",
        "p0/max_ss = 4361",
        "p0/corner_x = -2075.32",
        "p0/corner_y = 2180.77",
        "p0/fs = x",
        "p0/ss = -y",
        "p0/res = 13333.333",
        "",
    ]
    for i, y in enumerate([514, 1065, 1616, 2167, 2718, 3269, 3820]):
        out += [f"bad_hgap{i}/panel = p0", "bad_hgap{}/min_fs = 0".format(i), f"bad_hgap{i}/max_fs = 4147",
                f"bad_hgap{i}/min_ss = {y}", f"bad_hgap{i}/max_ss = {y + 36}", ""]
    return "\n".join(out)


def pilatus6m(rng: np.random.Generator) -> str:
    out = [
        "; Pilatus 6M (2463 x 2527 pixels of 172 um), converted from CBF with the",
        "; header beam centre (1231.5, 1263.5) px. Old-style per-panel clen.",
        "",
        "photon_energy = 12660",
        "",
        "panel0/min_fs = 0",
        "panel0/max_fs = 2462",
        "panel0/min_ss = 0",
        "panel0/max_ss = 2526",
        "panel0/corner_x = -1231.5",
        "panel0/corner_y = -1263.5",
        "panel0/fs = +1.0x",
        "panel0/ss = +1.0y",
        "panel0/res = 5813.953488",
        "panel0/clen = 0.30012",
        "panel0/adu_per_photon = 1",
        "panel0/max_adu = 1048500",
        "panel0/data = /data/data",
        "panel0/dim0 = %",
        "panel0/dim1 = ss",
        "panel0/dim2 = fs",
        "",
        "; beam stop (lab pixels)",
        "bad_bs/min_x = -30",
        "bad_bs/max_x = 30",
        "bad_bs/min_y = -1263.5",
        "bad_bs/max_y = 25",
        "",
    ]
    return "\n".join(out)


FILES = {
    "epix10ka2m_mfx.geom": epix10ka2m, "jungfrau4m.geom": jungfrau4m, "cspad_cxi.geom": cspad,
    "agipd1m_spb.geom": agipd1m, "jf16m_alvra.geom": jf16m, "eiger16m.geom": eiger16m,
    "pilatus6m.geom": pilatus6m,
}

if __name__ == "__main__":
    for i, (name, make) in enumerate(FILES.items()):
        (HERE / name).write_text(make(np.random.default_rng(1000 + i)) + "\n")
