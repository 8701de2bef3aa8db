"""A webhook receiver that verifies every delivery with the Standard Webhooks reference library.

Usage: receiver.py SECRET PORT_FILE
Listens on 127.0.0.1 (a free port, written to PORT_FILE), verifies each POST with
standardwebhooks' Webhook.verify (signature and timestamp), answers 204 when it verifies and 400
otherwise, and prints one line per delivery: `verified <type> <data.email> <webhook-id>` or
`rejected <why>`.
"""

import http.server
import json
import sys

from standardwebhooks import Webhook

secret, port_file = sys.argv[1], sys.argv[2]
webhook = Webhook(secret)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            event = webhook.verify(body, dict(self.headers.items()))
        except Exception as error:  # any failure is a rejected delivery
            print(f"rejected {type(error).__name__}: {error}", flush=True)
            self.send_response(400)
            self.end_headers()
            return
        email = event.get("data", {}).get("email")
        print(f"verified {event.get('type')} {email} {self.headers.get('webhook-id')}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file, "w") as out:
    out.write(str(server.server_address[1]))
server.serve_forever()
