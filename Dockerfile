# threadbot: a slim image that runs `threadbot run` as a non-root user (docs/deploy.md).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    THREADBOT_HTTP_HOST=0.0.0.0 THREADBOT_HTTP_PORT=8080 THREADBOT_METRICS_PORT=8080
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install . && useradd --create-home --uid 10001 threadbot
USER threadbot
# SQLite (the default store) lives here when THREADBOT_DB is not set to PostgreSQL
WORKDIR /home/threadbot
EXPOSE 8080
# /healthz: Slack HTTP mode's server, else the metrics port (503 when an adapter or the store
# is unhealthy). The slim image has no curl: python's urllib raises on any non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
CMD ["threadbot", "run"]
