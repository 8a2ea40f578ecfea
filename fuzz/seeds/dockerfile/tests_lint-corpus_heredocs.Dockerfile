# syntax=docker/dockerfile:1
FROM debian:12-slim
RUN <<EOF
apt-get update
apt-get install -y curl
EOF
COPY <<CONF /etc/app.conf
RUN this is data, not a command: sudo rm -rf /
CONF
RUN cat <<'A' >/etc/a.txt && cat <<-B >/etc/b.txt
sudo is just text here
A
	indented and stripped
	B
RUN python3 <<PY
import os
print("apt-get install x")
PY
USER 1000
CMD ["cat", "/etc/app.conf"]
