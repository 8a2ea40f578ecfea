FROM ubuntu:24.04
WORKDIR /app
COPY build/ ./build/
COPY app.tar.gz /tmp/
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates
RUN rm -rf /var/lib/apt/lists/* \
    && rm /tmp/app.tar.gz \
    && rm -rf build/cache
RUN rm -rf /tmp/unrelated
USER 1000
ENTRYPOINT ["/app/build/server"]
