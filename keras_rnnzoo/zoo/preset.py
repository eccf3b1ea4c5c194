"""The preset folder format: writing it atomically and verifying it before use.

A preset is one folder::

    preset.json     metadata (below), with the sha256 of every other file
    model.keras     the Keras model (loaded with safe_mode=True)
    card.md         the model card (optional)
    ...             any task-specific files (vocabularies, ...)

`preset.json` fields: `format_version`, `name`, `version`, `task`, `created`,
`keras_version`, `keras_rnnzoo_version`, `backend`, `parameters`,
`input_spec`, `labels`, `preprocessing`, `config` (task settings),
`metrics` (each with the split it was measured on and the command that
produced it), `license`, `description`, `files` (name -> sha256 and size).

Example:

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "p"
>>> _ = write_preset_folder(folder, {"name": "demo", "task": "demo"}, {"notes.txt": b"hi"})
>>> sorted(read_preset_metadata(folder)["files"])
['notes.txt']
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

FORMAT_VERSION = 1
METADATA_FILE = "preset.json"
MODEL_FILE = "model.keras"
CARD_FILE = "card.md"
REQUIRED_FIELDS = ("format_version", "name", "task", "files")
_CHUNK = 1 << 20


class PresetError(ValueError):
    """A preset folder is missing, damaged, or made by an incompatible version."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def write_preset_folder(
    folder: str | os.PathLike,
    metadata: Mapping[str, Any],
    files: Mapping[str, bytes | str | os.PathLike | None] = (),
    writers: Mapping[str, Any] = (),
    overwrite: bool = True,
) -> Path:
    """Write a preset folder atomically: a temporary sibling folder, then a rename.

    Args:
        folder: destination folder; replaced as a whole if it exists and
            `overwrite` is true.
        metadata: the fields of `preset.json` except `files` and
            `format_version`, which are filled in here.
        files: file name -> bytes, or a path to copy.
        writers: file name -> callable(path) that writes the file (used for
            `model.keras`, which Keras writes itself).
        overwrite: replace an existing folder.

    An interrupted save leaves the destination untouched (at worst a
    `.<name>.tmp-*` sibling folder, which loading never looks at).
    """
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise FileExistsError(f"Preset folder {folder} already exists (pass overwrite=True).")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; a preset folder is not
    try:
        for name, content in dict(files).items():
            _check_file_name(name)
            target = staging / name
            if isinstance(content, (bytes, bytearray)):
                target.write_bytes(bytes(content))
            elif isinstance(content, str) and not Path(content).exists():
                raise FileNotFoundError(f"Preset file source {content!r} does not exist.")
            else:
                shutil.copyfile(content, target)
        for name, write in dict(writers).items():
            _check_file_name(name)
            write(str(staging / name))
            if not (staging / name).is_file():
                raise PresetError(f"Writer for {name!r} did not create the file.")
        listing = {}
        for path in sorted(staging.iterdir()):
            if path.name == METADATA_FILE:
                raise PresetError(f"{METADATA_FILE} is written by the preset format itself.")
            listing[path.name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        full = {"format_version": FORMAT_VERSION, **dict(metadata), "files": listing}
        full.setdefault("created", utc_now())
        (staging / METADATA_FILE).write_text(json.dumps(full, indent=2, default=_json_default) + "\n")
        _fsync_folder(staging)
        if folder.exists():
            backup = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, backup)
            os.replace(staging, folder)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def read_preset_metadata(folder: str | os.PathLike) -> dict[str, Any]:
    """Parse and check `preset.json` (format version, required fields); no hashing."""
    folder = Path(folder)
    path = folder / METADATA_FILE
    if not folder.is_dir():
        raise PresetError(f"Preset folder {folder} does not exist.")
    if not path.is_file():
        raise PresetError(f"Preset {folder} has no {METADATA_FILE}.")
    try:
        metadata = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PresetError(f"{path} is not valid JSON ({error}); the preset is damaged.") from None
    if not isinstance(metadata, dict):
        raise PresetError(f"{path} must hold a JSON object, got {type(metadata).__name__}.")
    missing = [field for field in REQUIRED_FIELDS if field not in metadata]
    if missing:
        raise PresetError(f"{path} lacks required field(s): {', '.join(missing)}.")
    version = metadata["format_version"]
    if not isinstance(version, int) or version < 1:
        raise PresetError(f"{path}: format_version must be a positive integer, got {version!r}.")
    if version > FORMAT_VERSION:
        raise PresetError(
            f"{path} has preset format_version {version}, newer than the {FORMAT_VERSION} "
            f"this keras_rnnzoo reads; upgrade keras-rnnzoo "
            f"(the preset was made by keras_rnnzoo {metadata.get('keras_rnnzoo_version', '?')})."
        )
    if not isinstance(metadata["files"], dict) or not metadata["files"]:
        raise PresetError(f"{path}: 'files' must map file names to their sha256.")
    return metadata


def verify_preset(folder: str | os.PathLike) -> dict[str, Any]:
    """Check every file listed in `preset.json` against its size and sha256.

    Returns the metadata. Raises `PresetError` naming the first file that is
    missing, truncated or altered. Nothing is deserialized before this passes.
    """
    folder = Path(folder)
    metadata = read_preset_metadata(folder)
    for name, expected in metadata["files"].items():
        _check_file_name(name)
        path = folder / name
        if isinstance(expected, str):
            expected = {"sha256": expected}
        if not path.is_file():
            raise PresetError(f"Preset file {path} is missing.")
        size = path.stat().st_size
        if "bytes" in expected and size != expected["bytes"]:
            kind = "truncated" if size < expected["bytes"] else "larger than recorded"
            raise PresetError(
                f"Preset file {path} is {kind}: {size} bytes, expected {expected['bytes']}."
            )
        actual = sha256_file(path)
        if actual != expected.get("sha256"):
            raise PresetError(
                f"Preset file {path} is altered: sha256 {actual[:16]}..., "
                f"expected {str(expected.get('sha256'))[:16]}..."
            )
    return metadata


def _check_file_name(name: str) -> None:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise PresetError(f"Preset file names must be plain names inside the folder; got {name!r}.")


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"preset.json cannot hold {type(value).__name__}: {value!r}")


def _fsync_folder(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
