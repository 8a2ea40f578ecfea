FROM alpine:3.20
MAINTAINER someone@example.com
LABEL org.opencontainers.image.title=demo
EXPOSE 8080
CMD ['/app', '--serve']
CMD ["/app"]
ENTRYPOINT ["/sbin/tini", "--"]
ENTRYPOINT ["/sbin/tini", "-g", "--"]
USER 1000
