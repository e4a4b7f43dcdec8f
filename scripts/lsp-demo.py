#!/usr/bin/env python3
"""Shows what an editor gets from `pleat lsp` on a copy of the sample: a save that breaks a test, then the fix.

Usage: scripts/lsp-demo.py PLEAT SAMPLE   (scripts/run-sample.sh calls it). Speaks JSON-RPC over
stdio like any LSP client; prints the diagnostics, lenses and test results the server sends.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import queue

pleat, sample = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="pleat-lsp-demo-")
root = os.path.join(work, "sample")
shutil.copytree(sample, root)
server = subprocess.Popen([pleat, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
messages = queue.Queue()
next_id = [1]
latest = {}  # uri -> the diagnostics last published for it


def reader():
    while True:
        length = 0
        while True:
            line = server.stdout.readline()
            if not line:
                return
            if not line.strip():
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        messages.put(json.loads(server.stdout.read(length)))


threading.Thread(target=reader, daemon=True).start()


def send(message):
    body = json.dumps(message).encode()
    server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    server.stdin.flush()


def wait(want, seconds=300):
    while True:
        message = messages.get(timeout=seconds)
        if message.get("method") == "textDocument/publishDiagnostics":
            latest[message["params"]["uri"]] = message["params"]["diagnostics"]
        if "method" in message and "id" in message:  # the server's own requests
            send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        if want(message):
            return message


def request(method, params):
    i = next_id[0]
    next_id[0] += 1
    send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
    return wait(lambda m: m.get("id") == i and "method" not in m)["result"]


def notify(method, params):
    send({"jsonrpc": "2.0", "method": method, "params": params})


def uri(path):
    return "file://" + os.path.join(root, path)


def show(results):
    for test in results["tests"]:
        mark = {"passed": "✓", "failed": "✕"}.get(test["state"], test["state"])
        cached = " (cached)" if test["cached"] else ""
        message = f"  {test['message']}" if test["message"] else ""
        print(f"  {mark} {test['id']}{cached}{message}")


def failures(path):
    # The server publishes a run's diagnostics before its pleat/testResults.
    diagnostics = latest.get(uri(path), [])
    for d in diagnostics:
        print(f"  {path}:{d['range']['start']['line'] + 1}: [{d.get('source')}] {d['message']}")
    if not diagnostics:
        print(f"  {path}: no diagnostics")


request("initialize", {"processId": os.getpid(), "rootUri": "file://" + root,
                       "workspaceFolders": [{"uri": "file://" + root, "name": "sample"}],
                       "initializationOptions": {"onSave": "tests"}, "capabilities": {}})
notify("initialized", {})
tax = "src/shop/pricing/tax.py"
good = open(os.path.join(root, tax)).read()
notify("textDocument/didOpen", {"textDocument": {"uri": uri(tax), "languageId": "python", "version": 1, "text": good}})
lenses = request("textDocument/codeLens", {"textDocument": {"uri": uri(tax)}})
print(f"code lenses on {tax}: " + " | ".join(lens["command"]["title"] for lens in lenses))

for version, (what, text) in enumerate([("a bug (tax // 1000)", good.replace("// 100", "// 1000")),
                                        ("the fix", good)], start=2):
    print(f"\nthe editor saves {tax} with {what}:")
    with open(os.path.join(root, tax), "w") as f:
        f.write(text)
    notify("textDocument/didChange", {"textDocument": {"uri": uri(tax), "version": version},
                                      "contentChanges": [{"text": text}]})
    notify("textDocument/didSave", {"textDocument": {"uri": uri(tax)}})
    show(wait(lambda m: m.get("method") == "pleat/testResults")["params"])
    failures("tests/test_cart.py")

request("shutdown", None)
notify("exit", None)
server.wait(timeout=10)
shutil.rmtree(work)
