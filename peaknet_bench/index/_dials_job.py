"""Run under DIALS' own Python (never imported by peaknet_bench): the DIALS backend's three stages.

    python3 _dials_job.py import JOB.json        # frame_i.expt + frame_i.refl per frame (what dials.import
                                                 # and dials.find_spots would write, from our geometry and peaks)
    python3 _dials_job.py index ARGS...          # dials.index (its command-line entry point)
    python3 _dials_job.py export JOB.json        # indexed experiments + reflections -> result.json

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
        refl.as_file(stem + ".refl")


def _export(job_path):
    from dials.array_family import flex

    job = json.load(open(job_path))
    work = os.path.dirname(os.path.abspath(job_path))
    out = []
    for i in range(len(job["frames"])):
        stem = os.path.join(work, "indexed_%05d" % i)
        if not (os.path.exists(stem + ".expt") and os.path.exists(stem + ".refl")):
            out.append({"crystals": [], "peaks": []})
            continue
        expt = json.load(open(stem + ".expt"))
        crystals = [[c["real_space_a"], c["real_space_b"], c["real_space_c"]] for c in expt.get("crystal", [])]
        order = [e.get("crystal") for e in expt["experiment"]]
        refl = flex.reflection_table.from_file(stem + ".refl")
        sel = refl.get_flags(refl.flags.indexed) & (refl["id"] >= 0)
        refl = refl.select(sel)
        peaks = [[int(p), int(e), int(h[0]), int(h[1]), int(h[2])]
                 for p, e, h in zip(refl["peak_id"], refl["id"], refl["miller_index"])]
        out.append({"crystals": [crystals[c] for c in order], "peaks": peaks})
    json.dump(out, open(os.path.join(work, "result.json"), "w"))


def main():
    stage = sys.argv[1]
    if stage == "import":
        _import(sys.argv[2])
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
