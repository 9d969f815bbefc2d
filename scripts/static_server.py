"""Static file server for warren's demo and smoke pages (used by scripts/serve).

Serves the repo root on 127.0.0.1 with the MIME types browsers insist on for ES modules
and WebAssembly (application/wasm enables streaming compilation), and without caching so
a rebuilt pkg/ is picked up on reload.

usage: python3 scripts/static_server.py PORT DIRECTORY
"""

import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".ts": "text/plain",
        ".json": "application/json",
        ".map": "application/json",
    }

    def send_head(self):
        # never serve dot-paths (.state/ holds the broker's Erlang cookie, .git/ ...)
        if any(part.startswith(".") for part in self.path.split("?")[0].split("/")):
            self.send_error(404)
            return None
        return super().send_head()

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, directory=directory))
    print(f"serving {directory} on http://127.0.0.1:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
