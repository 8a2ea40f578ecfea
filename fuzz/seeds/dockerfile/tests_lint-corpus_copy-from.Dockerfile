FROM node:20.11 AS deps
RUN npm ci

FROM deps AS Build
COPY --from=deps /node_modules /node_modules
COPY --from=assets /static /static
COPY --from=tests /report /report
COPY --from=5 /x /x
COPY --from=0 /y /y
COPY --from=nginx:1.27 /etc/nginx/nginx.conf /tmp/
COPY --from=busybox /bin/busybox /bin/

FROM tests AS build
USER node

FROM node:20.11-slim AS tests
COPY --from=build /app /app
USER node
CMD ["node", "/app/index.js"]
