#!/usr/bin/env python3
"""Packages a built meshguard.wasm as an OCI image Istio can pull, without Docker.

    python3 istio/oci-image.py target/meshguard.wasm target/oci --tag 0.1.0

writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) holding one image in the
"compat" variant of the Wasm image spec that Istio's WasmPlugin reads: a single tar+gzip layer
with the module as `plugin.wasm`, and the annotation `module.wasm.image/variant: compat`. Push it
with any OCI tool, e.g.

    skopeo copy oci:target/oci:0.1.0 docker://registry.example.com/meshguard:0.1.0
    crane push target/oci registry.example.com/meshguard:0.1.0

The output is byte-for-byte reproducible (fixed timestamps, owners and gzip header), so the
same module always gives the same digests. Standard library only.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(module):
    """An uncompressed tar holding `plugin.wasm`, with fixed metadata."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("plugin.wasm")
        info.size = len(module)
        info.mode = 0o444
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(module))
    return out.getvalue()


def build(module, tag):
    """Returns {digest: blob} and the index document for one image."""
    tar = layer_tar(module)
    layer = gzip.compress(tar, compresslevel=9, mtime=0)
    config = json.dumps(
        {
            "architecture": "wasm",
            "os": "wasip1",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [digest(tar)]},
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": digest(layer), "size": len(layer)}],
            "annotations": {
                "module.wasm.image/variant": "compat",
                "org.opencontainers.image.title": "meshguard",
            },
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": MANIFEST,
                "digest": digest(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    blobs = {digest(b): b for b in (layer, config, manifest)}
    return blobs, index


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="the built .wasm")
    parser.add_argument("out", help="output directory (an OCI image layout)")
    parser.add_argument("--tag", default="latest", help="reference name in index.json")
    args = parser.parse_args()
    with open(args.module, "rb") as f:
        module = f.read()
    if module[:4] != b"\0asm":
        sys.exit(f"{args.module}: not a WebAssembly module")
    blobs, index = build(module, args.tag)
    os.makedirs(os.path.join(args.out, "blobs", "sha256"), exist_ok=True)
    for name, blob in blobs.items():
        with open(os.path.join(args.out, "blobs", "sha256", name.split(":")[1]), "wb") as f:
            f.write(blob)
    with open(os.path.join(args.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
    manifest = index["manifests"][0]["digest"]
    print(f"{args.out}: OCI image layout, tag {args.tag}, manifest {manifest}")
    print(f"module sha256 {hashlib.sha256(module).hexdigest()} ({len(module)} bytes)")


if __name__ == "__main__":
    main()
