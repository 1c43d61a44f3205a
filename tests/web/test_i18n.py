"""The message catalogue: every domain error code has words, every template key exists."""

import importlib
import pkgutil
import re
from importlib.resources import files

import p2plend
from p2plend.errors import DomainError
from p2plend.web.i18n import MESSAGES, error_message, normalise_locale, translate

# Literal keys only: t('errorpage.' ~ kind ~ '.title') builds its key and is checked by rendering.
_TEMPLATE_KEY = re.compile(r"""\bt\(\s*'([a-z0-9_.]+[a-z0-9_])'\s*[,)]""")


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def _import_every_module() -> None:
    for module in pkgutil.walk_packages(p2plend.__path__, "p2plend."):
        if ".migrations" in module.name or module.name.endswith(".cli"):
            continue
        importlib.import_module(module.name)


def test_every_domain_error_code_is_translated() -> None:
    _import_every_module()
    codes = {cls.code for cls in _all_subclasses(DomainError)} | {DomainError.code}
    codes.discard("domain_error")
    missing = sorted(code for code in codes if f"error.{code}" not in MESSAGES)
    assert not missing, f"add zh/en messages for: {missing}"


def test_every_message_has_both_languages() -> None:
    for key, (zh, en) in MESSAGES.items():
        assert zh.strip() and en.strip(), key
        assert sorted(re.findall(r"{(\w+)}", zh)) == sorted(re.findall(r"{(\w+)}", en)), key


def test_every_key_used_by_a_template_exists() -> None:
    templates = files("p2plend.web") / "templates"
    used: set[str] = set()
    for entry in templates.iterdir():
        paths = entry.iterdir() if entry.is_dir() else [entry]
        for path in paths:
            if path.name.endswith(".html"):
                used |= set(_TEMPLATE_KEY.findall(path.read_text(encoding="utf-8")))
    assert used, "no keys found: the pattern is wrong"
    assert sorted(used - MESSAGES.keys()) == []


def test_unknown_code_falls_back_to_a_generic_sentence() -> None:
    assert error_message("zh", "brand_new_code") == "操作未能完成（brand_new_code）。"
    assert error_message("en", "insufficient_funds") == "Your available balance is not enough."


def test_locales() -> None:
    assert normalise_locale("zh-CN") == "zh" and normalise_locale("en_GB") == "en"
    assert normalise_locale("fr") is None and normalise_locale(None) is None
    assert translate("en", "account.unread", n=3) == "3 unread messages"
