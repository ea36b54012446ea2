"""Every file of a model package is listed in its manifest (sha256 and size); a package whose files do not match
it, or whose manifest does not match the sha256 the registry recorded, is refused before anything is parsed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from precisionpain.errors import ModelError


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2
    data[i] = (data[i] + 1) % 256
    path.write_bytes(bytes(data))


TAMPERS: dict[str, Callable[[Path], None]] = {
    "one byte changed": _flip_one_byte,
    "emptied": lambda p: p.write_bytes(b""),
    "deleted": lambda p: p.unlink(),
    "appended to": lambda p: p.write_bytes(p.read_bytes() + b"\n"),
}


def swap_two_option_ids(package: Path) -> tuple[str, str]:
    """The tampering that once went unnoticed: two option ids swapped in estimator/model.json."""
    path = package / "estimator" / "model.json"
    meta = json.loads(path.read_text())
    first, second = meta["options"][0], meta["options"][1]
    meta["options"][0], meta["options"][1] = second, first
    path.write_text(json.dumps(meta, indent=1, sort_keys=True))
    return str(first["value"]), str(second["value"])


@pytest.fixture
def package(small_package_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(small_package_dir, tmp_path / "package"))


def test_the_manifest_lists_every_other_file_with_its_sha256(small_package_dir: Path) -> None:
    from precisionpain.models.package import MANIFEST_FILE

    manifest = json.loads((small_package_dir / MANIFEST_FILE).read_text())
    listed = manifest["files"]
    on_disk = [rel for rel in _all_files(small_package_dir) if rel != MANIFEST_FILE]
    assert sorted(listed) == on_disk
    assert {"estimator/model.json", "metadata.json", "model_card.md"} <= set(listed)
    for rel, entry in listed.items():
        data = (small_package_dir / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _one_per_folder(files: list[str]) -> list[str]:
    """The first file of every folder of the package (and every top-level file): each kind of file once."""
    seen: dict[str, str] = {}
    for rel in files:
        folder = rel.rsplit("/", 1)[0] if "/" in rel else rel
        seen.setdefault(folder, rel)
    return sorted({*seen.values(), "estimator/model.json"})


def _assert_tampering_refused(tamper: str, files: list[str], small_package_dir: Path, tmp_path: Path) -> None:
    from precisionpain.models.package import read_package

    accepted = []
    for i, rel in enumerate(files):
        copy = Path(shutil.copytree(small_package_dir, tmp_path / str(i)))
        TAMPERS[tamper](copy / rel)
        try:
            read_package(copy)
        except ModelError:
            pass
        else:
            accepted.append(rel)
        shutil.rmtree(copy)
    assert accepted == [], f"accepted with this file {tamper}: {accepted}"


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_with_each_kind_of_file_is_refused_at_load(
    tamper: str, small_package_dir: Path, tmp_path: Path
) -> None:
    files = _all_files(small_package_dir)
    assert len(files) > 10 and "estimator/model.json" in files
    _assert_tampering_refused(tamper, _one_per_folder(files), small_package_dir, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_with_any_file_is_refused_at_load(
    tamper: str, small_package_dir: Path, tmp_path: Path
) -> None:
    """Every file of the package, each way (a package has a file per option and outcome: minutes in all)."""
    _assert_tampering_refused(tamper, _all_files(small_package_dir), small_package_dir, tmp_path)


def test_swapped_option_ids_in_model_json_are_refused_and_named(package: Path) -> None:
    from precisionpain.models.package import read_package

    swap_two_option_ids(package)
    with pytest.raises(ModelError, match="does not match its manifest") as raised:
        read_package(package)
    message = str(raised.value)
    assert "estimator/model.json" in message and "changed" in message


@pytest.mark.parametrize(
    "extra", ["notes.txt", "estimator/boosters/option_999.ubj", "catalog/features/extra.yaml"]
)
def test_an_added_file_is_refused(package: Path, extra: str) -> None:
    from precisionpain.models.package import read_package

    (package / extra).write_text("x")
    with pytest.raises(ModelError, match=f"{extra}.*not in the manifest"):
        read_package(package)


def test_a_symlink_inside_the_package_is_refused(package: Path, tmp_path: Path) -> None:
    from precisionpain.models.package import read_package

    outside = tmp_path / "outside.md"
    outside.write_text((package / "model_card.md").read_text())
    (package / "model_card.md").unlink()
    os.symlink(outside, package / "model_card.md")
    with pytest.raises(ModelError, match=r"model_card\.md.*not a regular file"):
        read_package(package)


def test_a_package_without_a_manifest_is_refused(package: Path) -> None:
    from precisionpain.models.package import MANIFEST_FILE, read_package

    (package / MANIFEST_FILE).unlink()
    with pytest.raises(ModelError, match=r"no manifest\.json"):
        read_package(package)


def test_a_resealed_package_is_refused_against_the_recorded_sha256(package: Path) -> None:
    """Someone who can write the files can also rewrite the manifest: the registry's record catches that."""
    from precisionpain.models.package import MANIFEST_FILE, read_package, seal_package

    recorded = hashlib.sha256((package / MANIFEST_FILE).read_bytes()).hexdigest()
    assert read_package(package, expected_manifest_sha256=recorded).manifest_sha256 == recorded

    swap_two_option_ids(package)
    resealed = seal_package(package)
    assert resealed != recorded
    assert read_package(package).manifest_sha256 == resealed  # consistent in itself
    with pytest.raises(ModelError, match="does not match the sha256 recorded"):
        read_package(package, expected_manifest_sha256=recorded)


def test_a_malformed_manifest_is_refused_with_the_rule(package: Path) -> None:
    from precisionpain.models.package import MANIFEST_FILE, read_package, seal_package

    for text, rule in [
        ("{ not json", "not valid JSON"),
        (
            json.dumps({"format": "other", "format_version": 1, "files": {}}),
            "not a PrecisionPain package manifest",
        ),
        (
            json.dumps(
                {"format": "precisionpain.package_manifest", "format_version": 1, "files": {"../x": {}}}
            ),
            "malformed",
        ),
    ]:
        (package / MANIFEST_FILE).write_text(text)
        with pytest.raises(ModelError, match=rule):
            read_package(package)
    (package / MANIFEST_FILE).write_bytes(b" " * (2 << 20))
    with pytest.raises(ModelError, match="larger than"):
        read_package(package)
    seal_package(package)
    read_package(package)
