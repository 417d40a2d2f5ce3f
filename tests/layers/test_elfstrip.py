"""elfstrip: real extension modules get smaller, still load and still work; anything odd is left alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from cogkit.layers import elfstrip


def _yaml_extension() -> Path:
    """PyYAML's libyaml binding: a real wheel-built .so that carries debug info."""
    folder = Path(yaml.__file__).parent
    return next(p for p in folder.iterdir() if p.name.startswith("_yaml.") and ".so" in p.name)


def test_a_real_extension_is_stripped_and_still_imports(tmp_path: Path) -> None:
    package = tmp_path / "yaml"
    shutil.copytree(Path(yaml.__file__).parent, package)
    extension = package / _yaml_extension().name
    before = extension.stat().st_size
    readelf_before = subprocess.run(["readelf", "-S", "-W", str(extension)], capture_output=True, text=True)

    assert elfstrip.main([str(tmp_path)]) == 0
    after = extension.stat().st_size
    assert after < before
    if ".debug_info" in readelf_before.stdout:  # binutils can read the result, and the debug info is gone
        readelf = subprocess.run(["readelf", "-S", "-W", str(extension)], capture_output=True, text=True)
        assert readelf.returncode == 0 and ".debug_info" not in readelf.stdout and ".text" in readelf.stdout
    check = (
        "import yaml, sys; assert yaml.__file__.startswith(sys.argv[1]), yaml.__file__; "
        "print(yaml.load('a: [1, 2]', Loader=yaml.CSafeLoader))"
    )
    ran = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, sys.argv[1]); {check}", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "{'a': [1, 2]}"
    assert elfstrip.strip_bytes(extension.read_bytes()) is None  # a second pass finds nothing to drop


def test_non_elf_and_damaged_files_are_left_as_they_were(tmp_path: Path) -> None:
    text = tmp_path / "also.something.py"
    text.write_text("print('not an ELF file')\n")
    truncated = tmp_path / "cut.so"
    truncated.write_bytes(_yaml_extension().read_bytes()[:200])
    elfstrip.main([str(tmp_path)])
    assert text.read_text() == "print('not an ELF file')\n"
    assert truncated.read_bytes() == _yaml_extension().read_bytes()[:200]
    assert elfstrip.strip_bytes(b"\x7fELF\x01\x01" + b"\0" * 100) is None  # 32-bit: not handled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["also.something.py", "cut.so"]  # no temp left
