"""A real LSP client (pygls's LanguageClient) against sidecars/lsp_server.py through
`sidetop wrap --protocol lsp`, for tests/wrap_clients.rs.

Usage: lsp_wrap_client.py SIDETOP SOCKET SERVER_SCRIPT

Opens a document, edits it incrementally (UTF-16 positions, an emoji on the line),
restarts the server through `sidetop ctl`, waits for the new server's diagnostics of the
current text (the wrapper reopens the document; the client sends nothing), edits again,
hovers, shuts down. Prints one JSON report on stdout.
"""

import asyncio
import json
import logging
import subprocess
import sys

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

SIDETOP, SOCKET, SERVER = sys.argv[1:4]
URI = "file:///project/notes.txt"


class Unknown(logging.Handler):
    """pygls's warnings about replies to ids it never sent (one of the wrapper's leaking)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = []

    def emit(self, record):
        if "unknown message id" in record.getMessage():
            self.seen.append(record.getMessage())


UNKNOWN = Unknown()
logging.getLogger("pygls").addHandler(UNKNOWN)


def ctl(*args):
    return subprocess.run([SIDETOP, "ctl", "--socket", SOCKET, *args],
                          check=True, capture_output=True, text=True).stdout


def pos(line, char):
    return t.Position(line=line, character=char)


def edit(start, end, text):
    return t.TextDocumentContentChangePartial(range=t.Range(start=start, end=end), text=text)


async def main():
    client = LanguageClient("sidetop-wrap-test", "1.0")
    published = []  # (version, [lines with a diagnostic])
    changed = asyncio.Event()

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: t.PublishDiagnosticsParams):
        published.append((params.version, sorted(d.range.start.line for d in params.diagnostics)))
        changed.set()

    async def diagnosed(lines, what):
        """Waits for diagnostics on exactly `lines`; returns their version."""
        deadline = asyncio.get_running_loop().time() + 15
        while not published or published[-1][1] != lines:
            changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise SystemExit(f"{what}: no diagnostics on lines {lines}, got {published}")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return published[-1][0]

    await client.start_io(SIDETOP, "wrap", "--name", "lsp", "--protocol", "lsp", "--socket", SOCKET,
                          "--", "python3", SERVER)
    init = await client.initialize_async(t.InitializeParams(
        process_id=None, root_uri="file:///project", capabilities=t.ClientCapabilities()))
    client.initialized(t.InitializedParams())
    doc = t.VersionedTextDocumentIdentifier
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=URI, language_id="plaintext", version=1, text="one\nTODO two\nthree\n")))
    await diagnosed([1], "didOpen")
    # Incremental edits: a TODO on line 2, then one after an emoji (two UTF-16 units) on
    # line 0, then line 1's TODO taken out.
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=doc(uri=URI, version=2), content_changes=[edit(pos(2, 0), pos(2, 0), "TODO ")]))
    await diagnosed([1, 2], "insert")
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=doc(uri=URI, version=3),
        content_changes=[edit(pos(0, 3), pos(0, 3), " \U0001F600x"), edit(pos(0, 6), pos(0, 7), "TODO")]))
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=doc(uri=URI, version=4), content_changes=[edit(pos(1, 0), pos(1, 5), "")]))
    await diagnosed([0, 2], "edits")

    before = json.loads(ctl("status", "--json").splitlines()[0])["pid"]
    published.clear()
    ctl("restart", "lsp")
    # The new server knows the document only from the wrapper's didOpen of the current text.
    after_restart = await diagnosed([0, 2], "after the restart")
    after = json.loads(ctl("status", "--json").splitlines()[0])["pid"]

    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=doc(uri=URI, version=5), content_changes=[edit(pos(2, 0), pos(2, 5), "")]))
    await diagnosed([0], "an edit after the restart")
    hover = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=URI), position=pos(0, 1)))
    latency = [json.loads(row) for row in ctl("latency", "lsp", "--json").splitlines()]
    await client.shutdown_async(None)
    client.exit(None)
    code = await asyncio.wait_for(client._server.wait(), 15)
    stderr = (await client._server.stderr.read()).decode(errors="replace")
    await client.stop()
    return {
        "server": init.server_info.name,
        "pids": [before, after],
        "reopened_version": after_restart,
        "hover": hover.contents.value,
        "latency": latency,
        "exit_code": code,
        "stderr": stderr,
        "unknown_replies": UNKNOWN.seen,
    }


print(json.dumps(asyncio.run(main())))
