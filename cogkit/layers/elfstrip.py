"""Drop what only debuggers read from the runtime's compiled extensions (a stdlib-only script).

Wheels such as aiohttp's ship their `.so` files with DWARF debug info: 10 of the runtime's 25 MB.
`strip` is binutils, which python:*-slim and many bases lack, so the staging step runs this instead,
inside the build: for each ELF64 little-endian file, keep the bytes every loaded segment covers and the
sections the loader can see (SHF_ALLOC), drop the rest (debug info, .symtab, .comment), and rewrite
the section header table. That is `strip --strip-all` for shared objects, and it refuses (leaving
the file as it was) whenever the layout is not the plain one it understands. Each stripped file is
then loaded with dlopen(RTLD_NOW) before it replaces the original.

    python3 elfstrip.py DIR...     (prints "stripped N files: A -> B bytes")
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import tempfile

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
SHDR = struct.Struct("<IIQQQQIIQQ")
PHDR = struct.Struct("<IIQQQQQQ")
SHF_ALLOC = 0x2
SHF_INFO_LINK = 0x40
SHT_NOBITS = 8
SHT_RELA, SHT_REL = 4, 9


def strip_bytes(data: bytes) -> bytes | None:
    """The stripped image of an ELF64 LE file, or None when it is not one or not a plain layout."""
    if len(data) < EHDR.size or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    (ident, e_type, machine, version, entry, phoff, shoff, flags, ehsize, phentsize, phnum,
     shentsize, shnum, shstrndx) = EHDR.unpack_from(data)  # fmt: skip
    if shentsize != SHDR.size or phentsize != PHDR.size or not 0 < shstrndx < shnum:
        return None
    if shoff + shnum * SHDR.size > len(data) or phoff + phnum * PHDR.size > len(data):
        return None
    sections = [list(SHDR.unpack_from(data, shoff + i * SHDR.size)) for i in range(shnum)]
    cut = max(EHDR.size, phoff + phnum * PHDR.size)
    for i in range(phnum):
        _, _, p_offset, _, _, p_filesz, _, _ = PHDR.unpack_from(data, phoff + i * PHDR.size)
        cut = max(cut, p_offset + p_filesz)
    keep = [0] + [i for i in range(1, shnum) if sections[i][2] & SHF_ALLOC]
    if keep != list(range(len(keep))):
        return None  # a non-loaded section sits between loaded ones: renumbering would break symbols
    for i in keep:
        _, kind, _, _, offset, size, _, _, _, _ = sections[i]
        if kind != SHT_NOBITS and offset + size > cut:
            return None
    if shnum - len(keep) <= 1:
        return None  # nothing to drop but the name table
    for i in keep:
        _, kind, sh_flags, _, _, _, link, info, _, _ = sections[i]
        refers_to_info = kind in (SHT_RELA, SHT_REL) or sh_flags & SHF_INFO_LINK
        if link >= len(keep) or (refers_to_info and info >= len(keep)):
            return None
    names = sections[shstrndx]
    out = bytearray(data[:cut])
    names_offset = len(out)
    out += data[names[4] : names[4] + names[5]]
    out += b"\0" * (-len(out) % 8)
    table_offset = len(out)
    for i in keep:
        out += SHDR.pack(*sections[i])
    out += SHDR.pack(names[0], names[1], names[2], 0, names_offset, names[5], 0, 0, 1, 0)
    EHDR.pack_into(
        out, 0, ident, e_type, machine, version, entry, phoff, table_offset, flags, ehsize, phentsize,
        phnum, shentsize, len(keep) + 1, len(keep),
    )  # fmt: skip
    return bytes(out)


def strip_file(path: str) -> int:
    """Strip one file in place when that is safe and it still loads; returns the bytes saved."""
    with open(path, "rb") as fh:
        data = fh.read()
    stripped = strip_bytes(data)
    if stripped is None or len(stripped) >= len(data):
        return 0
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".so")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(stripped)
        os.chmod(temp, os.stat(path).st_mode & 0o7777)
        ctypes.CDLL(temp, mode=os.RTLD_NOW)  # it must still load, with every symbol resolved
        os.replace(temp, path)
    except OSError:
        os.unlink(temp)
        return 0
    return len(data) - len(stripped)


def main(roots: list[str]) -> int:
    count = saved = 0
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                if ".so" in name:
                    gained = strip_file(os.path.join(folder, name))
                    count += gained > 0
                    saved += gained
    print(f"stripped {count} files, {saved} bytes saved")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
