"""A throwaway JupyterLab (or Notebook 7) server on localhost for the browser tests: temporary config,
runtime, settings and workspace directories, no token, the news pop-up turned off, and optional settings
overrides (e.g. the theme)."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 90.0

# The news and update checks open a pop-up over the bottom right of the page. A notebook opened while
# the server is slow to list kernels asks which kernel to start (a modal dialog over the menus): start
# the notebook's own kernel without asking.
_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: JupyterLab's dark theme, as settings overrides for ``jupyterlab(..., overrides=DARK)``.
DARK = {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}


@contextlib.contextmanager
def jupyterlab(
    root_dir: pathlib.Path, scratch: pathlib.Path, overrides: dict | None = None, app: str = "jupyterlab"
):
    """Run ``jupyter lab`` (or ``app="notebook"``: Notebook 7) serving ``root_dir``; yields its base URL.
    ``overrides`` are settings merged over the defaults. Logs go to scratch/server.log."""
    dirs = {name: scratch / name for name in ("config", "runtime", "settings", "workspaces", "app-settings")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    (dirs["app-settings"] / "overrides.json").write_text(json.dumps({**_OVERRIDES, **(overrides or {})}))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "JUPYTER_PLATFORM_DIRS": "1",
        # the kernel imports gradviz from this checkout, installed or not
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = "LabApp" if app == "jupyterlab" else "JupyterNotebookApp"
    command = [
        sys.executable,
        "-m",
        app,
        "--allow-root",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={root_dir}",
        f"--{settings}.app_settings_dir={dirs['app-settings']}",
    ]
    with (scratch / "server.log").open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(url, server)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited with code {server.returncode}; see server.log")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError),
            urllib.request.urlopen(f"{url}/api/status", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"the Jupyter server did not answer {url}/api/status within {STARTUP_TIMEOUT:.0f} s")


def start_session(url: str, path: str) -> dict:
    """Create the notebook's kernel session before the page opens, so "Run All" has a kernel."""
    body = json.dumps({"path": path, "name": path, "type": "notebook", "kernel": {"name": "python3"}})
    request = urllib.request.Request(
        f"{url}/api/sessions", data=body.encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
