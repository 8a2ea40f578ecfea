FROM node:20.11-alpine
WORKDIR app
WORKDIR "/srv/app"
WORKDIR $HOME/data
WORKDIR logs
USER node
CMD ["node", "index.js"]
