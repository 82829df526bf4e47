"""What a plain `pip install .` ships: every data file the package reads at run time."""

import fnmatch
import tomllib

from .conftest import ROOT


def test_every_data_file_in_the_package_is_declared_as_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = data["tool"]["setuptools"]["package-data"]
    missing = []
    for path in (ROOT / "tcpsim").rglob("*"):
        if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(ROOT)
        package = ".".join(rel.parts[:-1])
        covered = False
        for pkg, patterns in declared.items():
            prefix = pkg.split(".")
            if list(rel.parts[: len(prefix)]) == prefix:
                inner = "/".join(rel.parts[len(prefix):])
                covered |= any(fnmatch.fnmatch(inner, pat) for pat in patterns)
        if not covered:
            missing.append(f"{rel} (package {package})")
    assert not missing
