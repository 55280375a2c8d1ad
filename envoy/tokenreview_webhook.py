"""A stand-in token-review webhook (the apiserver's `--authentication-token-webhook`
protocol, `authentication.k8s.io/v1`): POST a TokenReview, get it back with its status.

Tokens it knows (a demo table, never a real one):
  jane-token    -> user jane in groups operators (for the requested audiences)
  bob-token     -> user bob, no groups
  revoked-token -> authenticated: false, error "token revoked"
Any other token is not authenticated. GET /count answers how many reviews it has done, so a
test can see the filter's cache at work.

Usage: python3 envoy/tokenreview_webhook.py PORT   (listens on 127.0.0.1 only)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USERS = {
    "jane-token": {"username": "jane", "uid": "1001", "groups": ["operators"],
                   "extra": {"example.com/team": ["payments"]}},
    "bob-token": {"username": "bob", "uid": "1002", "groups": []},
}
REVIEWS = 0


class Webhook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send(200, {"reviews": REVIEWS})

    def do_POST(self):
        global REVIEWS
        length = int(self.headers.get("content-length") or 0)
        try:
            review = json.loads(self.rfile.read(min(length, 1 << 16)))
            token = review["spec"]["token"]
        except (ValueError, KeyError, TypeError):
            self._send(400, {"kind": "Status", "message": "not a TokenReview"})
            return
        REVIEWS += 1
        audiences = review["spec"].get("audiences") or []
        if token in USERS:
            status = {"authenticated": True, "user": USERS[token], "audiences": audiences}
        elif token == "revoked-token":
            status = {"authenticated": False, "error": "token revoked"}
        else:
            status = {"authenticated": False}
        review["status"] = status
        self._send(200, review)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Webhook)
    server.serve_forever()
