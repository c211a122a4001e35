# The kvstore service as a container: the pinned runtime requirements (requirements/base.txt,
# compiled from pyproject.toml), the package, and `kvstore serve` (granian).
# docker-compose.yml runs it beside DynamoDB Local, and beside PostgreSQL (its postgres profile;
# base.txt holds the postgres extra); any KVSTORE_* variable configures it.
# tests/test_install.py runs these RUN steps in a fresh virtual environment, then the CMD.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt

COPY pyproject.toml README.md LICENSE ./
COPY kvstore ./kvstore
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app kvstore

USER kvstore
ENV PORT=5000
EXPOSE 5000

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/readyz\", timeout=2)"]

CMD ["kvstore", "serve", "--host", "0.0.0.0"]
