#!/usr/bin/env bash
# The leaderboard's baseline entries on peaknet-sim-bench 1.0, exactly as they were made.
# Needs the benchmark frames: peaknet-bench dataset build datasets/peaknet-sim-bench/1.0
# Run from the repository root with the package's venv on PATH. pf8 and the oracle take a
# few minutes; the reference student ~16 min (test) and ~30 min (test_ood) on 2 CPU cores
# (evaluate --resume continues an interrupted run; --predictions writes the peak lists submit
# needs). New weights for an entry already on the board: submit with --replace ENTRY_ID.
set -euo pipefail
A=(--authors "peaknet-bench baselines" --code-url "https://github.com/peaknet-bench/peaknet-bench/tree/main/baselines")
run() {  # run NAME SPLIT EXPERIMENT DESCRIPTION REFERENCE METHOD-ARGS...
  local name=$1 split=$2 exp=$3 desc=$4 ref=$5; shift 5
  local B=peaknet-sim-bench/1.0/$split D="--dataset peaknet-sim-bench:1.0 --split $split --experiment $exp"
  local out=baselines/results/bench-$split-$name.json cxi=${TMPDIR:-/tmp}/bench-$split-$name.cxi
  echo "== $name on $B ($(date +%T))"
  peaknet-bench evaluate run "$@" --name $name $D -o $out --predictions $cxi --resume
  peaknet-bench leaderboard submit $out --predictions $cxi "${A[@]}" --description "$desc" $ref
}
TUNED=baselines/pf8-tuned-epix10k-lysozyme.json
for s in "test epix10k-lysozyme" "test_ood jungfrau4m-thermolysin"; do
  set -- $s
  run pf8-default $1 $2 "peakfinder8 with CrystFEL's default parameters" "" --method pf8
  run pf8-tuned-epix $1 $2 "peakfinder8 tuned on the Epix10k 2M lysozyme experiment (peaknet-sim), unchanged" "" --method pf8 --params $TUNED
  run oracle $1 $2 "reference ceiling, not a method: the simulator's found-able reflections as the peak list" --reference --method oracle
done
peaknet-bench leaderboard render
echo "== pf8 and oracle done ($(date +%T))"
for s in "test_ood jungfrau4m-thermolysin" "test epix10k-lysozyme"; do
  set -- $s
  run ref-student $1 $2 "the shipped reference student (1.99 M parameters, distilled; trained on peaknet-train 1.3 simulations), no retuning" "" --method baselines/models/ref-student.safetensors
  peaknet-bench leaderboard render
done
echo "BASELINES DONE ($(date +%T))"
