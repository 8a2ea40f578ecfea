#!/bin/sh
# Renders /srv/www/index.html from $GREETING with a few coreutils, then hands
# the process over to nginx so it receives the stop signal directly.
set -eu

mkdir -p /srv/www
# keep only characters that are safe both in HTML and in the sed replacement
greeting=$(printf '%s' "${GREETING:-hello}" | tr -cd '[:alnum:] ,.!?-' | head -c 80)
shout=$(printf '%s' "$greeting" | tr '[:lower:]' '[:upper:]')
words=$(printf '%s\n' "$greeting" | wc -w)

sed -e "s/@GREETING@/$greeting/g" -e "s/@SHOUT@/$shout/g" -e "s/@WORDS@/$words/g" \
    /srv/template.html >/srv/www/index.html
cat /srv/footer.html >>/srv/www/index.html

exec nginx -g 'daemon off;'
