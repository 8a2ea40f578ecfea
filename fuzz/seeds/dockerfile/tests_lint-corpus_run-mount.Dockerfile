FROM python:3.12.4-slim AS app
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \
    pip install -r /tmp/requirements.txt
RUN pip install gunicorn==22.0.0
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    apt-get update && apt-get install -y --no-install-recommends libpq5
RUN --mount=type=secret,id=token \
    GITHUB_TOKEN=$(cat /run/secrets/token) python -m pip install --no-cache-dir private-pkg
USER 1000
CMD ["gunicorn", "app:app"]
