#!/usr/bin/env python3
"""Build test images without Docker, in the formats `runpilot image import` reads.

  mkimage.py docker-save OUT.tar [--tag NAME]... LAYER...
  mkimage.py oci OUT [--ref NAME] [--gzip|--zstd] [--tar] LAYER...
  mkimage.py config-id OUT.tar|DIR      print the image id (sha256 of the config JSON)

A LAYER is a directory (tarred here, hard links kept) or a file used as the layer tar as it is
(hostile layers are built by the tests). docker-save writes the classic layout (manifest.json,
<id>.json, <n>/layer.tar, a repeated layer as a symlink to the first); oci writes an OCI image layout directory (or, with --tar, its tar),
its index.json naming the image with the org.opencontainers.image.ref.name annotation.
"""
import gzip, hashlib, io, json, os, subprocess, sys, tarfile


def layer_bytes(src):
    if os.path.isfile(src):
        return open(src, "rb").read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                p = os.path.join(root, name)
                t.add(p, arcname=os.path.relpath(p, src), recursive=False)
    return buf.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def config_for(layers):
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-01-02T03:04:05Z",
        "config": {"Env": ["PATH=/bin", "IMAGE_VAR=from-image"], "WorkingDir": "/work", "User": "65534"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(l) for l in layers]},
    }, sort_keys=True).encode()


def add_file(t, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1700000000
    t.addfile(info, io.BytesIO(data))


def docker_save(out, tags, layers):
    cfg = config_for(layers)
    with tarfile.open(out, "w") as t:
        add_file(t, sha(cfg) + ".json", cfg)
        names, seen = [], {}
        for i, l in enumerate(layers):
            if sha(l) in seen:  # as old docker saves did: a repeated layer is a symlink
                info = tarfile.TarInfo("%d/layer.tar" % i)
                info.type, info.linkname = tarfile.SYMTYPE, "../%d/layer.tar" % seen[sha(l)]
                t.addfile(info)
            else:
                add_file(t, "%d/layer.tar" % i, l)
                seen[sha(l)] = i
            names.append("%d/layer.tar" % i)
        add_file(t, "manifest.json", json.dumps([{"Config": sha(cfg) + ".json", "RepoTags": tags,
                                                   "Layers": names}]).encode())
    return sha(cfg)


def compress(data, how):
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
    return data


def oci(out, ref, gz, as_tar, layers):
    cfg = config_for(layers)
    blobs = {sha(cfg): cfg}
    descs = []
    for l in layers:
        data = compress(l, gz)
        blobs[sha(data)] = data
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+" + gz if gz else ""),
                      "digest": "sha256:" + sha(data), "size": len(data)})
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": "sha256:" + sha(cfg), "size": len(cfg)},
                      "layers": descs}).encode()
    blobs[sha(man)] = man
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(man),
            "size": len(man)}
    if ref:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref}
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
             "index.json": json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode()}
    for h, b in blobs.items():
        files["blobs/sha256/" + h] = b
    if as_tar:
        with tarfile.open(out, "w") as t:
            for n, b in files.items():
                add_file(t, n, b)
    else:
        for n, b in files.items():
            p = os.path.join(out, n)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            open(p, "wb").write(b)
    return sha(cfg)


def main(argv):
    kind, out, rest = argv[0], argv[1], argv[2:]
    tags, ref, gz, as_tar, srcs = [], None, None, False, []
    it = iter(rest)
    for a in it:
        if a == "--tag":
            tags.append(next(it))
        elif a == "--ref":
            ref = next(it)
        elif a in ("--gzip", "--zstd"):
            gz = a[2:]
        elif a == "--tar":
            as_tar = True
        else:
            srcs.append(a)
    layers = [layer_bytes(s) for s in srcs]
    if kind == "docker-save":
        print(docker_save(out, tags, layers))
    elif kind == "oci":
        print(oci(out, ref, gz, as_tar, layers))
    else:
        sys.exit("mkimage.py: unknown kind " + kind)


if __name__ == "__main__":
    main(sys.argv[1:])
