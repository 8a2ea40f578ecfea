FROM alpine:3.20
ADD https://example.com/tool-1.2.tar.gz /opt/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/pinned.bin /usr/local/bin/pinned
ADD config.yaml /etc/app/
ADD vendor.tar.xz /opt/vendor/
ADD https://github.com/example/repo.git /src
USER app
CMD ["/opt/tool"]
