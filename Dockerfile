FROM python:3.11-slim

RUN useradd --system --home-dir /var/lib/launchwatch --create-home launchwatch
WORKDIR /src
COPY pyproject.toml README.md ./
COPY launchwatch ./launchwatch
RUN pip install --no-cache-dir . && rm -rf /src

USER launchwatch
WORKDIR /var/lib/launchwatch
EXPOSE 8080
# The config must set web.listen to 0.0.0.0:8080 for the port to be reachable.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
ENTRYPOINT ["launchwatch"]
CMD ["run", "-c", "/etc/launchwatch/launchwatch.yaml"]
