"""What of an endpoint URL may leave the process: ``scheme://host:port``, nothing more.

Providers put credentials in a URL: Alchemy and Infura in the path
(``https://eth-mainnet.g.alchemy.com/v2/KEY``), others in the query (``?apikey=KEY``) or
the userinfo (``https://user:pass@host``). Every output (summary.json, run.log, the
console, the CSVs' error columns, ``/health``, ``/kpis``, ``lcore_node serve``'s log) shows
a URL as :func:`redact_url` does: ``scheme://host:port`` kept, userinfo dropped, and a path,
query or fragment replaced by :data:`MARKER` (``http://h:8545/v2/KEY?k=1`` ->
``http://h:8545/<redacted>``; ``http://127.0.0.1:8545`` and a bare ``/`` stay as they are).

:class:`Redactor` applies that to free text (error messages, log records): every URL found
in it is redacted, and so is every credential-like part of the URLs it was given (a path
segment, query value, user or password of 8 characters or more, raw or percent-decoded),
for texts that quote a part of a URL without its scheme.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["MARKER", "RedactFilter", "Redactor", "redact_text", "redact_url"]

MARKER = "/<redacted>"
SECRET = "<redacted>"
#: parts of a given URL shorter than this are not searched for alone in text ("/v2", "rpc")
MIN_SECRET = 8
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_TRAILING = ".,;:!?)]}"


def _host_port(scheme: str, netloc: str) -> str | None:
    """``host[:port]`` of a netloc without its userinfo; None when there is no host."""
    host_port = netloc.rpartition("@")[2]
    try:
        parsed = urlsplit(f"{scheme}://{host_port}")
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return None
    if not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


def redact_url(url: str) -> str:
    """``scheme://host:port`` of ``url`` plus :data:`MARKER` when anything else was there."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return SECRET
    host_port = _host_port(parts.scheme, parts.netloc) if parts.scheme else None
    if host_port is None:
        return SECRET
    base = f"{parts.scheme}://{host_port}"
    extra = "@" in parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment
    return base + MARKER if extra else base + parts.path


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that are never shown: its tail after host:port and its
    credential-like pieces (at least :data:`MIN_SECRET` characters), longest first."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return [url] if len(url) >= MIN_SECRET else []
    tail = url.strip().split(parts.netloc, 1)[-1] if parts.netloc else url.strip()
    pieces = {tail} if tail not in ("", "/") else set()
    userinfo = parts.netloc.rpartition("@")[0]
    pieces.update(userinfo.split(":") if userinfo else [])
    pieces.update(parts.path.split("/"))
    pieces.update(value for _, value in parse_qsl(parts.query, keep_blank_values=True))
    pieces.update([*parts.query.split("&"), parts.fragment])
    found = {p for p in pieces if len(p) >= MIN_SECRET} | {unquote(p) for p in pieces
                                                            if len(unquote(p)) >= MIN_SECRET}
    return sorted(found, key=len, reverse=True)


def _redact_match(match: re.Match[str]) -> str:
    text = match.group(0)
    stripped = text.rstrip(_TRAILING)
    return redact_url(stripped) + text[len(stripped):]


class Redactor:
    """Redacts URLs in text: any URL found, and the secret parts of the URLs given."""

    def __init__(self, urls: Iterable[str | None] = ()) -> None:
        self._secrets: list[str] = []
        for url in urls:
            self.add(url)

    def add(self, url: str | None) -> None:
        if url:
            merged = set(self._secrets) | set(url_secrets(url))
            self._secrets = sorted(merged, key=len, reverse=True)

    def text(self, text: str) -> str:
        if not text:
            return text
        if "://" in text:
            text = _URL.sub(_redact_match, text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, SECRET)
        return text

    def value(self, value: Any) -> Any:
        """A JSON-able value with every string in it redacted (dict keys too)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value


def redact_text(text: str, urls: Iterable[str | None] = ()) -> str:
    """``text`` with every URL in it, and the secret parts of ``urls``, redacted."""
    return Redactor(urls).text(text)


class RedactFilter(logging.Filter):
    """A handler filter: the record's message (arguments merged in), its traceback and stack
    text pass through a :class:`Redactor`. Installed on every handler of the command line
    (a logger's own filter would not see the records of its children)."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor.text
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it itself
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
