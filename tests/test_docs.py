"""The docs' module map lists every module of the package."""

from tests.conftest import ROOT


def test_architecture_lists_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = []
    for folder in ("lcad", "models", "training", "service"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if path.name == "__init__.py" and folder != "lcad":
                continue
            if f"`{rel}`" not in text:
                missing.append(rel)
    assert not missing, f"docs/architecture.md does not list {missing}"
