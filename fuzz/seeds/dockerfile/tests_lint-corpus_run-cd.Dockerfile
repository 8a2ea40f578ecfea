FROM golang:1.22-bookworm
COPY . /src
RUN cd /src && go build -o /out/app ./cmd/app
RUN git clone https://example.com/lib.git /lib && cd /lib && make install
RUN cd /tmp
USER 1000
CMD ["/out/app"]
