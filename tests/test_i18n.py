"""English and Chinese: the same messages, the same placeholders, the same output structure."""

import ast
import re
import string
from pathlib import Path

import pytest

from tcpsim.i18n import CATALOGS, language, t
from tcpsim.model.table import RULES
from tcpsim.scenario import builtin_names

from .conftest import ROOT, run_cli

EN, ZH = CATALOGS["en"], CATALOGS["zh"]


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_message_has_a_chinese_translation_and_nothing_else():
    assert sorted(set(EN) - set(ZH)) == []  # untranslated
    assert sorted(set(ZH) - set(EN)) == []  # translated but never shown


@pytest.mark.parametrize("key", sorted(EN))
def test_a_translation_fills_the_same_placeholders(key):
    assert _fields(ZH[key]) == _fields(EN[key])
    t(key, **{f: "x" for f in _fields(EN[key])})  # and it formats


def test_every_rule_of_the_table_is_explained_in_both_languages():
    for r in RULES:
        assert f"rule.{r.state}.{r.event}" in EN and f"rule.{r.state}.{r.event}" in ZH


def _keys_used_in_the_source() -> tuple[set[str], set[str]]:
    """Literal keys of t("...") / has("...") calls, and prefixes of f-string keys."""
    literal, prefixes = set(), set()
    for path in (ROOT / "tcpsim").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "t" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    literal.add(arg.value)
                elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                    prefixes.add(arg.values[0].value)
    return literal, prefixes


def test_every_message_the_code_asks_for_exists():
    literal, prefixes = _keys_used_in_the_source()
    assert literal, "the scan found no t() calls"
    assert sorted(k for k in literal if k not in EN) == []
    for prefix in prefixes:
        assert any(k.startswith(prefix) for k in EN), prefix


def test_chinese_uses_the_textbook_terms():
    text = " ".join(ZH.values())
    for term in ("三次握手", "四次挥手", "连接释放", "连接建立", "数据传送", "套接字", "确认号", "序号",
                 "半关闭", "TIME_WAIT", "全连接队列"):
        assert term in text, term


def _columns(out: str) -> list[list[str]]:
    """Each line's protocol tokens: times, flags, seq/ack numbers, state names."""
    pat = re.compile(r"\d+\.\d{3}|\[[SFRP.]+\]|\b(?:seq|ack|len) \d+|\b[A-Z][A-Z_0-9]{2,}\b")
    return [pat.findall(line) for line in out.splitlines()]


@pytest.mark.parametrize("name", ["handshake", "half-close", "connect-refused", "delayed-ack",
                                  "time-wait-reuse", "iterative-server", "concurrent-server"])
def test_english_and_chinese_runs_have_the_same_structure(name):
    en = run_cli("run", name, "--explain", "--lang", "en", check=True).stdout
    zh = run_cli("run", name, "--explain", "--lang", "zh", check=True).stdout
    assert len(en.splitlines()) == len(zh.splitlines())
    # an explanation under the same steps, and the same protocol facts on every other line
    # (the header and the last lines, the summary and the hint, are worded differently)
    assert [ln.lstrip().startswith("↳") for ln in en.splitlines()] == \
        [ln.lstrip().startswith("↳") for ln in zh.splitlines()]
    keep = [i for i, ln in enumerate(en.splitlines()) if not ln.lstrip().startswith("↳")]
    e, z = _columns(en), _columns(zh)
    assert [e[i] for i in keep[3:-4]] == [z[i] for i in keep[3:-4]]
    assert "三次握手" in zh or name == "connect-refused"


def test_all_builtins_explain_in_chinese_without_a_missing_message():
    from tcpsim.model import KernelProfile
    from tcpsim.scenario import load
    from tcpsim.sim.world import run_model
    from tcpsim.teach import explain

    for name in builtin_names():
        trace = run_model(load(name), KernelProfile.named("reference"))
        with language("zh"):
            whys = explain(trace)
        assert all(re.search(r"[\u4e00-\u9fff]", w.text) for w in whys.values()), name


def test_an_unknown_language_is_refused_in_one_sentence():
    r = run_cli("run", "handshake", "--lang", "fr")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "fr" in r.stderr


def test_the_language_can_come_from_the_environment():
    import os

    r = run_cli("run", "handshake", env={**os.environ, "TCPSIM_LANG": "zh"}, check=True)
    assert "连接建立阶段" in r.stdout and Path(ROOT).is_dir()
