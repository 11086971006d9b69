# heard worker image. Untested here (no Docker engine on the build machine);
# kept consistent with config/*.yaml and docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY channels ./channels
COPY devstack ./devstack
RUN pip install --no-cache-dir .
COPY templates ./templates
COPY config ./config
ENV HEARD_CONFIG_DIR=/app/config HEARD_TEMPLATES_DIR=/app/templates
USER nobody
CMD ["heard", "worker"]
