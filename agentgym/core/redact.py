"""Credentials out of everything agentgym writes: URLs, recorded commands, provenance, caches.

:func:`redact` masks, in any text,

- the password of a URL's user info (``https://user:KEY@host`` -> ``https://user:***@host``; user info
  without a password is masked whole: ``https://TOKEN@host`` -> ``https://***@host``);
- secret-looking query parameters (``?api_key=``, ``key=``, ``token=``, ``access_token=``, ``sig=``,
  ``password=``, ... -> ``api_key=***``);
- the value of secret-looking command-line options (``--api-key X``, ``--token=X``, ``--password X``;
  not ``--api-key-env NAME``, which names a variable) and of ``Authorization: Bearer X``;
- the value of secret-looking keys in JSON or YAML text (``"api_key": "X"``; not a bare ``"key"`` or
  ``"token"``, which records use for other things);
- well-known token shapes (``sk-...``, ``hf_...``, ``ghp_...``, ``xoxb-...``, ``AKIA...``);
- every value registered with :func:`register_secret` (backends register the keys they send).

:func:`redact_argv` does the same for an argument vector (``["--api-key", "X"]``), :func:`redact_data`
for JSON-like data (strings anywhere, and the values of secret-looking keys), and
:func:`contains_secret` says whether a text holds a registered secret (the response cache refuses
to store such answers), :func:`url_secrets` lists the credentials written into a URL.

Example:
    >>> redact("agentgym run s.yaml --base-url https://me:sk-live-123456@api.example.com/v1?key=abc&x=1")
    'agentgym run s.yaml --base-url https://me:***@api.example.com/v1?key=***&x=1'
    >>> redact_argv(["agentgym", "run", "--api-key", "abc123", "--api-key-env", "MY_KEY"])
    ['agentgym', 'run', '--api-key', '***', '--api-key-env', 'MY_KEY']
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 6
"""Registered secrets shorter than this are ignored (masking them would mangle ordinary text)."""

_SECRET_WORDS = (r"(?:api[-_]?key|apikey|key|token|secret|password|passwd|pwd|passphrase|auth|sig|signature"
                 r"|credentials?)")
_SECRET_NAME = re.compile(rf"^(?:[\w.-]*[-_])?{_SECRET_WORDS}$|^(?:access|refresh|id|auth|bearer)[-_]?token$",
                          re.IGNORECASE)
"""A parameter, option or key name that holds a secret: ``key``, ``api_key``, ``x-api-key``, ``token``,
``access_token``, ``client_secret``, ``password``, ``sig``..."""
_NOT_SECRET_SUFFIX = re.compile(r"[-_](?:env|var|variable|file|path|name|id|ids|type|kind|len|length)$", re.IGNORECASE)
"""``api_key_env`` names a variable, ``key_file`` a path: their values are not secrets."""

_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s/@:?#'\"]*)(?::(?P<password>[^\s/@?#'\"]*))?@")
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[\w.\-]+)=(?P<value>[^&#\s'\"]*)")
_OPTION = re.compile(r"(?P<flag>(?<![\w-])--?[\w-]+)(?P<sep>=|\s+)(?P<value>'[^']*'|\"[^\"]*\"|[^\s'\"]+)")
_BEARER = re.compile(r"(?P<lead>\b(?:Bearer|Basic|Token)\s+)(?P<value>[A-Za-z0-9._~+/=-]{6,})")
_KEY_VALUE = re.compile(r"(?P<lead>[\"']?(?P<name>[\w.-]+)[\"']?\s*[:=]\s*)(?P<value>\"[^\"]*\"|'[^']*')")
_TOKEN_SHAPES = re.compile(
    r"\b(?:sk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{16,}|sk-ant-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,})")

_lock = threading.Lock()
_secrets: set[str] = set()


def is_secret_name(name: str) -> bool:
    """Whether an option, query parameter or mapping key named ``name`` holds a secret."""
    name = name.strip().lstrip("-")
    return bool(_SECRET_NAME.match(name)) and not _NOT_SECRET_SUFFIX.search(name)


_GENERIC_KEYS = frozenset({"key", "keys", "token", "tokens", "sig", "signature", "auth"})
"""Mapping keys too generic to mask in data (an episode's ``key``, a log-probability's ``token``); in
URLs (``?key=``) and on command lines (``--token X``) they are still treated as secrets."""


def is_secret_key(name: str) -> bool:
    """Whether a mapping key (JSON, YAML, a dict) named ``name`` holds a secret: stricter than
    :func:`is_secret_name` (``api_key``, ``access_token``, ``password``; not a bare ``key`` or ``token``)."""
    return is_secret_name(name) and name.strip().lower() not in _GENERIC_KEYS


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever :func:`redact` sees it from now on (in this process and its forks)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def known_secrets() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def url_secrets(url: str) -> list[str]:
    """The credentials written into ``url``: its user info's password (or password-less user info)
    and the values of secret-looking query parameters."""
    found = []
    match = _URL_USERINFO.search(url or "")
    if match is not None:
        found.append(match["password"] if match["password"] is not None else match["user"])
    found += [m["value"] for m in _QUERY_PARAM.finditer(url or "") if is_secret_name(m["name"])]
    return [value for value in found if value]


def contains_secret(text: str, secrets: Iterable[str] = ()) -> bool:
    """Whether ``text`` holds a registered secret or one of ``secrets``."""
    return any(secret and secret in text for secret in (*known_secrets(), *secrets))


def _mask_quoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[0] + MASK + value[0]
    return MASK


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials masked as ``***`` (see the module doc). Non-strings are returned as is."""
    if not isinstance(text, str) or not text:
        return text
    for secret in sorted({*known_secrets(), *(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)},
                         key=len, reverse=True):
        text = text.replace(secret, MASK)

    def userinfo(match: re.Match[str]) -> str:
        if match["password"] is not None:
            return f"{match['scheme']}{match['user']}:{MASK}@"
        return f"{match['scheme']}{MASK}@" if match["user"] else match[0]

    def query(match: re.Match[str]) -> str:
        if is_secret_name(match["name"]) and match["value"]:
            return f"{match['lead']}{match['name']}={MASK}"
        return match[0]

    def option(match: re.Match[str]) -> str:
        if is_secret_name(match["flag"]) and match["value"] != MASK and not match["value"].startswith("-"):
            return f"{match['flag']}{match['sep']}{_mask_quoted(match['value'])}"
        return match[0]

    def key_value(match: re.Match[str]) -> str:
        if is_secret_key(match["name"]):
            return f"{match['lead']}{_mask_quoted(match['value'])}"
        return match[0]

    text = _URL_USERINFO.sub(userinfo, text)
    text = _QUERY_PARAM.sub(query, text)
    text = _OPTION.sub(option, text)
    text = _KEY_VALUE.sub(key_value, text)
    text = _BEARER.sub(lambda m: m["lead"] + MASK, text)
    return _TOKEN_SHAPES.sub(MASK, text)


