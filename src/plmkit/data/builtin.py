"""The built-in `movie-snippets` dataset: 10,568 Rotten Tomatoes sentences (plus 37 neutral
ones), labels negative / positive, from Hutto & Gilbert, ICWSM 2014.

The file is found in $PLMKIT_DATA_DIR, a `shared/data` directory, or the plmkit cache, and
else extracted from the vaderSentiment sdist (fetched with pip); every copy is checked by
sha256. It is valid UTF-8 (checked: its only non-ASCII characters are accents, dashes and the
like) and gets light cleaning instead: HTML entities, `''` quotes, runs of spaces where dashes
were lost.
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from plmkit.errors import DataError
from plmkit.paths import cache_subdir

log = logging.getLogger(__name__)

MOVIE_SNIPPETS = "movie-snippets"
BUILTIN_DATASETS = (MOVIE_SNIPPETS,)
MOVIE_SNIPPETS_FILE = "movieReviewSnippets_GroundTruth.txt"
MOVIE_SNIPPETS_SHA256 = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"
VADER_SDIST = "vaderSentiment==3.3.2"
VADER_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
VADER_INNER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"


def read_movie_snippets(include_neutral: bool) -> tuple[list[str], list[str]]:
    """Cleaned texts and their "negative" / "positive" labels (neutral rows only on request:
    they are pre-training text, not classification data)."""
    texts, labels = [], []
    for line in movie_snippets_path().read_bytes().decode("utf-8").split("\n"):
        if line.strip():
            _, rating, text = line.rstrip("\r").split("\t", 2)
            if include_neutral or float(rating) != 0:
                texts.append(_clean_snippet(text))
                labels.append("positive" if float(rating) > 0 else "negative")
    return texts, labels


def movie_snippets_path() -> Path:
    """The verified movie-snippets file: from $PLMKIT_DATA_DIR, a `shared/data` directory above
    the current or the package directory, the plmkit cache, or else fetched into the cache."""
    env_dir = os.environ.get("PLMKIT_DATA_DIR")
    starts = (Path.cwd(), Path(__file__).resolve().parent)
    dirs = [Path(env_dir)] if env_dir else []
    dirs += [d / "shared" / "data" for start in starts for d in (start, *start.parents)]
    dirs.append(cache_subdir("data"))
    for directory in dirs:
        candidate = directory / MOVIE_SNIPPETS_FILE
        if candidate.is_file():
            fix = f"replace {candidate} with the original file, or delete it to fetch it again"
            _check_sha256(candidate, MOVIE_SNIPPETS_SHA256, fix)
            return candidate
    return fetch_movie_snippets(dirs[-1] / MOVIE_SNIPPETS_FILE)


def fetch_movie_snippets(target: Path) -> Path:
    """Download the vaderSentiment sdist with pip and extract the movie-snippets file."""
    log.info("fetching %s from the %s sdist", MOVIE_SNIPPETS_FILE, VADER_SDIST)
    fix = f"put {MOVIE_SNIPPETS_FILE} in $PLMKIT_DATA_DIR, or use your own CSV/JSONL with --data"
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        done = subprocess.run([*command, VADER_SDIST, "-d", tmp], capture_output=True, text=True)
        sdists = sorted(Path(tmp).glob("*.tar.gz"))
        if done.returncode != 0 or not sdists:
            reason = (done.stderr.strip().splitlines() or ["no sdist saved"])[-1]
            raise DataError(f"could not download {VADER_SDIST} for movie-snippets: {reason}", fix)
        return extract_from_sdist(
            sdists[0],
            target,
            sdist_sha256=VADER_SDIST_SHA256,
            inner_archive=VADER_INNER_ARCHIVE,
            member=MOVIE_SNIPPETS_FILE,
            member_sha256=MOVIE_SNIPPETS_SHA256,
        )


def extract_from_sdist(
    sdist: Path,
    target: Path,
    *,
    sdist_sha256: str,
    inner_archive: str,
    member: str,
    member_sha256: str,
) -> Path:
    """Write the file named `member` (by basename) from the tar.gz `inner_archive` inside the
    sdist to `target`, atomically, checking both hashes."""
    _check_sha256(sdist, sdist_sha256, "retry the download; the sdist may be corrupt")
    with tarfile.open(sdist, "r:gz") as outer:
        inner = _member_bytes(outer, lambda name: f"/{name}".endswith(f"/{inner_archive}"), sdist)
    with tarfile.open(fileobj=io.BytesIO(inner), mode="r:gz") as nested:
        payload = _member_bytes(nested, lambda name: Path(name).name == member, sdist)
    if hashlib.sha256(payload).hexdigest() != member_sha256:
        raise DataError(f"{member} in {sdist.name} has an unexpected sha256", fix="retry later")
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def _member_bytes(archive: tarfile.TarFile, wanted: Callable[[str], bool], source: Path) -> bytes:
    for info in archive.getmembers():
        if info.isfile() and wanted(info.name):
            return archive.extractfile(info).read()  # type: ignore[union-attr]
    raise DataError(f"{source.name} does not hold the expected file", fix="check the sdist")


def _check_sha256(path: Path, expected: str, fix: str) -> None:
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise DataError(f"{path} does not have the expected sha256 {expected[:12]}...", fix)


def _clean_snippet(text: str) -> str:
    return " ".join(html.unescape(text).replace("''", '"').split())
