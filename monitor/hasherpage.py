"""The victim's hashing page: one self-contained HTML file that hashes photos in her browser.

A victim should never have to send her images to anyone, not even to the NGO. The page
is built here from the scripts in ``monitor/web/hasher/`` into one HTML file that needs
nothing else: no server, no network (its Content-Security-Policy forbids every request
but the ``blob:`` URLs of her own files). She opens it, picks photos or folders, and it
computes, on her device, the hash list ``monitor hashes add`` would store for the same
files: the same decoding (``jpeg.js`` decodes JPEG exactly as Pillow's reduced luma
decoding does; the browser decodes PNG, WebP, GIF and BMP) and the same hashing rules
(``hashcore.js``: PDQ, pHash and dHash of the decision rule's reference views). It
saves a hash-list file (``ncii-monitor-hashlist`` version 2) that she sends to the NGO.

Two kinds of page are built:

- the generic page (``monitor web`` serves it at ``/hasher.html``; ``monitor hasher
  page``): its files are unsigned;
- a page for one case (``/cases/N/hasher.html``; ``monitor hasher page --case N``): it
  embeds a random token and the case's key for it (``monitor.exchange``), and signs its
  file with HMAC-SHA256, so an import into case N detects a file changed on its way, or
  made for another case.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.app import App

__all__ = ["ASSETS", "PageOptions", "build_page", "case_page", "generic_page", "page_csp"]

ASSETS = Path(__file__).parent / "web" / "hasher"
#: Scripts run in the page's worker (decoding and hashing), in this order.
WORKER_SCRIPTS = ("jpeg.js", "hashcore.js", "md5.js", "worker.js")
#: Scripts run in the page itself.
PAGE_SCRIPTS = ("i18n.js", "sha256.js", "page.js")


@dataclass(frozen=True)
class PageOptions:
    max_pixels: int
    max_bytes: int
    #: The largest hash-list file an import takes: more photos are saved as several files.
    max_list_bytes: int
    #: (token, key) of a page made for one case; None: the generic, unsigned page.
    signing: tuple[str, bytes] | None = None
    #: What the file's ``origin`` says.
    origin: str = "ncii-monitor hashing page"


def _script(name: str) -> str:
    text = (ASSETS / name).read_text(encoding="utf-8")
    # Inside an HTML <script>, "</script" would end the element, "<!--" start trouble.
    return text.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def _digest(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
    return f"'sha256-{digest}'"


def page_csp(scripts: list[str], style: str) -> str:
    """The page's policy: its own inline scripts and style, workers and images from
    ``blob:`` (her files, the worker made from the page's own text), and no request."""
    return (
        "default-src 'none'; "
        f"script-src {' '.join(_digest(s) for s in scripts)}; "
        f"style-src {_digest(style)}; "
        "img-src blob: data:; worker-src blob:; connect-src 'none'; "
        "form-action 'none'; base-uri 'none'"
    )


def build_page(options: PageOptions) -> tuple[str, str]:
    """The page's HTML, and its Content-Security-Policy (also in the page as a meta tag;
    a server sends it as a header too, which ``frame-ancestors`` needs)."""
    template = (ASSETS / "page.html").read_text(encoding="utf-8")
    style = (ASSETS / "hasher.css").read_text(encoding="utf-8")
    page_scripts = [_script(name) for name in PAGE_SCRIPTS]
    worker = "\n;\n".join(_script(name) for name in WORKER_SCRIPTS)
    config: dict[str, Any] = {
        "maxPixels": options.max_pixels,
        "maxBytes": options.max_bytes,
        "maxListBytes": options.max_list_bytes,
        "origin": options.origin,
        "signing": None,
    }
    if options.signing is not None:
        token, key = options.signing
        config["signing"] = {"keyId": token, "key": key.hex()}
    # A data block, not a script: "<" escaped so that no text in it can close the element.
    config_json = json.dumps(config, sort_keys=True).replace("<", "\\u003c")
    csp = page_csp(page_scripts, style)
    scripts = "\n".join(f"<script>{s}</script>" for s in page_scripts)
    body = (
        template.replace("{{CSP}}", html.escape(csp, quote=True))
        .replace("{{STYLE}}", style)
        .replace("{{CONFIG}}", config_json)
        .replace("{{WORKER}}", worker)
        .replace("{{SCRIPTS}}", scripts)
    )
    return body, csp + "; frame-ancestors 'none'"


def generic_page(app: App) -> tuple[str, str]:
    return build_page(_options(app))


def case_page(app: App, case_id: int) -> tuple[str, str]:
    """A page for one case: it signs its files with a key only this case's import knows."""
    from monitor import exchange

    token, key = exchange.new_case_page_token(app, case_id)
    return build_page(_options(app, (token, key)))


def _options(app: App, signing: tuple[str, bytes] | None = None) -> PageOptions:
    from monitor.hashes import MAX_LIST_BYTES

    return PageOptions(
        max_list_bytes=MAX_LIST_BYTES,
        max_pixels=app.config.max_image_pixels,
        max_bytes=app.config.max_image_bytes,
        signing=signing,
    )
