FROM python:3.12-slim
COPY app.py /srv/app.py
USER 10001
ENTRYPOINT python /srv/app.py
CMD --port 8080
