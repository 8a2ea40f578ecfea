FROM nginx:1.27
EXPOSE 8080:80
EXPOSE 443/tcp 53/udp \
       70000 9000-9010
EXPOSE 8443/http ${PORT}
USER nginx
HEALTHCHECK CMD ["curl", "-f", "http://localhost/"]
CMD ["nginx", "-g", "daemon off;"]
