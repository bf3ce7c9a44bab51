"""What the package index shows and what pytest loads (issue 18): the metadata links home,
the README's images and links resolve away from the repository, the sdist carries what
it takes to test and try the package, and the pytest plugin, loaded in every test run of
every project that installs the package, stays light until a test asks for the
simulator."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_plugin_imports_neither_the_simulator_nor_its_dependencies():
    code = textwrap.dedent(
        """
        import sys
        import django_wechatpay.testing
        loaded = sorted(m for m in sys.modules
                        if m.startswith(("django_wechatpay.", "cryptography", "requests",
                                         "django.")))
        print(loaded)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "['django_wechatpay.testing']"


def test_the_metadata_links_to_the_source_docs_and_changelog():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    urls = dict(
        line.split(" = ", 1) for line in config["metadata"]["project_urls"].strip().splitlines()
    )
    assert set(urls) >= {"Source", "Documentation", "Changelog", "Issues"}
    assert all(url.startswith("https://github.com/") for url in urls.values())
    # No deprecated license classifier (setuptools warns on every build).
    assert "License ::" not in config["metadata"]["classifiers"]


def test_the_readme_renders_on_the_package_index():
    readme = (ROOT / "README.md").read_text("utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    # The index shows the README alone: a relative path resolves against pypi.org.
    relative = [t for t in targets if not t.startswith(("https://", "#"))]
    assert relative == []
    for image in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme):
        prefix = "https://raw.githubusercontent.com/django-wechatpay/django-wechatpay/main/"
        assert image.startswith(prefix), image
        assert (ROOT / image.removeprefix(prefix)).is_file(), image


def test_the_manifest_ships_templates_catalogues_docs_and_tests():
    manifest = (ROOT / "MANIFEST.in").read_text("utf-8")
    for line in (
        "include django_wechatpay/py.typed",
        "recursive-include django_wechatpay/templates *.html",
        "recursive-include django_wechatpay/locale *.po *.mo",
        "recursive-include docs *.md *.png",
        "recursive-include tests *.py",
        "prune example_project/var",
    ):
        assert line in manifest, line
    # Every kind of file the tests read is named.
    kinds = {p.suffix for p in (ROOT / "tests").rglob("*") if p.is_file() and p.suffix}
    kinds -= {".pyc"}
    listed = re.search(r"recursive-include tests (.+)", manifest).group(1).split()
    assert {f"*{kind}" for kind in kinds} <= set(listed)
