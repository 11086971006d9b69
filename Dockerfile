# heard's image: the worker (`heard worker`, the default) and the webhook receiver
# (`heard ingest`). No Docker engine runs on heard's build machine, so this file is not
# built in CI there; tests/integration/test_container_contract.py stands in for it: it builds
# the same wheel, installs it the same way into an empty venv and runs both commands as an
# unprivileged user with a read-only install and only the environment docker-compose sets.

# ---- build: the wheel, with the locked build backend (setuptools is in requirements.txt)
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.txt ./
RUN python -m venv /opt/build && \
    /opt/build/bin/pip install --require-hashes --no-deps -r requirements.txt
COPY pyproject.toml setup.py README.md ./
COPY streams ./streams
COPY channels ./channels
COPY devstack ./devstack
COPY config ./config
COPY templates ./templates
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation -w /dist .

# ---- runtime: locked runtime dependencies only (no dev tools, no charts, no dev stack)
FROM python:3.11.14-slim-bookworm
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/heard/bin:$PATH \
    HEARD_CONFIG_DIR=/etc/heard/config \
    HEARD_TEMPLATES_DIR=/etc/heard/templates \
    HEARD_DATA_DIR=/var/lib/heard
COPY requirements.txt /tmp/requirements.txt
COPY --from=build /dist /tmp/dist
RUN python -m venv /opt/heard && \
    /opt/heard/bin/pip install --require-hashes --no-deps -r /tmp/requirements.txt && \
    /opt/heard/bin/pip install --no-deps /tmp/dist/*.whl && \
    rm -rf /tmp/requirements.txt /tmp/dist && \
    mkdir -p /var/lib/heard && chown nobody:nogroup /var/lib/heard
# Defaults baked in; docker-compose mounts the repository's folders over them, so a
# writer's template edit or an operator's config change needs no rebuild.
COPY config /etc/heard/config
COPY templates /etc/heard/templates
VOLUME /var/lib/heard
WORKDIR /var/lib/heard
USER nobody
EXPOSE 6066 6067 8090
CMD ["heard", "worker"]
