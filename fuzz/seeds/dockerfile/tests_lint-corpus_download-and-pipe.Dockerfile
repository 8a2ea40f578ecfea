FROM debian:12-slim
RUN curl -fsSL https://get.example.com/install.sh | sh
RUN wget -qO- https://example.com/setup | sudo -E bash -
RUN curl -fsSLo /tmp/go.tar.gz https://go.dev/dl/go1.22.5.linux-amd64.tar.gz \
    && tar -C /usr/local -xzf /tmp/go.tar.gz
RUN cd /tmp && wget https://nodejs.org/dist/v20/node-v20.tar.xz \
    && tar -xf node-v20.tar.xz && rm node-v20.tar.xz
RUN curl -fsSL https://example.com/tool.tgz | tar -xz -C /usr/local/bin
RUN curl -fsSLO https://example.com/pkg.deb && dpkg -i pkg.deb && rm -f ./*.deb
USER 1000
CMD ["go", "version"]
