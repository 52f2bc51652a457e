# sem-cgcnn on CPU: `docker build -t semcgcnn .` then e.g.
#   docker run --rm -v "$PWD/out:/out" semcgcnn screen --out /out/screen
#   docker run --rm -e MP_API_KEY -v "$PWD/out:/out" semcgcnn screen --source mp --out /out/mp
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SEMCGCNN_CACHE_DIR=/cache

# CPU-only torch first, from the PyTorch CPU index, so no dependency can pull a CUDA build
# (the package pins torch==2.13.0, which the installed 2.13.0+cpu satisfies).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# GPAW for DFT labels: Debian's packages (bookworm: GPAW 22.8, its PAW setups, OpenMPI) install
# into Debian's own /usr/bin/python3 (numpy 1.x), apart from this image's /usr/local Python;
# semcgcnn runs GPAW there in a child process (semcgcnn.pipeline.labels.gpaw.gpaw_python).
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gpaw gpaw-data >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && /usr/bin/python3 -c "import gpaw; print('GPAW', gpaw.__version__)"

# Chromium (headless) to open `semcgcnn report`'s HTML and screenshot it (tests/pipeline/report/test_report.py)
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && chromium --version

WORKDIR /src
# the distribution maps these folders into the one `semcgcnn` namespace (pyproject.toml)
COPY pyproject.toml README.md ./
COPY semcgcnn ./semcgcnn
COPY model ./model
COPY datasets ./datasets
COPY pipeline ./pipeline
COPY workflows ./workflows
# the mlip extra (SevenNet 7net-0, weights in its wheel): offline formation energies for `semcgcnn dissolution`
RUN pip install ".[mlip]" \
    && python -c "import semcgcnn.pipeline.run, semcgcnn.model.predict; print('sem-cgcnn', __import__('semcgcnn').__version__)" \
    && python -c "from semcgcnn.pipeline.labels.gpaw import gpaw_info; print('GPAW for labels:', gpaw_info()['python'], gpaw_info()['gpaw'])" \
    && rm -rf /src

# run as an unprivileged user; parsed-structure caches go to /cache, results to a mounted /out
RUN useradd --create-home --uid 1000 semcgcnn && mkdir -p /cache /out && chown semcgcnn /cache /out
USER semcgcnn
WORKDIR /out
ENTRYPOINT ["semcgcnn"]
CMD ["--help"]
