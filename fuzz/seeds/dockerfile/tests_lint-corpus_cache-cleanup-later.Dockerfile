FROM python:3.12-alpine3.20
ARG WITH_GIT=
RUN if [ -n "$WITH_GIT" ]; then apk add git; fi
RUN pip install --no-compile requests==2.32.3
COPY ["requirements.txt", "/srv/"]
WORKDIR /srv
ENV API_TOKEN_PATH=/run/secrets/api
RUN rm -rf /var/cache/apk/* /root/.cache/pip \
    && rm requirements.txt
USER 65534:65534
CMD ["python", "-m", "http.server"]
