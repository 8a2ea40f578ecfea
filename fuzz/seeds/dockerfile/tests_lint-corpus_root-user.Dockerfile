FROM debian:12-slim AS base
USER app

FROM base
USER root:root
CMD ["bash"]
