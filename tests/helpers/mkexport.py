#!/usr/bin/env python3
"""Write a runpilot export archive of run directories, as docs/archive-format says, for the
import tests (independent of `runpilot export`); --variant makes it hostile in one way.

  mkexport.py OUT RUN_DIR... [--gzip] [--variant NAME]

OUT "-" is standard output. Variants: abs-path, dotdot, symlink-out, symlink-abs, hardlink,
device, fifo, duplicate, larger, after-manifest, bad-hash, extra-file, missing-file,
no-manifest, tamper, uid-mismatch, no-run-json, unlisted-run, bad-manifest, empty-component.
"""
import argparse, hashlib, io, json, os, socket, stat, sys, tarfile

VARIANTS = ("abs-path dotdot symlink-out symlink-abs hardlink device fifo duplicate larger "
            "after-manifest bad-hash extra-file missing-file no-manifest tamper uid-mismatch "
            "no-run-json unlisted-run bad-manifest empty-component").split()


class Export:
    def __init__(self, tar):
        self.tar, self.files, self.total = tar, [], 0

    def info(self, name, kind, mode=0o644, mtime=1700000000, size=0, link=""):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime, ti.size, ti.linkname = kind, mode, mtime, size, link
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    def add_dir(self, name):
        self.tar.addfile(self.info(name, tarfile.DIRTYPE, 0o755))

    def add_file(self, name, data, mode=0o644, listed=True, listed_data=None, listed_size=None):
        self.tar.addfile(self.info(name, tarfile.REGTYPE, mode, size=len(data)), io.BytesIO(data))
        if listed:
            ref = data if listed_data is None else listed_data
            size = len(ref) if listed_size is None else listed_size
            self.files.append({"path": name, "size": size, "sha256": hashlib.sha256(ref).hexdigest()})
            self.total += size

    def add_link(self, name, target, listed=True):
        self.tar.addfile(self.info(name, tarfile.SYMTYPE, 0o777, link=target))
        if listed:
            self.files.append({"path": name, "symlink": target})

    def add_special(self, name, kind, link=""):
        self.tar.addfile(self.info(name, kind, link=link))
        self.files.append({"path": name, "size": 0, "sha256": hashlib.sha256(b"").hexdigest()})


def add_run(ex, run_dir, uid, variant):
    """Every directory and regular file of the run, symlinks as symlink entries."""
    base = "runs/%s" % uid
    for root, dirs, files in os.walk(run_dir):
        dirs.sort()
        rel = os.path.relpath(root, run_dir)
        prefix = base if rel == "." else "%s/%s" % (base, rel)
        ex.add_dir(prefix + "/")
        for n in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            p = os.path.join(root, n)
            name = "%s/%s" % (prefix, n)
            if n == "run.lock" or ".tmp." in n:
                continue
            if os.path.islink(p):
                ex.add_link(name, os.readlink(p))
                continue
            if not stat.S_ISREG(os.lstat(p).st_mode):
                continue
            data = open(p, "rb").read()
            mode = 0o755 if os.stat(p).st_mode & 0o100 else 0o644
            if n == "run.json" and rel == "." and variant == "uid-mismatch":
                j = json.loads(data)
                j["uid"] = "00000000-0000-4000-8000-000000000000"
                data = (json.dumps(j, indent=2) + "\n").encode()
            if n == "run.json" and rel == "." and variant == "no-run-json":
                continue
            if n == "logs.txt" and rel == "." and variant in ("tamper", "bad-hash", "larger"):
                if variant == "tamper":  # the manifest has the original, the archive a byte changed
                    changed = bytearray(data)
                    changed[0] ^= 1
                    ex.add_file(name, bytes(changed), mode, listed_data=data)
                elif variant == "bad-hash":
                    ex.add_file(name, data, mode, listed_data=data + b"x", listed_size=len(data))
                else:
                    ex.add_file(name, data + b"more than listed", mode, listed_data=data)
                continue
            ex.add_file(name, data, mode)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]


def hostile(ex, uid, variant):
    base = "runs/%s" % uid
    if variant == "abs-path":
        ex.add_file("/tmp/runpilot-import-evil", b"evil\n")
    elif variant == "dotdot":
        ex.add_file(base + "/../../evil", b"evil\n")
    elif variant == "empty-component":
        ex.add_file(base + "//evil", b"evil\n")
    elif variant == "symlink-out":
        ex.add_link(base + "/outputs/escape", "../../../etc")
    elif variant == "symlink-abs":
        ex.add_link(base + "/outputs/passwd", "/etc/passwd")
    elif variant == "hardlink":
        ex.add_special(base + "/outputs/hard", tarfile.LNKTYPE, link=base + "/logs.txt")
    elif variant == "device":
        ex.add_special(base + "/outputs/null", tarfile.CHRTYPE)
    elif variant == "fifo":
        ex.add_special(base + "/outputs/fifo", tarfile.FIFOTYPE)
    elif variant == "duplicate":
        ex.add_file(base + "/logs.txt", b"second copy\n")
    elif variant == "extra-file":
        ex.add_file(base + "/outputs/unlisted.bin", b"not in the manifest\n", listed=False)
    elif variant == "missing-file":
        ex.files.append({"path": base + "/outputs/gone.bin", "size": 3,
                         "sha256": hashlib.sha256(b"abc").hexdigest()})
        ex.total += 3
    elif variant == "unlisted-run":
        other = "11111111-2222-4333-8444-555555555555"
        ex.add_dir("runs/%s/" % other)
        ex.add_file("runs/%s/run.json" % other, b'{"uid": "%s"}\n' % other.encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--variant", choices=VARIANTS)
    a = ap.parse_args()
    out = sys.stdout.buffer if a.out == "-" else open(a.out, "wb")
    tar = tarfile.open(fileobj=out, mode="w|gz" if a.gzip else "w|", format=tarfile.PAX_FORMAT)
    ex = Export(tar)
    runs = []
    for d in a.runs:
        rec = json.load(open(os.path.join(d, "run.json")))
        runs.append({"uid": rec["uid"], "id": rec["id"], "name": rec.get("name"), "status": rec["status"]})
        add_run(ex, d, rec["uid"], a.variant)
    if a.variant:
        hostile(ex, runs[0]["uid"], a.variant)
    manifest = {"format": "runpilot-export", "format_version": 1, "runpilot_version": "0.1.0",
                "created": "2026-12-03T12:00:00Z", "host": socket.gethostname(), "no_outputs": False,
                "runs": runs, "files": ex.files, "total_bytes": ex.total}
    if a.variant == "bad-manifest":
        manifest["files"] = "everything"
    if a.variant != "no-manifest":
        data = (json.dumps(manifest, indent=1) + "\n").encode()
        tar.addfile(ex.info("MANIFEST.json", tarfile.REGTYPE, size=len(data)), io.BytesIO(data))
    if a.variant == "after-manifest":
        data = b"late\n"
        tar.addfile(ex.info("runs/%s/late.txt" % runs[0]["uid"], tarfile.REGTYPE, size=len(data)),
                    io.BytesIO(data))
    tar.close()
    if out is not sys.stdout.buffer:
        out.close()


if __name__ == "__main__":
    main()
