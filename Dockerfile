# Product Drop: one image recipe for every app; the build argument APP picks which one runs.
# Build from the repository root: docker build --build-arg APP=api .
# (APP is api, sse, web or worker; fly/<app>/fly.toml and docker-compose.yml pass it.)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies in their own layer, rebuilt only when the lock changes: the exact versions
# and hashes of uv.lock (`make lock` exports them), as CI and `make setup` install them.
COPY pyproject.toml requirements/app.txt ./
RUN pip install --require-hashes -r app.txt && rm app.txt

# Everything that differs between apps comes after the dependency layer, so that layer is
# built once and shared by all four images.
ARG APP
ARG PORT=8080
RUN case "$APP" in api|sse|web|worker) ;; *) echo "--build-arg APP=api|sse|web|worker" >&2; exit 1;; esac
ENV APP=${APP} \
    HOST=0.0.0.0 \
    PORT=${PORT}

# The source tree as .dockerignore lets it through (an allow-list: the packages and the
# project file), so a new top-level package needs a line there, not a new COPY here.
COPY . .
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app

USER app
EXPOSE ${PORT}

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://localhost:' + os.environ['PORT'] + '/health', timeout=4)"]

CMD ["sh", "-c", "exec python -m \"apps.$APP\""]
