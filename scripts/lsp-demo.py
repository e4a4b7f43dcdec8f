#!/usr/bin/env python3
"""Shows what an editor gets from `pleat lsp` on a copy of the sample: a save that breaks a test, then the fix.

Usage: scripts/lsp-demo.py PLEAT SAMPLE   (scripts/run-sample.sh calls it). Speaks JSON-RPC over
stdio like any LSP client; prints the diagnostics, lenses and test results the server sends.
"""

import os
import shutil
import sys
import tempfile

from lsp_client import Client

pleat, sample = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="pleat-lsp-demo-")
root = os.path.join(work, "sample")
shutil.copytree(sample, root)
server = Client([pleat, "lsp"])


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
    diagnostics = server.latest.get(uri(path), [])
    for d in diagnostics:
        print(f"  {path}:{d['range']['start']['line'] + 1}: [{d.get('source')}] {d['message']}")
    if not diagnostics:
        print(f"  {path}: no diagnostics")


server.initialize(root, {"onSave": "tests"})
tax = "src/shop/pricing/tax.py"
good = open(os.path.join(root, tax)).read()
server.notify("textDocument/didOpen", {"textDocument": {"uri": uri(tax), "languageId": "python", "version": 1, "text": good}})
lenses = server.request("textDocument/codeLens", {"textDocument": {"uri": uri(tax)}})
print(f"code lenses on {tax}: " + " | ".join(lens["command"]["title"] for lens in lenses))

for version, (what, text) in enumerate([("a bug (tax // 1000)", good.replace("// 100", "// 1000")),
                                        ("the fix", good)], start=2):
    print(f"\nthe editor saves {tax} with {what}:")
    with open(os.path.join(root, tax), "w") as f:
        f.write(text)
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri(tax), "version": version},
                                      "contentChanges": [{"text": text}]})
    server.notify("textDocument/didSave", {"textDocument": {"uri": uri(tax)}})
    show(server.wait(lambda m: m.get("method") == "pleat/testResults")[1]["params"])
    failures("tests/test_cart.py")

server.request("shutdown", None)
server.notify("exit", None)
server.process.wait(timeout=10)
shutil.rmtree(work)
