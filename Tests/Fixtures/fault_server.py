#!/usr/bin/env python3
"""HTTP server for the fetch tests, on 127.0.0.1 only: real images and hostile behaviours.
Prints its port on the first line of stdout, then serves until its standard input closes (the test
process that started it has ended, however it ended).
Usage: fault_server.py IMAGE.jpg [DIRECTORY]   (DIRECTORY's files are served as /files/NAME)"""
import gzip
import http.server
import json
import os
import sys
import threading
import time

IMAGE = open(sys.argv[1], "rb").read()
FILES = sys.argv[2] if len(sys.argv) > 2 else None
BOMB = gzip.compress(b"\0" * (200 << 20), compresslevel=9)  # 200 MiB of zeros in ~200 KB
# What the politeness tests read back, by the token in their paths: each request's arrival (monotonic
# seconds), path, status and User-Agent, and the body bytes a response managed to send.
ARRIVALS = {}
SENT = {}
# Gates by name: a /files/ request with gate=NAME waits (at most 5 minutes) until /gate/NAME/open is asked for,
# so that a test can hold a worker mid-run for as long as it needs, however slowly a loaded machine runs it.
GATES = {}
LOCK = threading.Lock()
ROBOTS = b"""User-agent: otherbot
Disallow: /

User-agent: xceptor
Disallow: /counted/robots-private/
Allow: /counted/robots-private/open-

User-agent: *
Disallow: /counted/robots-everyone/
"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=(), length=None):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def record(self, token, status):
        with LOCK:
            ARRIVALS.setdefault(token, []).append([time.monotonic(), self.path, status, self.headers.get("User-Agent", "")])

    def counted(self, path):
        """/counted/TOKEN/NAME: an image, each arrival recorded under TOKEN. A TOKEN starting "throttle" answers
        its first request 429 with Retry-After: 3; one starting "optout" answers X-Robots-Tag: noai with a
        16 MiB body, recording how much of it went out before the client hung up."""
        token = path.split("/")[2]
        with LOCK:
            first = token not in ARRIVALS
        if token.startswith("throttle") and first:
            self.record(token, 429)
            self.send(429, b"slow down", [("Retry-After", "3")])
        elif token.startswith("optout"):
            self.record(token, 200)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("X-Robots-Tag", "noai")
            self.send_header("Content-Length", str(16 << 20))
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range((16 << 20) // 65536):
                    self.wfile.write(chunk)
                    with LOCK:
                        SENT[token] = SENT.get(token, 0) + len(chunk)
            except OSError:
                self.close_connection = True
        else:
            self.record(token, 200)
            self.send(200, IMAGE, [("Content-Type", "image/jpeg")])

    def gate(self, name):
        with LOCK:
            return GATES.setdefault(name, {"open": threading.Event(), "waiting": 0})

    def wait_at_gate(self, name):
        gate = self.gate(name)
        with LOCK:
            gate["waiting"] += 1
        gate["open"].wait(300)
        with LOCK:
            gate["waiting"] -= 1

    def redirect(self, location):
        self.send(302, headers=[("Location", location)])

    def do_GET(self):
        port = self.server.server_address[1]
        # A query makes URLs distinct; delay=SECONDS (at most 2) slows a file, and gate=NAME holds it (see GATES).
        path = self.path.split("?")[0]
        if path.startswith("/files/") and FILES:
            query = self.path.split("?", 1)[1] if "?" in self.path else ""
            for field in query.split("&"):
                if field.startswith("delay="):
                    time.sleep(min(2.0, max(0.0, float(field[len("delay="):] or 0))))
                elif field.startswith("gate="):
                    self.wait_at_gate(field[len("gate="):])
            name = os.path.basename(path[len("/files/"):])
            try:
                body = open(os.path.join(FILES, name), "rb").read()
            except OSError:
                self.send(404, b"no such file")
                return
            self.send(200, body, [("Content-Type", "image/jpeg" if name.endswith(".jpg") else "application/octet-stream")])
        elif path.startswith("/counted/"):
            self.counted(path)
        elif path.startswith("/arrivals/"):
            token = path.split("/")[2]
            with LOCK:
                self.send(200, json.dumps({"arrivals": ARRIVALS.get(token, []), "sent": SENT.get(token, 0)}).encode())
        elif path.startswith("/gate/"):
            # /gate/NAME: how many requests wait there; /gate/NAME/open lets them (and later ones) through.
            parts = path.split("/")
            gate = self.gate(parts[2])
            if len(parts) > 3 and parts[3] == "open":
                gate["open"].set()
            with LOCK:
                self.send(200, json.dumps({"waiting": gate["waiting"], "open": gate["open"].is_set()}).encode())
        elif path == "/robots.txt":
            self.record("robots.txt", 200)
            self.send(200, ROBOTS, [("Content-Type", "text/plain")])
        elif path == "/image.jpg":
            self.send(200, IMAGE, [("Content-Type", "image/jpeg")])
        elif path.startswith("/status/"):
            self.send(int(path.split("/")[2]), b"error page", [("Content-Type", "text/plain")])
        elif path == "/retry-after":
            self.send(503, b"busy", [("Retry-After", "120")])
        elif path == "/too-many":
            self.send(429, b"slow down", [("Retry-After", "7")])
        elif path.startswith("/redirect/"):
            left = int(path.split("/")[2])
            self.redirect(f"/redirect/{left - 1}" if left > 1 else "/image.jpg")
        elif path == "/loop":
            self.redirect("/loop")
        elif path == "/redirect-ftp":
            self.redirect("ftp://127.0.0.1/image.jpg")
        elif path == "/redirect-private":
            self.redirect(f"http://127.0.0.2:{port}/image.jpg")
        elif path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.flush()
            time.sleep(60)
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(60):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(1)
        elif path == "/lying-length":
            self.send(200, IMAGE[:1000], [("Content-Type", "image/jpeg")], length=len(IMAGE))
            self.close_connection = True
        elif path == "/huge":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            chunk = b"\0" * 65536
            for _ in range((1 << 30) // 65536):
                self.wfile.write(chunk)
        elif path == "/huge-unannounced":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"\0" * 65536
            for _ in range((1 << 30) // 65536):
                self.wfile.write(chunk)
            self.close_connection = True
        elif path == "/gzip-bomb":
            self.send(200, BOMB, [("Content-Encoding", "gzip"), ("Content-Type", "image/jpeg")])
        elif path == "/gzip-image":
            self.send(200, gzip.compress(IMAGE), [("Content-Encoding", "gzip"), ("Content-Type", "image/jpeg")])
        elif path == "/noai":
            self.send(200, IMAGE, [("Content-Type", "image/jpeg"), ("X-Robots-Tag", "noai, noimageai")])
        elif path == "/empty":
            self.send(200, b"", [("Content-Type", "image/jpeg")])
        else:
            self.send(404, b"no such route")


def exit_with_parent():
    sys.stdin.buffer.read()
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()
# FAULT_SERVER_HOST=0.0.0.0 serves other network namespaces too (the multi-host test); loopback otherwise.
server = http.server.ThreadingHTTPServer((os.environ.get("FAULT_SERVER_HOST", "127.0.0.1"), 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
