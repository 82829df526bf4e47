"""Every sentence tcpsim shows a person, in English and in Chinese.

Text is looked up by a message id in a catalog per language (en.py, zh.py: plain dicts of
str.format templates), so that a translation is one more dict, and a test can hold the
catalogs to the same keys and the same placeholders (tests/test_i18n.py).  Protocol tokens
stay as the kernel and tcpdump write them in every language: state names (TIME_WAIT), flags
([S.]), seq/ack/win/len, errno names, function names.

The language is chosen once per command (`--lang`), held in a context variable.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from . import en, zh

CATALOGS: dict[str, dict[str, str]] = {"en": en.MESSAGES, "zh": zh.MESSAGES}
LANGS = tuple(CATALOGS)
_lang: ContextVar[str] = ContextVar("tcpsim_lang", default="en")


def set_lang(lang: str) -> None:
    if lang not in CATALOGS:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    _lang.set(lang)


def lang() -> str:
    return _lang.get()


@contextmanager
def language(code: str):
    token = _lang.set(code)
    try:
        yield
    finally:
        _lang.reset(token)


def t(key: str, /, **kw) -> str:
    """The message `key` in the current language, with its placeholders filled."""
    return CATALOGS[_lang.get()][key].format(**kw)


def has(key: str) -> bool:
    return key in CATALOGS["en"]
