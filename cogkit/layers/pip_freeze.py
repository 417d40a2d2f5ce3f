"""Print exactly what `python -m pip freeze` prints, without starting pip, where that is certain.

Run inside the image (stdlib only, Python 3.6+, any pip): the run.cog.pip_freeze label is pip freeze's
output, and pip's own start-up (1-2 s under load) bounded a dependency edit's build. This reads the
distributions' metadata the way pip 23.0-26.x does and prints the same bytes; anything it cannot prove
(an unknown pip version, a pip config file or PIP_* variable, eggs and egg-links, editable or VCS
installs, a version pip would rewrite, duplicates it cannot order, metadata the backends would read
differently) makes it run pip itself instead (`os.execv`), so the label is pip's output either way.

What pip does, as facts (pip/_internal/operations/freeze.py, metadata/): every distribution found on
sys.path (less the `python -m` entry pip drops), the first one per normalised name; a direct_url.json
(PEP 610) gives `name @ url[#hash][&subdirectory=…]`, else `name==version` with the version
normalised by `packaging`; sorted by the metadata's Name, lowercased; pip itself (and setuptools,
distribute and wheel on Python < 3.12, or with pip < 23.2) left out.
"""

import configparser
import email.parser
import json
import os
import re
import sys

FIRST_PIP = (23, 0)
NEXT_PIP = (27, 0)  # newer pips are not known to print the same; they run themselves
# A version string that str(packaging.version.Version(v)) leaves as it is (PEP 440 normal form).
_NUM = r"(?:0|[1-9][0-9]*)"
_LOCAL_SEGMENT = r"(?:" + _NUM + r"|[a-z0-9]*[a-z][a-z0-9]*)"
CANONICAL_VERSION = re.compile(
    r"^(?:[1-9][0-9]*!)?" + _NUM + r"(?:\." + _NUM + r")*"
    r"(?:(?:a|b|rc)" + _NUM + r")?(?:\.post" + _NUM + r")?(?:\.dev" + _NUM + r")?"
    r"(?:\+" + _LOCAL_SEGMENT + r"(?:\." + _LOCAL_SEGMENT + r")*)?$"
)
NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
HASH = re.compile(r"^[A-Za-z0-9_]+=[A-Za-z0-9]+$")
# freeze's own options (and --python, which runs another interpreter's pip), as PIP_* or config keys
FREEZE_OPTIONS = {
    "requirement",
    "r",
    "local",
    "l",
    "user",
    "path",
    "all",
    "exclude-editable",
    "exclude",
    "python",
}
PIP_CONFIGS = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", "~/.config/pip/pip.conf", "~/.pip/pip.conf")


