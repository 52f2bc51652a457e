#!/usr/bin/env bash
# The main job on the embedded default data (no key, no network).
# Until the screening pipeline lands: list the shipped datasets, then featurize the 3218
# bundled Mg–X slabs into crystal graphs and print a summary.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
semcgcnn datasets
semcgcnn featurize mg_binary_slabs "$@"
