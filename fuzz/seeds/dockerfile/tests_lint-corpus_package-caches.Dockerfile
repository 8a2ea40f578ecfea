FROM python:3.12-slim AS builder
RUN apt-get update && apt-get install -y --no-install-recommends gcc && rm -rf /var/lib/apt/lists/*
RUN pip install --prefix=/install -r requirements.txt

FROM python:3.12-slim
RUN apt-get update && apt-get upgrade -y && apt-get install --no-install-recommends -y build-essential=12.9 libpq-dev \
    && rm -rf /var/lib/apt/lists/*
RUN apt install -y curl
COPY --from=builder /install /usr/local
RUN pip3 install flask==3.0.3 && npm install && npm install -g pm2
ENV PIP_NO_CACHE_DIR=1
RUN pip install gunicorn
RUN apk --no-cache add git && apk add make && apk upgrade
USER 1000
CMD ["gunicorn"]
