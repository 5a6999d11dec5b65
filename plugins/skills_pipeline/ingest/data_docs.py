"""Great Expectations Data Docs that a government intranet can read: one site per feed, offline. (The same installed
folder holds the read API's developer portal: Swagger UI and ReDoc, see delivery/portal.py.)

GX's page templates load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from public CDNs, and the index
page's list of validation results is filled in by bootstrap-table: with no internet the pages are unstyled and the
list is empty. The same files, at the versions the templates ask for, are taken from the npm registry once at
set-up (`install`, run by scripts/bootstrap.sh; each tarball checked against the integrity hash pinned here) into
the environment. After each build the pages are rewritten to load them from one folder beside the feed sites.

Nothing third-party is committed: the registry (or its mirror, through npm's own configuration) is where they come
from, as for the Python packages."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

ASSETS_DIR_ENV = "SKILLS_DATA_DOCS_ASSETS_DIR"
# The folder beside the feed sites (data_docs_dir()/<feed>/) that the rewritten pages load the assets from.
SHARED_FOLDER = "_assets"


@dataclass(frozen=True)
class Package:
    """One npm package: the version GX's templates name, npm's integrity hash of its tarball, what we take of it."""

    name: str
    version: str
    integrity: str  # "sha512-<base64>", as npm records it (npm pack --json)
    members: tuple[str, ...]  # paths inside the package; one ending in "/" takes the folder

    @property
    def folder(self) -> str:
        return f"{self.name.replace('@', '').replace('/', '-')}-{self.version}"


PACKAGES = (
    Package("bootstrap", "4.3.1",
            "sha512-rXqOmH1VilAt2DyPzluTi2blhk17bO7ef+zLLPlWvG494pDxcM234pJ8wTc/6R40UWizAIIMgxjvxZg5kmsbag==",
            ("dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js")),
    Package("jquery", "3.7.1",
            "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
            ("dist/jquery.min.js",)),
    Package("popper.js", "1.12.9",
            "sha512-s0EEi9xiSCdqz9lV4IiVH5yIZnDX/U1t0tCjB+0jXx9jW8lrR7kOpVupiUg175ogqVoudpDXHF1p6dKATCHMeg==",
            ("dist/umd/popper.min.js",)),
    Package("bootstrap-table", "1.19.1",
            "sha512-WvV+l1AI/C+zThaKmfHmi/IuayVNB0qdFyEhFx1jyZhO0oLtNJNANkCR3rvJf6Dkh72dsLElxpE/bzK9seEQLA==",
            ("dist/bootstrap-table.min.css", "dist/bootstrap-table.min.js",
             "dist/extensions/filter-control/bootstrap-table-filter-control.css",
             "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
             "dist/extensions/filter-control/bootstrap-table-filter-control.min.js")),
    Package("bootstrap-datepicker", "1.9.0",
            "sha512-9rYYbaVOheGYxjOr/+bJCmRPihfy+LkLSg4fIFMT9Od8WwWB/MB50w0JO1eBgKUMbb7PFHQD5uAfI3ArAxZRXA==",
            ("dist/css/bootstrap-datepicker.min.css", "dist/js/bootstrap-datepicker.min.js")),
    Package("@fortawesome/fontawesome-free", "6.6.0",
            "sha512-60G28ke/sXdtS9KZCpZSHHkCbdsOGEhIUGlwq6yhY74UpTiToIh8np7A8yphhM4BWsvNFtIvLpi4co+h9Mr9Ow==",
            ("css/all.min.css", "webfonts/")),  # the stylesheet loads ../webfonts/
    # The templates ask for the latest vega 5, vega-lite 5 and vega-embed 6; these are those majors' last releases.
    Package("vega", "5.33.1",
            "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw==",
            ("build/vega.min.js",)),
    Package("vega-lite", "5.23.0",
            "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==",
            ("build/vega-lite.min.js",)),
    Package("vega-embed", "6.29.0",
            "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q==",
            ("build/vega-embed.min.js",)),
    Package("@forevolve/bootstrap-dark", "1.1.0",
            "sha512-A3ucpEpxPoTVO490lZZCfjPXxv832l7mm1IxX3bXyxvgwnPGXDLyh7dWrphXKO8YBAu3EswbBEu3VSW8NRMW3A==",
            ("dist/css/bootstrap-prefers-dark.css",)),
    # The read API's developer portal (delivery/portal.py): Swagger UI and ReDoc, served by the API itself.
    Package("swagger-ui-dist", "5.36.0",
            "sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A==",
            ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")),
    Package("redoc", "2.5.4",
            "sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==",
            ("bundles/redoc.standalone.js",)),
)  # fmt: skip
_BY_NAME = {package.name: package for package in PACKAGES}


def _local(name: str, member: str) -> str:
    return f"{_BY_NAME[name].folder}/{member}"


# Every address GX 1.24's templates load from, and the file that stands in for it (a path under the assets folder).
CDN_FILES = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        _local("bootstrap", "dist/css/bootstrap.min.css"),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        _local("bootstrap", "dist/js/bootstrap.min.js"),
    "https://code.jquery.com/jquery-3.7.1.min.js": _local("jquery", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        _local("popper.js", "dist/umd/popper.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        _local("bootstrap-table", "dist/bootstrap-table.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        _local("bootstrap-table", "dist/bootstrap-table.min.js"),
    # GX asks for the filter-control stylesheet of 1.19.0 beside the 1.19.1 script; the 1.19.1 one serves both.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        _local("bootstrap-table", "dist/extensions/filter-control/bootstrap-table-filter-control.css"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        _local("bootstrap-table", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        _local("bootstrap-table", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        _local("bootstrap-datepicker", "dist/css/bootstrap-datepicker.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        _local("bootstrap-datepicker", "dist/js/bootstrap-datepicker.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        _local("@fortawesome/fontawesome-free", "css/all.min.css"),
    "https://cdn.jsdelivr.net/npm/vega@5": _local("vega", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": _local("vega-lite", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": _local("vega-embed", "build/vega-embed.min.js"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        _local("@forevolve/bootstrap-dark", "dist/css/bootstrap-prefers-dark.css"),
}  # fmt: skip
# The navigation bar's logo comes from GX's web-assets bucket; the same image is in every site's static/images/.
_GX_IMAGES = re.compile(r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/([\w.-]+)(\?[^\"']*)?")
# GX's own files (static/ of each site), which its templates reach with a count of ../ that is one short for the
# favicon of a validation page: every such reference is recomputed from the page's real depth.
_SITE_STATIC = re.compile(r"""(?<=["'])(?:\./|(?:\.\./)+)static/([^"'?#]+)""")
_SRI = re.compile(r"""\s+(?:integrity=["'][^"']*["']|crossorigin(?:=["'][^"']*["'])?)(?=[\s/>])""")
_CDN = re.compile("|".join(re.escape(url) for url in sorted(CDN_FILES, key=len, reverse=True)))
# What a browser would fetch from outside: a script, a stylesheet or an image, not a link a reader may follow.
_REMOTE_LOAD = re.compile(r"""<(?:script|img)\b[^>]*\bsrc=["']https?:[^"']*|<link\b[^>]*\bhref=["']https?:[^"']*""")
_MARKER = ".installed.json"


class AssetsMissing(RuntimeError):
    """The offline copies are not installed here; the message says how to install them."""


def installed_dir() -> Path:
    """Where set-up puts the assets: SKILLS_DATA_DOCS_ASSETS_DIR, else the environment's share/ folder (the venv
    for a local checkout, the image for a deployed worker): wherever the Python packages come from."""
    return Path(os.environ.get(ASSETS_DIR_ENV) or Path(sys.prefix) / "share" / "skills-pipeline" / "data-docs-assets")


def _manifest() -> dict[str, str]:
    return {package.folder: package.integrity for package in PACKAGES}


def is_installed(folder: Path | None = None) -> bool:
    marker = (folder or installed_dir()) / _MARKER
    try:
        return json.loads(marker.read_text()) == _manifest()
    except (OSError, ValueError):
        return False


def install(folder: Path | None = None, npm: str = "npm") -> Path:
    """Fetch each package's tarball with `npm pack` (npm's registry settings and mirror apply), check its integrity
    hash, and unpack only the files the pages load. Idempotent: an installed folder is left as it is."""
    target = folder or installed_dir()
    if is_installed(target):
        return target
    if shutil.which(npm) is None:
        raise AssetsMissing(
            f"npm is not on PATH: it fetches the Data Docs' stylesheets and scripts from the npm registry; install "
            f"Node.js/npm (Debian: apt-get install npm), or copy an installed folder to {target} (or point "
            f"{ASSETS_DIR_ENV} at one)"
        )
    staging = Path(tempfile.mkdtemp(prefix=".data-docs-assets-", dir=_existing_parent(target)))
    try:
        with tempfile.TemporaryDirectory() as downloads:
            specs = [f"{package.name}@{package.version}" for package in PACKAGES]
            print(f"data docs assets: fetching {len(specs)} npm packages into {target}", file=sys.stderr)
            packed = subprocess.run(
                [npm, "pack", "--json", "--pack-destination", downloads, *specs],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if packed.returncode != 0:
                raise AssetsMissing(f"npm pack failed ({packed.returncode}): {packed.stderr.strip()[-800:]}")
            files = {item["id"]: Path(downloads) / item["filename"] for item in json.loads(packed.stdout)}
            for package in PACKAGES:
                tarball = files[f"{package.name}@{package.version}"]
                _check_integrity(package, tarball)
                _extract(package, tarball, staging / package.folder)
        (staging / _MARKER).write_text(json.dumps(_manifest(), indent=1, sort_keys=True))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _existing_parent(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent


def _check_integrity(package: Package, tarball: Path) -> None:
    algorithm, _, expected = package.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        raise AssetsMissing(
            f"{package.name}@{package.version}: the registry's tarball does not match the pinned integrity hash "
            f"({algorithm}-{actual} != {package.integrity}); refusing to serve it in the Data Docs"
        )


def _extract(package: Package, tarball: Path, into: Path) -> None:
    """Only the listed members, as regular files under `into` (npm tarballs put everything under package/)."""
    taken = set()
    with tarfile.open(tarball, "r:gz") as archive:
        for entry in archive.getmembers():
            path = PurePosixPath(entry.name)
            if not entry.isfile() or path.parts[:1] != ("package",) or ".." in path.parts:
                continue
            inner = str(PurePosixPath(*path.parts[1:]))
            wanted = [m for m in package.members if inner == m or (m.endswith("/") and inner.startswith(m))]
            if not wanted:
                continue
            destination = into / inner
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(entry) as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            taken.update(wanted)
    missing = set(package.members) - taken
    if missing:
        raise AssetsMissing(f"{package.name}@{package.version}: not in the tarball: {', '.join(sorted(missing))}")


def share(docs_root: Path) -> Path:
    """The assets folder beside the feed sites, copied from the installed folder when it is missing or stale."""
    shared = docs_root / SHARED_FOLDER
    if is_installed(shared):
        return shared
    source = installed_dir()
    if not is_installed(source):
        raise AssetsMissing(
            f"the Data Docs' offline stylesheets and scripts are not installed in {source}: run `make venv` "
            f"(scripts/bootstrap.sh) or `python -m skills_pipeline.ingest.data_docs install`"
        )
    docs_root.mkdir(parents=True, exist_ok=True)
    copy = Path(tempfile.mkdtemp(prefix=".assets-", dir=docs_root))
    try:
        shutil.copytree(source, copy, dirs_exist_ok=True)
        if shared.exists():
            shutil.rmtree(shared, ignore_errors=True)
        copy.rename(shared)  # whole, so that a page never loads from a half-copied folder
    except OSError:
        if not is_installed(shared):  # another feed's build may have put it there first
            raise
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    return shared


def make_offline(page: Path, site_root: Path, assets: Path) -> list[str]:
    """Rewrite one page to load every CDN file from `assets` and GX's images from its own site; relative links,
    so that the folder can be copied or served anywhere. Returns what would still be fetched from outside."""
    text = page.read_text(encoding="utf-8")
    here = page.parent

    def relative(target: Path) -> str:
        return Path(os.path.relpath(target, here)).as_posix()

    text = _CDN.sub(lambda match: relative(assets / CDN_FILES[match.group(0)]), text)
    # Subresource integrity asks for a CORS fetch, which a page opened from disk (origin null) is refused: the
    # browser would block those scripts. The files were checked against their hashes when installed.
    text = _SRI.sub("", text)
    text = _GX_IMAGES.sub(lambda match: relative(site_root / "static" / "images" / match.group(1)), text)
    text = _SITE_STATIC.sub(lambda match: relative(site_root / "static" / match.group(1)), text)
    page.write_text(text, encoding="utf-8")
    return _REMOTE_LOAD.findall(text)


def main(argv: list[str] | None = None) -> int:
    """`python -m skills_pipeline.ingest.data_docs install [DIR]`: what scripts/bootstrap.sh runs."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "install" or len(args) > 2:
        print("usage: python -m skills_pipeline.ingest.data_docs install [DIR]", file=sys.stderr)
        return 2
    folder = Path(args[1]) if len(args) == 2 else installed_dir()
    if is_installed(folder):
        return 0  # quiet: bootstrap runs this before every make verb
    try:
        install(folder)
    except AssetsMissing as error:
        print(f"data docs assets: {error}", file=sys.stderr)
        return 1
    print(f"data docs assets: installed in {folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