class Unsure(Exception):
    """Something pip might print differently: let pip print it."""


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _headers(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        raise Unsure(path) from None
    message = email.parser.HeaderParser().parsestr(text)
    name, version = message.get_all("Name") or [], message.get_all("Version") or []
    if len(name) != 1 or len(version) != 1:
        raise Unsure(path)
    name, version = name[0], version[0]
    if not NAME.match(name) or not CANONICAL_VERSION.match(version):
        raise Unsure(path)
    return name, version


def _requirement(info, name):
    """`name @ url…` from direct_url.json (pip's PEP 610 form), `name==version` without one."""
    path = os.path.join(info, "direct_url.json")
    if not os.path.lexists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        raise Unsure(path) from None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        raise Unsure(path)
    kinds = [k for k in ("archive_info", "dir_info", "vcs_info") if k in data]
    if len(kinds) != 1 or kinds[0] == "vcs_info" or not isinstance(data[kinds[0]], dict):
        raise Unsure(path)
    subdirectory = data.get("subdirectory")
    if subdirectory is not None and not isinstance(subdirectory, str):
        raise Unsure(path)
    fragments = []
    detail = data[kinds[0]]
    if kinds[0] == "dir_info":
        if detail.get("editable", False) is not False:
            raise Unsure(path)  # editable: pip prints comments and `-e` lines
    else:
        digest = detail.get("hash")
        if digest is not None:
            if not isinstance(digest, str) or not HASH.match(digest):
                raise Unsure(path)
            fragments.append(digest)
        hashes = detail.get("hashes")
        if hashes is not None and not isinstance(hashes, dict):
            raise Unsure(path)
    if subdirectory:
        fragments.append("subdirectory=" + subdirectory)
    return name + " @ " + data["url"] + ("#" + "&".join(fragments) if fragments else "")


def _distribution(location, entry):
    """(name, canonical name, line) of one .dist-info or .egg-info directory."""
    info = os.path.join(location, entry)
    if not os.path.isdir(info):
        raise Unsure(info)
    stem, suffix = os.path.splitext(entry)
    parts = stem.split("-")
    if suffix == ".dist-info":
        if len(parts) != 2:
            raise Unsure(info)
        name, version = _headers(os.path.join(info, "METADATA"))
    else:  # .egg-info: name[-version[-pyX.Y]]
        if len(parts) > 3 or (len(parts) == 3 and not re.match(r"^py[0-9.]+$", parts[2])):
            raise Unsure(info)
        name, version = _headers(os.path.join(info, "PKG-INFO"))
    # pip's backends take the name (for skipping and duplicates) and the version from the directory's
    # name or from the metadata, depending on the pip: they must agree.
    if canonical(parts[0]) != canonical(name) or (len(parts) > 1 and parts[1] != version):
        raise Unsure(info)
    line = _requirement(info, name) or name + "==" + version
    return name, canonical(name), line


def _legacy_key(entry):
    """pkg_resources' key for a distribution directory: safe_name of its name part, lowercased."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", os.path.splitext(entry)[0].split("-")[0]).lower()


def _pip_version(location):
    for entry in os.listdir(location):
        if entry.endswith(".dist-info") and canonical(entry.split("-")[0]) == "pip":
            version = _headers(os.path.join(location, entry, "METADATA"))[1]
            return tuple(int(p) for p in re.findall(r"[0-9]+", version)[:2])
    raise Unsure("pip's metadata")


def _option(name):
    return name.lower().replace("_", "-")


def _check_options(env):
    """pip reads options for freeze from PIP_* variables and config files: none may change its output."""
    if "_PIP_USE_IMPORTLIB_METADATA" in env:
        raise Unsure("_PIP_USE_IMPORTLIB_METADATA")
    for key in env:
        if key.startswith("PIP_") and _option(key[4:]) in FREEZE_OPTIONS:
            raise Unsure(key)
    configs = [os.path.expanduser(p) for p in PIP_CONFIGS]
    if env.get("XDG_CONFIG_HOME"):
        configs.append(os.path.join(env["XDG_CONFIG_HOME"], "pip", "pip.conf"))
    configs += [os.path.join(d, "pip", "pip.conf") for d in env.get("XDG_CONFIG_DIRS", "").split(":") if d]
    configs.append(os.path.join(sys.prefix, "pip.conf"))
    if env.get("PIP_CONFIG_FILE") and env["PIP_CONFIG_FILE"] != os.devnull:
        configs.append(env["PIP_CONFIG_FILE"])
    for path in configs:
        if not os.path.lexists(path):
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            raise Unsure(path) from None
        for section in parser.sections():
            if section in ("global", "freeze") and any(_option(k) in FREEZE_OPTIONS for k in parser[section]):
                raise Unsure(path)


def freeze_lines(paths, env, python):
    """pip freeze's lines for these sys.path entries, or Unsure."""
    _check_options(env)
    found = {}
    seen = {}
    pip = None
    for location in dict.fromkeys(paths):  # an entry listed twice: pip finds its distributions once
        if not os.path.isdir(location):
            if os.path.lexists(location):
                raise Unsure(location)  # a zip on sys.path
            continue
        for entry in sorted(os.listdir(location)):
            lower = entry.lower()
            if lower.endswith((".egg", ".egg-link")):
                raise Unsure(entry)
            if lower.endswith((".dist-info", ".egg-info")) and not entry.endswith(
                (".dist-info", ".egg-info")
            ):
                raise Unsure(entry)
            if entry.endswith((".dist-info", ".egg-info")):
                name, key, line = _distribution(location, entry)
                if key in found:
                    # Found again further down sys.path (Debian's setuptools below a newer one): both
                    # backends keep the first; pkg_resources only when its key (the directory's name
                    # through safe_name, lowercased) is the same, and within one directory the order
                    # is the backends' own.
                    first_location, first_entry = seen[key]
                    if first_location == location or _legacy_key(first_entry) != _legacy_key(entry):
                        raise Unsure(key)
                    continue
                found[key] = (name, line)
                seen[key] = (location, entry)
        if pip is None and os.path.isfile(os.path.join(location, "pip", "__init__.py")):
            pip = _pip_version(location)
    if pip is None or not FIRST_PIP <= pip < NEXT_PIP or pip[:2] == (23, 1):
        raise Unsure("pip version")
    skip = {"pip"}
    if pip < (23, 2) or python < (3, 12):
        skip |= {"setuptools", "distribute", "wheel"}
    kept = [(name, line) for key, (name, line) in found.items() if key not in skip]
    return [line for _, line in sorted(kept, key=lambda item: item[0].lower())]


def main():
    safe_path = getattr(sys.flags, "safe_path", False)
    # `python -m pip` drops its own first entry (the working directory); ours is this script's directory.
    paths = sys.path if safe_path else sys.path[1:]
    try:
        lines = freeze_lines(paths, os.environ, sys.version_info[:2])
    except (Unsure, OSError, ValueError):
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "pip", "freeze", "--disable-pip-version-check"])
    sys.stdout.write("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    main()
