#!/usr/bin/env bash
# The shipped model and its generalisation runs, trained on a GPU machine.
#
# Such a machine has torch but not this package's other dependencies (pymatgen) and cannot
# install them, so: the graphs travel as a training bundle (`semcgcnn bundle BUNDLE` here),
# this checkout is imported through a small shim instead of being installed, and each job is
# one `studies/generalise.py` or `semcgcnn ship` process on the GPU (several in parallel, one
# CPU thread each). After every finished job, OUTDIR/results.tgz is rewritten with all results so far
# (result JSON under shipped_runs/, checkpoints under weights/RECIPE/, one log per job), so a
# run cut short still returns what finished.
#
# Usage: bash scripts/gpu_train.sh BUNDLE OUTDIR [PARALLEL_JOBS]
#        (EPOCHS, LR_DROP, DEVICE, DEADLINE_S and JOBS from the environment; defaults 150 and
#        100 as the paper, cuda, no deadline, the built-in job list)
set -euo pipefail
BUNDLE=$(realpath "$1"); OUTDIR=$(realpath -m "$2"); PARALLEL=${3:-5}
EPOCHS=${EPOCHS:-150}; LR_DROP=${LR_DROP:-100}; DEVICE=${DEVICE:-cuda}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
mkdir -p "$OUTDIR" "$WORK/shim/semcgcnn" "$WORK/res/shipped_runs" "$WORK/res/weights" "$WORK/res/logs"
for f in "$REPO"/semcgcnn/*; do ln -s "$f" "$WORK/shim/semcgcnn/"; done
for d in model datasets pipeline workflows; do ln -s "$REPO/$d" "$WORK/shim/semcgcnn/$d"; done
export PYTHONPATH="$WORK/shim${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 WORK OUTDIR
python3 -c "import torch; print('torch', torch.__version__, 'GPU:', torch.cuda.is_available() and torch.cuda.get_device_name(0))"

common="--epochs $EPOCHS --lr-drop-epoch $LR_DROP --device $DEVICE --threads 1 --graphs $BUNDLE"
gen="$REPO/studies/generalise.py $common --results-dir $WORK/res/shipped_runs --report ''"
# no --results-dir: the card records no evaluation (the experiments run alongside, not before)
ship() { echo "-m semcgcnn ship $common --recipe $1 --out $WORK/res/weights/$1/semcgcnn-mg --runs-dir $WORK/runs/ship-$1"; }
g() { echo "g-$1-$2 $gen --recipes $1 --splits grouped --seed $2 --runs-dir $WORK/runs/g-$1-$2"; }
r() { echo "r-$1-$2 $gen --recipes $1 --splits random --seed $2 --runs-dir $WORK/runs/r-$1-$2"; }
# priority order: the shipped candidates and their grouped/random estimates, then seeds and ablations;
# JOBS=FILE replaces the list: one "NAME GENERALISE-OPTIONS" per line, e.g.
#   g-bs32 --recipes joint+desc+mp --splits grouped --batch-size 32
if [ -n "${JOBS:-}" ]; then
    while read -r name opts; do
        [ -n "$name" ] && echo "$name $gen $opts --runs-dir $WORK/runs/$name"
    done < "$JOBS" > "$WORK/jobs"
else {
    echo "ship-jdm $(ship joint+desc+mp)"; g joint+desc+mp 0; g joint+desc 0; r joint+desc+mp 0
    echo "ship-jd $(ship joint+desc)"; g joint+desc+mp 1; g joint+desc 1; g joint+desc+mp 2; g joint+desc 2
    r joint+desc 0; g joint 0; r joint+desc+mp 1; r joint+desc+mp 2; g mg+desc 0; g mg 0
} > "$WORK/jobs"; fi

pack() {  # all results so far into OUTDIR/results.tgz, atomically
    (flock 9; tar czf "$OUTDIR/.results.tgz" -C "$WORK/res" . && mv "$OUTDIR/.results.tgz" "$OUTDIR/results.tgz") 9> "$WORK/lock"
}
run_job() {  # NAME ARGS...: one Python process (the study script or `-m semcgcnn ship`), then pack
    local name=$1; shift
    local t0=$SECONDS
    if (cd "$WORK" && python3 "$@") > "$WORK/res/logs/$name.log" 2>&1; then
        echo "done   $name in $((SECONDS - t0)) s"
    else
        echo "FAILED $name after $((SECONDS - t0)) s:"; tail -n 15 "$WORK/res/logs/$name.log"
    fi
    pack
}
export -f run_job pack
# a heartbeat each minute: the latest epoch line of every started job
( while sleep 60; do echo "--- $SECONDS s"; for f in "$WORK"/res/logs/*.log; do
    [ -e "$f" ] && printf '%-22s %s\n' "$(basename "$f" .log)" "$(grep -o 'epoch [0-9]*/[0-9]*: [0-9.]* s' "$f" | tail -n 1)"
  done; done ) &
heartbeat=$!
# DEADLINE_S: stop waiting for jobs after this many seconds, pack what finished and return
timeout "${DEADLINE_S:-315360000}" xargs -P "$PARALLEL" -L 1 bash -c 'run_job "$@"' _ < "$WORK/jobs" || echo "deadline reached"
kill $heartbeat 2>/dev/null || true
pack
