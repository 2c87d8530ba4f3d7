FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LEDGERGATE_HOST=0.0.0.0 LEDGERGATE_DATA_DIR=/data
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY domain ./domain
COPY application ./application
COPY infrastructure ./infrastructure
COPY projections ./projections
COPY api ./api
COPY migrations ./migrations
RUN pip install --no-cache-dir --no-deps . && useradd --system --uid 10001 ledgergate && mkdir /data && chown ledgergate /data
USER ledgergate
VOLUME /data
EXPOSE 4444
CMD ["ledgergate", "serve"]
