"""Which installed distributions a case's imports come from
(:mod:`.distributions`): the index read from the metadata files matches
importlib.metadata's, and it is read again only when what is installed changes."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

import pytest
from _server import write

from pytest_experiments import distributions


def test_versions_of_maps_loaded_modules_to_their_distributions() -> None:
    index = distributions.DistIndex(
        tops={"sklearn": ("scikit-learn",), "yaml": ("PyYAML", "types-PyYAML"), "json": ()},
        versions={"scikit-learn": "1.5.0", "PyYAML": "6.0"},
    )
    assert index.versions_of(["yaml", "json", "sklearn", "mine"]) == {
        "PyYAML": "6.0",
        "scikit-learn": "1.5.0",
        "types-PyYAML": None,
    }
    assert list(index.versions_of(["sklearn", "yaml"])) == [
        "PyYAML",
        "scikit-learn",
        "types-PyYAML",
    ]


def test_dist_index_is_read_again_only_when_installed_distributions_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    write(site, "fake_5a1e/__init__.py", "\n")
    meta = write(site, "fake_5a1e-1.0.dist-info/METADATA", "Name: fake-5a1e\nVersion: 1.0\n")
    write(site, "fake_5a1e-1.0.dist-info/top_level.txt", "fake_5a1e\n")
    monkeypatch.syspath_prepend(str(site))

    class Store(dict[str, Any]):
        def set(self, key: str, value: object) -> None:
            self[key] = json.loads(json.dumps(value))

    store = Store()
    index = distributions.dist_index(store)
    assert index.tops["fake_5a1e"] == ("fake-5a1e",) and index.versions["fake-5a1e"] == "1.0"
    stored = store["pytest_experiments/dist_index"]
    stored["versions"]["fake-5a1e"] = "from the store"
    assert distributions.dist_index(store).versions["fake-5a1e"] == "from the store"
    meta.write_text("Name: fake-5a1e\nVersion: 2.0.1\n")  # pip would rename the folder too
    assert distributions.dist_index(store).versions["fake-5a1e"] == "2.0.1"


def test_dist_fingerprint_follows_distributions_not_other_folders(tmp_path: Path) -> None:
    site, project = tmp_path / "site", tmp_path / "project"
    meta = write(site, "fake_5a1e-1.0.dist-info/METADATA", "Name: fake-5a1e\nVersion: 1.0\n")
    write(project, "exp_a.py", "")
    base = distributions.dist_fingerprint([str(site)])
    # A folder without distributions (the project, its tests), or none at all.
    assert distributions.dist_fingerprint([str(project), str(site), str(tmp_path / "gone")]) == base
    # A distribution installed in it, changed, or a zip file on the path.
    write(project, "other-2.0.dist-info/METADATA", "Name: other\nVersion: 2.0\n")
    with_other = distributions.dist_fingerprint([str(project), str(site)])
    assert with_other != base
    meta.write_text("Name: fake-5a1e\nVersion: 1.0.1\n")
    assert distributions.dist_fingerprint([str(site)]) != base
    archive = write(tmp_path, "lib.zip", "zip")
    zipped = distributions.dist_fingerprint([str(site), str(archive)])
    archive.write_text("zip, changed")
    assert distributions.dist_fingerprint([str(site), str(archive)]) != zipped


def test_a_process_reads_the_distributions_once_per_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sessions run one after another in one process (pytester's in-process
    runs) read them once, with or without pytest's distributions."""
    site = tmp_path / "site"
    write(site, "fake_5a1e-1.0.dist-info/METADATA", "Name: fake-5a1e\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(site))
    builds: list[int] = []
    build = distributions.DistIndex.build

    def counted() -> distributions.DistIndex:
        builds.append(1)
        return build()

    monkeypatch.setattr(distributions.DistIndex, "build", staticmethod(counted))

    class Store(dict[str, Any]):
        def set(self, key: str, value: object) -> None:
            self[key] = value

    first = distributions.dist_index(None)
    assert distributions.dist_index(None) is first and distributions.dist_index(Store()) is first
    assert len(builds) == 1 and first.versions["fake-5a1e"] == "1.0"
    write(site, "fake_5a1e-1.0.dist-info/METADATA", "Name: fake-5a1e\nVersion: 1.1\n")
    assert distributions.dist_index(None).versions["fake-5a1e"] == "1.1" and len(builds) == 2


def _index_by_importlib() -> distributions.DistIndex:
    """The index as importlib.metadata's own API gives it (slow: it parses
    every METADATA file as an email and, with MLflow's importlib_metadata
    backport, checks that each installed file exists), with Python 3.12's
    rule for the top-level names of a distribution without top_level.txt."""
    tops: dict[str, list[str]] = {}
    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not isinstance(name, str):
            continue
        versions.setdefault(name, dist.version)
        declared = (dist.read_text("top_level.txt") or "").split()
        names = set(declared) or {
            f.parts[0] if len(f.parts) > 1 else inspect.getmodulename(f.name) or f.name
            for f in dist.files or ()
        }
        for top in names:
            if "." not in top:
                tops.setdefault(top, []).append(name)
    return distributions.DistIndex({t: tuple(dict.fromkeys(n)) for t, n in tops.items()}, versions)


def test_dist_index_reads_what_importlib_metadata_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built from the metadata files directly, the index is the one
    importlib.metadata's API gives: on distributions laid out every way
    installers leave them, and on this test environment's own."""
    site = tmp_path / "site"
    # Declared modules; a body after the header that names another project.
    info = "alpha_5a1e-1.0.dist-info"
    write(
        site,
        f"{info}/METADATA",
        "Metadata-Version: 2.1\nName: Alpha.5a1e\nVersion: 1.0\n\nName: x\n",
    )
    write(site, f"{info}/top_level.txt", "alpha_5a1e\nalpha_more_5a1e\n")
    # RECORD only: a package, a module, an extension module, a quoted path,
    # data, a script outside site-packages, and its own metadata.
    info = "beta_5a1e-2.0.dist-info"
    record = [
        "beta_5a1e/__init__.py,sha256=abc,1",
        '"beta_5a1e/we,ird.py",,',
        "beta_mod_5a1e.py,,",
        f"beta_ext_5a1e{EXTENSION_SUFFIXES[0]},,",
        "beta_data_5a1e/table.json,,",
        "../../bin/beta-tool,,",
        f"{info}/METADATA,,",
        f"{info}/RECORD,,",
    ]
    write(site, f"{info}/METADATA", "name: beta-5a1e\nversion: 2.0\nSummary: b\n")
    write(site, f"{info}/RECORD", "\n".join(record) + "\n")
    for file in ("beta_5a1e/__init__.py", "beta_5a1e/we,ird.py", "beta_mod_5a1e.py"):
        write(site, file, "")
    write(site, f"beta_ext_5a1e{EXTENSION_SUFFIXES[0]}", "")
    write(site, "beta_data_5a1e/table.json", "")
    # An empty top_level.txt: inferred from RECORD, as if it had none.
    info = "gamma_5a1e-3.0.dist-info"
    write(site, f"{info}/METADATA", "Name: gamma_5a1e\nVersion: 3.0\n")
    write(site, f"{info}/top_level.txt", "\n")
    write(site, f"{info}/RECORD", "gamma_5a1e/core.py,,\n")
    write(site, "gamma_5a1e/core.py", "")
    # An egg-info with installed-files.txt, and one shadowed by an earlier copy.
    info = "delta_5a1e-4.0.egg-info"
    write(site, f"{info}/PKG-INFO", "Metadata-Version: 1.1\nName: delta-5a1e\nVersion: 4.0\n")
    write(site, f"{info}/installed-files.txt", "../delta_5a1e/__init__.py\nPKG-INFO\n")
    write(site, "delta_5a1e/__init__.py", "")
    later = tmp_path / "later"
    write(later, "alpha_5a1e-0.9.dist-info/METADATA", "Name: Alpha.5a1e\nVersion: 0.9\n")
    write(later, "alpha_5a1e-0.9.dist-info/top_level.txt", "alpha_old_5a1e\n")
    monkeypatch.syspath_prepend(str(later))
    monkeypatch.syspath_prepend(str(site))

    built, expected = distributions.DistIndex.build(), _index_by_importlib()
    assert built == expected
    assert built.versions["Alpha.5a1e"] == "1.0" and built.versions["beta-5a1e"] == "2.0"
    ours = {top: names for top, names in built.tops.items() if "5a1e" in top}
    assert ours == {
        "alpha_5a1e": ("Alpha.5a1e",),
        "alpha_more_5a1e": ("Alpha.5a1e",),
        "alpha_old_5a1e": ("Alpha.5a1e",),
        "beta_5a1e": ("beta-5a1e",),
        "beta_mod_5a1e": ("beta-5a1e",),
        "beta_ext_5a1e": ("beta-5a1e",),
        "beta_data_5a1e": ("beta-5a1e",),
        "gamma_5a1e": ("gamma_5a1e",),
        "delta_5a1e": ("delta-5a1e",),
    }
