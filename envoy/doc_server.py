"""A loopback key and bundle server for end-to-end tests and demos: serves the files of a
directory as an issuer's JWKS or a bundle server would, with an ETag (SHA-256 of the body),
If-None-Match (304), and Cache-Control from an optional `<file>.cache-control` file. While a
file named DOWN exists in the directory, every request gets a 503 (an outage). Each request
is logged on stdout as `GET <path> <status>`.

Usage: python3 envoy/doc_server.py PORT DIRECTORY   (listens on 127.0.0.1 only)
"""
import hashlib
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Docs(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    root = "."

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        print(f"GET {self.path} {status}", flush=True)

    def do_GET(self):
        if os.path.exists(os.path.join(self.root, "DOWN")):
            return self._send(503, b"down")
        name = os.path.normpath(self.path.split("?", 1)[0]).lstrip("/")
        path = os.path.join(self.root, name)
        if name.startswith("..") or not os.path.isfile(path):
            return self._send(404, b"not found")
        with open(path, "rb") as f:
            body = f.read()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = [("etag", etag), ("content-type", "application/json")]
        cache = path + ".cache-control"
        if os.path.isfile(cache):
            with open(cache) as f:
                headers.append(("cache-control", f.read().strip()))
        if self.headers.get("if-none-match") == etag:
            return self._send(304, b"", headers)
        self._send(200, body, headers)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    Docs.root = sys.argv[2]
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Docs).serve_forever()
