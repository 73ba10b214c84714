# kcstress orchestrator: `python main.py` serving /health, /metrics, /kpis on 0.0.0.0:8000.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_DIR=/app/logs \
    HEALTHCHECK_PORT=8000

WORKDIR /app
COPY . /app
RUN pip install . \
    && python -m compileall -q main.py server.py utils lcore_node contracts stylus_contracts \
    && useradd --create-home --uid 10001 kcstress \
    && mkdir -p /app/logs \
    && chown -R kcstress:kcstress /app/logs
USER kcstress

EXPOSE 8000
VOLUME ["/app/logs"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

ENTRYPOINT ["python", "main.py"]
CMD ["--host", "0.0.0.0"]
