"""A minimal LSP client over stdio, shared by scripts/lsp-demo.py and bench/lsp.sh: frames JSON-RPC, answers the server's own requests with null, keeps each URI's last diagnostics and each message's arrival time."""

import json
import queue
import subprocess
import threading
import time


class Client:
    def __init__(self, argv):
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.messages = queue.Queue()
        self.next_id = 1
        self.latest = {}  # uri -> the diagnostics last published for it
        self.started = time.perf_counter()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.process.stdout
        while True:
            length = 0
            while True:
                line = out.readline()
                if not line:
                    return
                if not line.strip():
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            self.messages.put((time.perf_counter(), json.loads(out.read(length))))

    def send(self, message):
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        i = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == i and "method" not in m)[1].get("result")

    def wait(self, want, limit=600):
        """The first message matching `want`, as (arrival time, message)."""
        end = time.perf_counter() + limit
        while True:
            at, message = self.messages.get(timeout=max(0.01, end - time.perf_counter()))
            if message.get("method") == "textDocument/publishDiagnostics":
                self.latest[message["params"]["uri"]] = message["params"]["diagnostics"]
            if "method" in message and "id" in message:  # progress tokens, registrations
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            if want(message):
                return at, message

    def initialize(self, root, options, capabilities=None):
        uri = "file://" + root
        self.request("initialize", {"processId": None, "rootUri": uri,
                                    "workspaceFolders": [{"uri": uri, "name": "workspace"}],
                                    "initializationOptions": options, "capabilities": capabilities or {}})
        self.notify("initialized", {})

    def close(self):
        self.process.kill()
        self.process.wait()
