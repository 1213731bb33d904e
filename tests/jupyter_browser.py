"""A JupyterLab server on loopback and a headless Chromium that can reach nothing but loopback.

Shared by tests/test_browser.py and scripts/screenshots.sh (which runs those tests with
BROWSER_SCREENSHOTS set). The browser is Debian's chromium driven by Playwright; Playwright's own
browser downloads are never used. Every request that leaves loopback is aborted and recorded in
OfflineBrowser.blocked, so a test can assert that a page tried nothing outside (MathJax from a CDN,
fonts, analytics); chromium's host resolver and a dead proxy stop what routing does not see.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
LOCAL_SCHEMES = {"file", "data", "blob", "about", "chrome-error"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """`jupyter lab` serving ROOT on 127.0.0.1, a free port and a random token, with its own
    config, data and runtime folders (nothing read from or written to the user's ~/.jupyter)."""

    def __init__(self, root: Path, home: Path, log: Path):
        self.root, self.home, self.log_path = root, home, log
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    # Lab settings for a test: every cell in the DOM (no windowing), no news or update prompts.
    SETTINGS = {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }

    def start(self, timeout: float = 90) -> "JupyterLab":
        settings = self.home / "lab-settings"
        for name, values in self.SETTINGS.items():
            path = settings / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ)
        env.update(HOME=str(self.home), JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   JUPYTER_DATA_DIR=str(self.home / "data"), JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
                   PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
        env.pop("NBGRADER_EXECUTION", None)
        args = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                # no calls home from the server either
                "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly"]
        if os.geteuid() == 0:
            args.append("--allow-root")     # CI runs as root in a container
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()       # jupyter_server shuts its kernels down on SIGTERM
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()


class OfflineBrowser:
    """Headless chromium whose pages reach loopback and local files only."""

    def __init__(self):
        if not os.access(CHROMIUM, os.X_OK):
            raise RuntimeError(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium (as root)")
        self.blocked: list[str] = []
        self._pw = sync_playwright().start()
        # We run as root in CI containers; Playwright passes --no-sandbox to chromium by default
        # (chromium_sandbox=False), which chromium needs as root.
        # Fences behind the routing below: no name resolves but loopback's, and whatever is not
        # loopback (an IP address, a WebSocket) goes to a proxy port where nothing listens.
        self.browser = self._pw.chromium.launch(
            executable_path=CHROMIUM,
            proxy={"server": f"http://127.0.0.1:{free_port()}", "bypass": "127.0.0.1,localhost"},
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        self.context = self.browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        self.context.route("**/*", self._only_local)

    def _only_local(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES or parts.hostname in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def new_page(self):
        return self.context.new_page()

    def log_in(self, lab: JupyterLab) -> None:
        """Log in with the token on the server's login page, as a user would: the cookie it sets
        authenticates the pages' own API calls (a token in the URL authenticates one request)."""
        page = self.new_page()
        page.goto(f"{lab.base}/login")
        page.fill("input[type=password]", lab.token)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/login" not in url)
        page.close()

    def close(self) -> None:
        self.context.close()
        self.browser.close()
        self._pw.stop()
