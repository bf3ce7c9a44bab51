"""What installing the package pulls in (issue 15): no floor with a known advisory, no
broker forced on Celery users, no schema generator forced on API users."""

from __future__ import annotations

import configparser
import subprocess
import sys
import textwrap
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"


def requirements(section: str, key: str) -> dict[str, Requirement]:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG, encoding="utf-8")
    lines = [line.strip() for line in config[section][key].splitlines() if line.strip()]
    return {Requirement(line).name.lower(): Requirement(line) for line in lines}


def floor(requirement: Requirement) -> Version:
    [minimum] = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    return minimum


def test_floors_are_past_known_advisories():
    base = requirements("options", "install_requires")
    drf = requirements("options.extras_require", "drf")
    assert floor(base["requests"]) >= Version("2.32.4")  # CVE-2024-47081
    assert floor(base["cryptography"]) >= Version("44.0.1")  # CVE-2024-12797
    assert floor(drf["djangorestframework"]) >= Version("3.15.2")  # CVE-2024-21520


def test_django_4_2_is_allowed_only_while_tox_tests_it():
    tox = (SETUP_CFG.parent / "tox.ini").read_text()
    allows_42 = Version("4.2") in requirements("options", "install_requires")["django"].specifier
    assert allows_42 == ("django42" in tox)


def test_the_celery_extra_forces_no_broker_and_the_drf_extra_no_schema_generator():
    assert "redis" not in requirements("options.extras_require", "celery")
    assert "drf-spectacular" not in requirements("options.extras_require", "drf")
    assert "drf-spectacular" in requirements("options.extras_require", "openapi")


def test_the_api_works_without_drf_spectacular():
    """Imported in a process where drf_spectacular cannot be imported."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["drf_spectacular"] = None  # as if not installed
        import django
        from django.conf import settings
        settings.configure(
            INSTALLED_APPS=[
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "rest_framework",
                "django_wechatpay",
            ],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            SECRET_KEY="x",
            USE_TZ=True,
        )
        django.setup()
        from django_wechatpay.api import urls, views
        assert urls.urlpatterns and views.OrderCreateView.post
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=SETUP_CFG.parent,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
