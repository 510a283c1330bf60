# syntax=docker/dockerfile:1

# --- builder: install surveybot and its dependencies into a virtualenv --------------------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies first, exactly as locked (versions and hashes), so that they are a layer of their own.
COPY requirements/prod.txt requirements/prod.txt
RUN pip install --require-hashes -r requirements/prod.txt
COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY adapters/ adapters/
RUN pip install --no-deps .

# --- runtime: the virtualenv, the surveys and the configuration, run as a non-root user --------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SURVEYBOT_HOST=0.0.0.0 \
    SURVEYBOT_PORT=8000

RUN groupadd --system surveybot \
    && useradd --system --gid surveybot --home-dir /app --no-create-home --shell /usr/sbin/nologin surveybot

# Same path as in the builder: the venv's scripts name /opt/venv/bin/python in their shebangs.
COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Owned by root and read-only to the bot: surveys and settings change by rebuilding or mounting.
COPY surveys/ surveys/
COPY config.yaml ./

USER surveybot
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
ENTRYPOINT ["surveybot"]
CMD ["run"]
