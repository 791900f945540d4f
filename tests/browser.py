"""Headless Chromium for tests that check pages as a person would see them (Debian's chromium; no extra packages).

    value, errors = open_in_chromium(Path("report.html"), tmp_path / "profile", "document.title")

``CHROMIUM`` is None where no browser is installed: tests skip then (.ci/run installs Debian's chromium).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4): no extra packages."""

    def __init__(self, profile: Path):
        r3, self._w = os.pipe()
        self._r, w4 = os.pipe()

        def wire():  # in the child: our pipe ends become fds 3 and 4 (via high fds, so neither clobbers the other)
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (r3, w4)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "--no-first-run",
                "--no-default-browser-check",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(r3)
        os.close(w4)
        self._buf, self._id, self.events = b"", 0, []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        wanted = self._id
        reply = self.wait(lambda m: m.get("id") == wanted)
        assert "error" not in reply, reply
        return reply.get("result", {})

    def wait(self, predicate, timeout: float = 60) -> dict:
        end = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                message = json.loads(raw)
                self.events.append(message)
                if predicate(message):
                    return message
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer")
            if select.select([self._r], [], [], min(left, 0.5))[0]:
                chunk = os.read(self._r, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium exited")
                self._buf += chunk

    def drain(self, seconds: float) -> None:
        try:
            self.wait(lambda m: False, timeout=seconds)
        except TimeoutError:
            pass

    def close(self) -> None:
        try:
            os.write(self._w, json.dumps({"id": 0, "method": "Browser.close", "params": {}}).encode() + b"\0")
            self.proc.wait(timeout=15)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._w)
            os.close(self._r)


def console_errors(events: list[dict]) -> list[str]:
    out = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = p["exceptionDetails"]
            out.append(
                f"{details.get('text')} {details.get('exception', {}).get('description', '')} {details.get('url', '')}"
            )
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            out.append(json.dumps(p.get("args"))[:300])
        elif method == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            out.append(f"{p['entry'].get('source')}: {p['entry'].get('text')} {p['entry'].get('url', '')}")
    return out


def open_in_chromium(
    path: Path, profile: Path, expression: str = "1", *, screenshot: Path | None = None, width: int = 1200
) -> tuple[object, list[str]]:
    """Load ``path``, evaluate ``expression`` in the page, return (its value, the console and network errors).

    With ``screenshot``, also save the whole page as a person sees it at ``width`` CSS pixels (PNG)."""
    browser = Chromium(profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            browser.send(domain, session=session)
        metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
        browser.send("Emulation.setDeviceMetricsOverride", metrics, session)
        browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session)
        browser.wait(lambda m: m.get("method") == "Page.loadEventFired")
        value = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)[
            "result"
        ].get("value")
        if screenshot is not None:
            shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        browser.drain(0.5)  # late console messages
    finally:
        browser.close()
    return value, console_errors(browser.events)
