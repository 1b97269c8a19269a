# lcad images, one Dockerfile (deploy/requirements.py says what each holds):
#   docker build -t lcad:cpu .                               # serving on CPU (JAX), <= 1 GB
#   docker build --build-arg VARIANT=full -t lcad:full .     # training + MLflow server, CPU
#   docker build --build-arg VARIANT=gpu -t lcad:gpu .       # serving + training on a GPU
# The GPU variant installs tensorflow[and-cuda] (pip's CUDA wheels) on the same slim base:
# the host needs only the NVIDIA driver and the NVIDIA container toolkit.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG VARIANT=cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/lcad
ENV PATH=/opt/lcad/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/requirements.py deploy/install.sh deploy/requirements-cpu.lock ./deploy/
COPY lcad ./lcad
COPY models ./models
COPY training ./training
COPY service ./service
RUN sh deploy/install.sh "$VARIANT"

FROM ${PYTHON_IMAGE} AS runtime
ARG VARIANT=cpu
# the source commit, for run tags and /v1/model (git does not run in the image)
ARG LCAD_GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="lcad" \
      org.opencontainers.image.description="light-curve anomaly detection service (${VARIANT})"
RUN groupadd --gid 10001 lcad \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin lcad
COPY --from=build /opt/lcad /opt/lcad
ENV PATH=/opt/lcad/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    KERAS_HOME=/opt/lcad/keras \
    LCAD_HOST=0.0.0.0 \
    LCAD_PORT=8000 \
    LCAD_BACKEND=auto \
    LCAD_GIT_COMMIT=${LCAD_GIT_COMMIT} \
    LCAD_MODEL_URI=/models/bundle
WORKDIR /home/lcad
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-m", "lcad.service.healthcheck"]
CMD ["lcad", "serve"]
