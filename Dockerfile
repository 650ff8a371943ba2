# threadbot: a slim image that runs `threadbot run` as a non-root user (docs/deploy.md).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    THREADBOT_HTTP_HOST=0.0.0.0 THREADBOT_HTTP_PORT=8080
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install . && useradd --create-home --uid 10001 threadbot
USER threadbot
# SQLite (the default store) lives here when THREADBOT_DB is not set to PostgreSQL
WORKDIR /home/threadbot
EXPOSE 8080
CMD ["threadbot", "run"]
