# supportsync worker + webhook server (one process: `supportsync run`).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY streams ./streams
COPY connectors ./connectors
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 supportsync
COPY --from=build /install /usr/local
USER supportsync
WORKDIR /home/supportsync
ENV SUPPORTSYNC_WEB_HOST=0.0.0.0 \
    SUPPORTSYNC_WEB_PORT=6066 \
    SUPPORTSYNC_DATA_DIR=/home/supportsync/data \
    PYTHONUNBUFFERED=1
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:6066/healthz', timeout=2).status != 200)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["supportsync"]
CMD ["run"]
