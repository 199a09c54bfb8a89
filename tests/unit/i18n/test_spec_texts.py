"""A bundle's own texts may come in both languages: `{en: ..., zh: ...}` (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from installer.errors import SpecError
from installer.i18n import english, set_language
from installer.spec.load import load_module_file, parse_module

ROOT = Path(__file__).resolve().parents[3]
SPECS = sorted((ROOT / "modules").glob("*.yaml")) + sorted(
    (ROOT / "demo" / "products" / "ops" / "modules").glob("*.yaml")
)


@pytest.fixture(autouse=True)
def _english_after():
    yield
    set_language("en")


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_the_demo_specs_carry_both_languages(path: Path) -> None:
    set_language("zh")
    spec = load_module_file(str(path))
    assert any("\u4e00" <= ch <= "\u9fff" for ch in spec.description), spec.description
    assert english(spec.description).isascii()
    for var in spec.variables:
        for text in (var.prompt, var.description):
            if text:
                assert not text.isascii(), (var.name, text)
    set_language("en")
    assert load_module_file(str(path)).description.isascii()


def _doc(path: Path, **change: object) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc.update(change)
    return doc


def test_a_text_without_english_is_refused_with_its_path() -> None:
    path = ROOT / "modules" / "mysql.yaml"
    with pytest.raises(SpecError) as exc:
        parse_module(_doc(path, description={"zh": "只有中文"}), "mysql.yaml")
    assert "description" in str(exc.value) and "en required" in str(exc.value)
    with pytest.raises(SpecError):
        parse_module(_doc(path, description={"en": "x", "fr": "y"}), "mysql.yaml")
    plain = parse_module(_doc(path, description="plain English"), "mysql.yaml")
    assert plain.description == "plain English"
