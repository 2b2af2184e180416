#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (native/fuzz), from the real checkpoints torch wrote (npm run fixtures).

  make_seeds.py FIXTURES_DIR OUT_DIR   writes OUT_DIR/{fuzz_unpickler,fuzz_zip_reader,fuzz_safetensors_header}/

fuzz_zip_reader: every small .pth / .pth.tar / .safetensors file whole, and cut short at a few places (a record's
data, the central directory, the end records), since libFuzzer explores from what it is given.
fuzz_unpickler: the data.pkl record of each zip checkpoint and the pickles at the start of each legacy one.
fuzz_safetensors_header: the JSON header of each safetensors file. Standard library only.
"""
import hashlib
import pathlib
import pickletools
import struct
import sys
import zipfile

MAX_SEED = 64 << 10  # larger files (a whole model) make slow seeds and add little


def write(folder: pathlib.Path, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def pickle_length(data: bytes) -> int:
    """Bytes up to and including the first pickle's STOP, or MAX_SEED where that cannot be told."""
    try:
        for opcode, _arg, position in pickletools.genops(data):
            if opcode.name == 'STOP':
                return position + 1
    except Exception:  # noqa: BLE001 - not a pickle from here: a seed of the usual size will do
        pass
    return MAX_SEED


def main() -> None:
    fixtures, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    suffixes = ('.pth', '.pth.tar', '.safetensors')
    files = sorted(p for p in fixtures.rglob('*') if p.is_file() and p.name.endswith(suffixes))
    for path in files:
        data = path.read_bytes()
        if data.startswith(b'PK\x03\x04'):
            try:
                with zipfile.ZipFile(path) as archive:
                    for info in archive.infolist():
                        if info.filename.endswith('data.pkl') and info.file_size <= MAX_SEED:
                            write(out / 'fuzz_unpickler', archive.read(info))
            except zipfile.BadZipFile:
                pass  # the broken-*.pth fixtures, still good seeds for the zip reader
        elif data.startswith(b'\x80\x02'):
            # The legacy format: a magic-number pickle, a protocol pickle, a system-info pickle, then the state dict
            # pickle; each seed starts at one of them (the unpickler stops at the first STOP).
            # Each is cut after its STOP, so that mutations land in the pickle rather than in the storages after it.
            for start in [i for i in range(len(data) - 1) if data[i:i + 2] == b'\x80\x02'][:4]:
                write(out / 'fuzz_unpickler', data[start:start + pickle_length(data[start:])])
        elif len(data) >= 8:
            (length,) = struct.unpack('<Q', data[:8])
            if length <= MAX_SEED and 8 + length <= len(data):
                write(out / 'fuzz_safetensors_header', data[8:8 + length])
        if len(data) > MAX_SEED:
            continue
        write(out / 'fuzz_zip_reader', data)
        for cut in (len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 22, len(data) - 1):
            if 0 < cut < len(data):
                write(out / 'fuzz_zip_reader', data[:cut])


if __name__ == '__main__':
    main()
