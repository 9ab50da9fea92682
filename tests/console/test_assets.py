"""The console's files, checked without a browser: every message in both languages, nothing that the
Content-Security-Policy would block or that would inject markup, nothing fetched from another origin, and
every module import resolving to a file that exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

CONSOLE = Path(__file__).resolve().parents[2] / "console"
SCRIPTS = sorted(CONSOLE.rglob("*.js"))
LANGUAGES = ("en", "ar")
# `t("key")` and `t(`prefix.${name}`)` (a template: its fixed prefix must name at least one key).
T_CALL = re.compile(r"""\bt\(\s*(?:"([^"]+)"|'([^']+)'|`([^`$]+)(\$\{)?[^`]*`)""")
IMPORT = re.compile(r"""(?:import\s[^;]*?from\s*|import\s*\(\s*|^import\s+)["'](\.{1,2}/[^"']+)["']""", re.M)


def messages(code: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CONSOLE / "i18n" / f"{code}.json").read_text(encoding="utf-8"))
    return data


def test_the_console_has_its_entry_and_scripts() -> None:
    assert (CONSOLE / "index.html").is_file()
    assert SCRIPTS, "no scripts"


def test_both_languages_have_the_same_keys_and_no_empty_message() -> None:
    en, ar = messages("en"), messages("ar")
    assert set(en) == set(ar), {"only en": sorted(set(en) - set(ar)), "only ar": sorted(set(ar) - set(en))}
    for code, table in (("en", en), ("ar", ar)):
        assert all(isinstance(v, str) and v.strip() for v in table.values()), code


def test_arabic_messages_are_arabic() -> None:
    """Not English copied across: most Arabic messages carry Arabic letters."""
    ar = messages("ar")
    arabic = [v for v in ar.values() if re.search(r"[\u0600-\u06ff]", v)]
    assert len(arabic) >= 0.9 * len(ar)


def test_every_message_the_scripts_ask_for_exists() -> None:
    en = messages("en")
    missing = []
    for script in SCRIPTS:
        for match in T_CALL.finditer(script.read_text(encoding="utf-8")):
            exact = match.group(1) or match.group(2)
            if exact is not None:
                if exact not in en:
                    missing.append(f"{script.name}: {exact}")
            elif match.group(4):  # a template: its prefix must start some key
                prefix = match.group(3)
                if not any(key.startswith(prefix) for key in en):
                    missing.append(f"{script.name}: {prefix}…")
            elif match.group(3) not in en:
                missing.append(f"{script.name}: {match.group(3)}")
    assert not missing, missing


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(CONSOLE)))
def test_scripts_never_inject_markup_or_evaluate_text(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert banned not in text, banned
    # Inline styles are refused by the CSP (style-src 'self'): classes only.
    assert not re.search(r"""["']style["']\s*:|setAttribute\(\s*["']style["']""", text)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(CONSOLE)))
def test_scripts_never_keep_tokens_in_storage(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for store in re.findall(r"(?:local|session)Storage\.setItem\(([^)]*)\)", text):
        assert "token" not in store.lower(), store


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(CONSOLE)))
def test_imports_resolve_to_files(path: Path) -> None:
    for spec in IMPORT.findall(path.read_text(encoding="utf-8")):
        assert (path.parent / spec).resolve().is_file(), f"{path.name} imports {spec}"


def test_nothing_is_fetched_from_another_origin() -> None:
    """No CDN, no font service: every asset is served by the gateway."""
    for path in [*SCRIPTS, *CONSOLE.rglob("*.html"), *CONSOLE.rglob("*.css")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(?:src|href|url\()\s*=?\s*["']?(https?:)?//""", text), path.name
        assert "<script>" not in text and "<style" not in text, f"{path.name} has an inline block"
        if path.suffix == ".html":
            assert not re.search(r"\son[a-z]+=", text), f"{path.name} has an inline handler"


def test_index_links_only_existing_files() -> None:
    index = (CONSOLE / "index.html").read_text(encoding="utf-8")
    for ref in re.findall(r"""(?:src|href)="/console/([^"]+)\"""", index):
        assert (CONSOLE / ref).is_file(), ref


def test_styles_use_logical_sides_for_right_to_left() -> None:
    """Arabic lays out from the same rules: no physical left/right in margins, paddings, borders or floats."""
    css = "\n".join(p.read_text(encoding="utf-8") for p in CONSOLE.rglob("*.css"))
    physical = re.findall(
        r"(?:margin|padding|border)-(?:left|right)\b|(?:float|text-align):\s*(?:left|right)", css
    )
    assert not physical, physical
