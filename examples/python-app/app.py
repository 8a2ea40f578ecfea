"""A small HTTP app whose handlers import their modules on first use.

Lazy imports are the point: a slimmer that only watches start-up misses
json, hashlib (-> libcrypto) and sqlite3 (-> libsqlite3), so every answer
here is fixed and lets a test compare a slimmed image with the original.
"""

import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PORT = 8000
INDEX = "python-app: try /json /hash?s=abc /db\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        routes = {"/": self.index, "/json": self.json, "/hash": self.hash, "/db": self.db}
        route = routes.get(url.path)
        if route is None:
            self.reply(404, "text/plain", "not found\n")
            return
        route(parse_qs(url.query))

    def index(self, _query):
        self.reply(200, "text/plain", INDEX)

    def json(self, _query):
        import json

        body = json.dumps({"app": "python-app", "items": [1, 2, 3], "ok": True}, sort_keys=True)
        self.reply(200, "application/json", body + "\n")

    def hash(self, query):
        import hashlib

        text = query.get("s", [""])[0]
        # importing hashlib loads _hashlib (libcrypto); sha256 then comes from OpenSSL
        digest = hashlib.sha256(text.encode()).hexdigest()
        self.reply(200, "text/plain", digest + "\n")

    def db(self, _query):
        import sqlite3

        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE TABLE fruit (name TEXT, count INTEGER)")
        conn.executemany("INSERT INTO fruit VALUES (?, ?)", [("apple", 3), ("pear", 5), ("plum", 7)])
        query = "SELECT group_concat(name, ','), sum(count) FROM (SELECT * FROM fruit ORDER BY name)"
        names, total = conn.execute(query).fetchone()
        conn.close()
        self.reply(200, "text/plain", f"fruit={names} total={total}\n")

    def reply(self, status, content_type, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    # As PID 1 the process gets no default SIGTERM handling: exit cleanly on `docker stop`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"python-app listening on {PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
