#!/usr/bin/env bash
# The main job on the embedded default data (no key, no network): screen the 210 shipped bulk
# Mg–X binaries -> symmetric slabs up to (111) -> SEM-CGCNN predictions -> Wulff-weighted surface
# energy and work function -> Parquet tables in out/screen (resumes a killed run).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
semcgcnn screen --out "${SEMCGCNN_OUT:-out/screen}" --resume "$@"