def redact_argv(argv: Sequence[str], secrets: Iterable[str] = ()) -> list[str]:
    """A command's arguments with credentials masked: each argument through :func:`redact`, and the
    argument after a secret-looking option (``--api-key X``) masked whole."""
    secrets = tuple(secrets)
    out: list[str] = []
    mask_next = False
    for argument in argv:
        argument = str(argument)
        if mask_next and not argument.startswith("-"):
            out.append(MASK)
        else:
            out.append(redact(argument, secrets))
        mask_next = argument.startswith("-") and "=" not in argument and is_secret_name(argument)
    return out


def redact_data(data: Any, secrets: Iterable[str] = ()) -> Any:
    """JSON-like ``data`` with every string through :func:`redact` and the values of secret-looking keys
    (``api_key``, ``token``, ``password``; not ``api_key_env``) masked; argument lists under a
    ``command``/``argv`` key through :func:`redact_argv`."""
    secrets = tuple(secrets)
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            if isinstance(key, str) and is_secret_key(key) and isinstance(value, (str, int)) and value != "":
                out[key] = MASK
            elif key in ("command", "argv") and isinstance(value, (list, tuple)) \
                    and all(isinstance(v, str) for v in value):
                out[key] = redact_argv(value, secrets)
            else:
                out[key] = redact_data(value, secrets)
        return out
    if isinstance(data, (list, tuple)):
        return type(data)(redact_data(value, secrets) for value in data)
    return data
