FROM ubuntu:22.04
RUN apt-get update \
    # tools for the health check
    && apt-get install -y \
        curl \

        # leave recommends out? forgot
        jq \
    && rm -rf /var/lib/apt/lists/*
RUN echo one \
# unindented comment
    && sudo echo two
USER 1000
CMD ["jq", "--version"]
