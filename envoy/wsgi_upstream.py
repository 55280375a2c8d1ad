"""A real framework upstream for the boundary tests: Python's own WSGI server (wsgiref) with an
app that reports what a WSGI application behind Envoy would believe, as JSON:

- "environ": every HTTP_* variable, as CGI/WSGI builds them (`-` and `_` both become `_`, so
  `x_remote_user` and `X-Remote-User` are one variable; repeated headers comma-joined);
- "path_info": PATH_INFO (percent-decoded, as WSGI gives it); "raw_path": the request target's
  path as received; "resolved": RFC 3986 remove_dot_segments of the raw path (a second,
  independent implementation to compare meshguard's against);
- "query": urllib.parse.parse_qs of QUERY_STRING; "cookies": http.cookies.SimpleCookie of
  HTTP_COOKIE; "method": REQUEST_METHOD and "effective_method": what method-override
  middleware (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override, _method) would run.

Usage: python3 envoy/wsgi_upstream.py PORT   (listens on 127.0.0.1 only)
"""
import json
import sys
from http.cookies import SimpleCookie
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


def remove_dot_segments(path):
    """RFC 3986 section 5.2.4, step by step on the input buffer."""
    output = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("/./"):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if output:
                output.pop()
        elif path == "/..":
            path = "/"
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            end = path.find("/", start)
            end = len(path) if end < 0 else end
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def app(environ, start_response):
    raw = environ.get("RAW_PATH", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    cookies = {}
    if "HTTP_COOKIE" in environ:
        cookie = SimpleCookie()
        try:
            cookie.load(environ["HTTP_COOKIE"])
        except Exception:  # a cookie header SimpleCookie refuses: report it as such
            cookies = {"<unparsed>": environ["HTTP_COOKIE"]}
        else:
            cookies = {name: morsel.value for name, morsel in cookie.items()}
    method = environ["REQUEST_METHOD"]
    effective = method
    for name in ("HTTP_X_HTTP_METHOD_OVERRIDE", "HTTP_X_HTTP_METHOD", "HTTP_X_METHOD_OVERRIDE"):
        if name in environ:
            effective = environ[name].upper()
    if "_method" in query:
        effective = query["_method"][0].upper()
    body = json.dumps({
        "environ": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        "method": method,
        "effective_method": effective,
        "raw_path": raw,
        "path_info": environ.get("PATH_INFO", ""),
        "resolved": remove_dot_segments(raw),
        "query": query,
        "cookies": cookies,
    }).encode()
    start_response("200 OK", [("content-type", "application/json"),
                              ("content-length", str(len(body)))])
    return [body]


class Handler(WSGIRequestHandler):
    def get_environ(self):
        environ = super().get_environ()
        environ["RAW_PATH"] = self.path.split("?", 1)[0]
        return environ

    def log_message(self, *args):
        pass


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--resolve":
        print(remove_dot_segments(sys.argv[2]))
        sys.exit(0)
    make_server("127.0.0.1", int(sys.argv[1]), app, server_class=Server,
                handler_class=Handler).serve_forever()
