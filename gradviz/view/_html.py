"""Standalone HTML export: one file with the front-end bundle and the widget state inlined.

The page builds a small in-page model (get/set/on/off/save_changes) and calls the bundle's
anywidget ``render({model, el})``, so it is the same widget as in the notebook, clickable
without a kernel, from ``file://``, with no network.
"""

from __future__ import annotations

import base64
import html
import json
import os
import pathlib

from gradviz.view._widget import bundle_path

__all__ = ["write_html", "write_page"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ margin: 0; padding: 16px; background: #fff; color: #263238;
         font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }}
  .gradviz-page-error {{ color: #b71c1c; white-space: pre-wrap; }}
</style>
</head>
<body>
<main id="gradviz"></main>
<script type="application/json" id="gradviz-state">{state}</script>
<script type="module">
const bundle = {bundle};
const root = document.getElementById("gradviz");
try {{
  const bytes = (b64) => {{
    const text = atob(b64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return new DataView(out.buffer);
  }};
  // Stand-in for the anywidget model: the values a kernel would sync, and their change events.
  // The state is parsed on first read, once render() has started the layout worker.
  // state = {{values: {{trait: JSON value}}, bytes: {{trait: base64}}}}.
  let state = null;
  const values = {{}};
  const listeners = new Map();
  const model = {{
    get(key) {{
      if (!(key in values)) {{
        state ??= JSON.parse(document.getElementById("gradviz-state").textContent);
        if (key in state.bytes) values[key] = bytes(state.bytes[key]);
        else if (key in state.values) values[key] = state.values[key];
      }}
      return values[key];
    }},
    set(key, value) {{
      values[key] = value;
      for (const fn of listeners.get(`change:${{key}}`) ?? []) fn();
    }},
    on(event, fn) {{
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(fn);
    }},
    off(event, fn) {{
      listeners.get(event)?.delete(fn);
    }},
    save_changes() {{}},
  }};
  root.gradvizModel = model; // what a kernel would drive; tests drive it the same way
  const url = URL.createObjectURL(new Blob([bundle], {{ type: "text/javascript" }}));
  const widget = (await import(url)).default;
  widget.render({{ model, el: root }});
}} catch (err) {{
  const message = document.createElement("pre");
  message.className = "gradviz-page-error";
  message.textContent = `gradviz could not draw this page: ${{err && err.stack || err}}`;
  root.append(message);
}}
</script>
</body>
</html>
"""


def _script_safe_json(value: object) -> str:
    """JSON that can sit inside a <script> element: no "<" survives, so neither "</script"
    nor "<!--" can end or derail the element; "\\u003c" decodes back to "<"."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c")


def write_html(
    path: str | os.PathLike[str],
    graph: dict,
    edge_norms: bytes,
    hists: bytes,
    title: str,
) -> pathlib.Path:
    """Write the widget as one standalone HTML page and return its path.

    >>> write_html("trace.html", graph, edge_norms, hists, "MyNet")  # doctest: +SKIP
    PosixPath('trace.html')
    """
    return write_page(
        path,
        {"graph": graph, "selected": ""},
        {"edge_norms": edge_norms, "hists": hists},
        title,
    )


def write_page(
    path: str | os.PathLike[str],
    values: dict[str, object],
    buffers: dict[str, bytes],
    title: str,
) -> pathlib.Path:
    """Write a standalone page whose in-page model holds ``values`` (JSON traits) and ``buffers``
    (bytes traits, handed to the bundle as DataViews, as anywidget does); return its path."""
    state = {
        "values": values,
        "bytes": {key: base64.b64encode(bytes(value)).decode("ascii") for key, value in buffers.items()},
    }
    page = _PAGE.format(
        title=html.escape(title),
        state=_script_safe_json(state),
        bundle=_script_safe_json(bundle_path().read_text(encoding="utf-8")),
    )
    out = pathlib.Path(path)
    out.write_text(page, encoding="utf-8")
    return out
