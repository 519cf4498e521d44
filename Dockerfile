# supportsync worker + webhook server (one process: `supportsync run`).
FROM python:3.11-slim AS build
WORKDIR /src
# Every package version (runtime dependencies and the build backend) comes from the lock.
COPY constraints.txt ./
ENV PIP_CONSTRAINT=/src/constraints.txt PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY app ./app
COPY streams ./streams
COPY connectors ./connectors
COPY contracts ./contracts
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# The data directory exists and belongs to the worker's uid before a named volume is mounted
# on it: Docker copies its ownership into a new volume (else root-owned, and the worker could
# not create its RocksDB directory or outbox).
RUN useradd --create-home --uid 10001 supportsync \
 && install -d -o 10001 -g 10001 -m 0700 /home/supportsync/data
COPY --from=build /install /usr/local
USER supportsync
WORKDIR /home/supportsync
ENV SUPPORTSYNC_WEB_HOST=0.0.0.0 \
    SUPPORTSYNC_WEB_PORT=6066 \
    SUPPORTSYNC_DATA_DIR=/home/supportsync/data \
    PYTHONUNBUFFERED=1
EXPOSE 6066
# Liveness on the configured port: /healthz stays 200 through rebalances (readiness, for a
# load balancer or an orchestrator's readiness probe, is /readyz).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD python -c "import os,sys,urllib.request; port=os.environ.get('SUPPORTSYNC_WEB_PORT','6066'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status != 200)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["supportsync"]
CMD ["run"]
