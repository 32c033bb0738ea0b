"""Run under DIALS' own Python (never imported by peaknet_bench): the DIALS backend's three stages.

    python3 _dials_job.py import JOB.json        # frame_i.expt + frame_i.refl per frame (what dials.import
                                                 # and dials.find_spots would write, from our geometry and peaks)
    python3 _dials_job.py index ARGS...          # dials.index (its command-line entry point)
    python3 _dials_job.py leftover JOB.json R    # round R's spots: those no earlier round indexed
    python3 _dials_job.py export JOB.json        # indexed experiments + reflections -> result.json

Files per frame i and round r (r = 0: all strong spots): spots_i_r.refl -> indexed_i_r.expt/.refl.

Debian's python3-dials lacks the compiled `xfel_mono_sim_ext`, which `xfel.mono_simulation` imports
when the stills indexer fits its mosaicity model (the code it then runs is pure Python): an
empty module stands in for it.
"""

import json
import os
import sys
import types


def _import(job_path):
    from dials.array_family import flex
    from dxtbx.model import Beam, Detector, Experiment, ExperimentList

    job = json.load(open(job_path))
    work = os.path.dirname(os.path.abspath(job_path))
    for i, frame in enumerate(job["frames"]):
        det = Detector()
        for p in frame["panels"]:
            panel = det.add_panel()
            panel.set_frame(tuple(p["fast"]), tuple(p["slow"]), tuple(p["origin_mm"]))
            panel.set_pixel_size(tuple(p["pixel_mm"]))
            panel.set_image_size(tuple(p["size"]))
            panel.set_trusted_range((-1e9, 1e9))
            panel.set_name(p["name"])
        beam = Beam((0.0, 0.0, 1.0), frame["wavelength_a"])  # direction towards the source: s0 along -z
        stem = os.path.join(work, "frame_%05d" % i)
        ExperimentList([Experiment(beam=beam, detector=det)]).as_file(stem + ".expt")
        # an image set naming the (absent) image: dials.index reads geometry only, never pixels
        expt = json.load(open(stem + ".expt"))
        expt["imageset"] = [{"__id__": "ImageSet", "images": [stem + ".cbf"]}]
        expt["experiment"][0]["imageset"] = 0
        json.dump(expt, open(stem + ".expt", "w"))
        pk = frame["peaks"]
        n = len(pk["fs"])
        refl = flex.reflection_table()
        refl["panel"] = flex.size_t(pk["panel"])
        refl["xyzobs.px.value"] = flex.vec3_double([(x, y, 0.5) for x, y in zip(pk["fs"], pk["ss"])])
        refl["xyzobs.px.variance"] = flex.vec3_double([(0.25, 0.25, 0.25)] * n)
        refl["id"] = flex.int(n, 0)
        refl["imageset_id"] = flex.int(n, 0)
        refl["peak_id"] = flex.int(list(range(n)))
        refl["intensity.sum.value"] = flex.double(pk["intensity"])
        refl["bbox"] = flex.int6([(int(x) - 1, int(x) + 2, int(y) - 1, int(y) + 2, 0, 1)
                                  for x, y in zip(pk["fs"], pk["ss"])])
        refl.set_flags(flex.bool(n, True), refl.flags.strong)
        refl.as_file(os.path.join(work, "spots_%05d_0.refl" % i))


def _indexed_peak_ids(stem):
    from dials.array_family import flex

    if not os.path.exists(stem + ".refl"):
        return set()
    refl = flex.reflection_table.from_file(stem + ".refl")
    refl = refl.select(refl.get_flags(refl.flags.indexed) & (refl["id"] >= 0))
    return set(int(p) for p in refl["peak_id"])


def _leftover(job_path, round_):
    """spots_i_R.refl: the spots of round R-1 that its indexing left (none written when too few)."""
    from dials.array_family import flex

    job = json.load(open(job_path))
    work = os.path.dirname(os.path.abspath(job_path))
    for i in range(len(job["frames"])):
        before = os.path.join(work, "spots_%05d_%d.refl" % (i, round_ - 1))
        indexed = os.path.join(work, "indexed_%05d_%d" % (i, round_ - 1))
        if not (os.path.exists(before) and os.path.exists(indexed + ".expt")):
            continue
        spots = flex.reflection_table.from_file(before)
        used = _indexed_peak_ids(indexed)
        keep = flex.bool([int(p) not in used for p in spots["peak_id"]])
        left = spots.select(keep)
        if len(left) >= job["min_spots"]:
            left["id"] = flex.int(len(left), 0)
            left.as_file(os.path.join(work, "spots_%05d_%d.refl" % (i, round_)))


def _rmsd_px(refl):
    obs, cal = refl["xyzobs.px.value"], refl["xyzcal.px"]
    d2 = [(o[0] - c[0]) ** 2 + (o[1] - c[1]) ** 2 for o, c in zip(obs, cal)]
    return (sum(d2) / len(d2)) ** 0.5 if d2 else float("inf")


def _export(job_path):
    """Every round's crystals (further rounds: accepted with >= min_spots and RMSD <= max_rmsd_px)."""
    from dials.array_family import flex

    job = json.load(open(job_path))
    work = os.path.dirname(os.path.abspath(job_path))
    out = []
    for i in range(len(job["frames"])):
        crystals, peaks = [], []
        for round_ in range(job["rounds"]):
            stem = os.path.join(work, "indexed_%05d_%d" % (i, round_))
            if not (os.path.exists(stem + ".expt") and os.path.exists(stem + ".refl")):
                break
            expt = json.load(open(stem + ".expt"))
            basis = [[c["real_space_a"], c["real_space_b"], c["real_space_c"]] for c in expt.get("crystal", [])]
            order = [e.get("crystal") for e in expt["experiment"]]
            refl = flex.reflection_table.from_file(stem + ".refl")
            refl = refl.select(refl.get_flags(refl.flags.indexed) & (refl["id"] >= 0))
            for e, c in enumerate(order):
                mine = refl.select(refl["id"] == e)
                if round_ > 0 and (len(mine) < job["min_spots"] or _rmsd_px(mine) > job["max_rmsd_px"]):
                    continue
                lattice = len(crystals)
                crystals.append(basis[c])
                peaks += [[int(p), lattice, int(h[0]), int(h[1]), int(h[2])]
                          for p, h in zip(mine["peak_id"], mine["miller_index"])]
        out.append({"crystals": crystals, "peaks": peaks})
    json.dump(out, open(os.path.join(work, "result.json"), "w"))


def main():
    stage = sys.argv[1]
    if stage == "import":
        _import(sys.argv[2])
    elif stage == "leftover":
        _leftover(sys.argv[2], int(sys.argv[3]))
    elif stage == "export":
        _export(sys.argv[2])
    elif stage == "index":
        sys.modules.setdefault("xfel_mono_sim_ext", types.ModuleType("xfel_mono_sim_ext"))
        from dials.command_line.index import run

        return run(sys.argv[2:])
    else:
        raise SystemExit("unknown stage %r" % stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
