#!/usr/bin/env bash
# Sets up .venv if needed and checks lint and format with ruff (configured in pyproject.toml).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ruff check --quiet . && ruff format --check --quiet .
