#!/usr/bin/env bash
# Build a tiny OCI image tarball from Debian's busybox-static: no registry needed.
#
#   scripts/build-test-image.sh OUT.tar [IMAGE_NAME]
#
# The image holds /bin/busybox and /bin/sh (a symlink); its layer is an
# uncompressed tar built deterministically (sorted, mtime 0, root-owned), so the
# same busybox gives the same digests. Import it with
#   ctr -a SOCK -n NS images import OUT.tar
# (which also unpacks it for the default snapshotter).
set -euo pipefail
out=${1:?usage: build-test-image.sh OUT.tar [IMAGE_NAME]}
name=${2:-docker.io/crest/busybox:test}
busybox=${BUSYBOX:-/bin/busybox}
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked' && ! ldd "$busybox" 2>&1 | grep -q 'not a dynamic'; then
  echo "build-test-image: $busybox is not a static binary (apt-get install busybox-static)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/www" "$work/rootfs/tmp" "$work/oci/blobs/sha256"
cp "$busybox" "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/sh"
echo ok > "$work/rootfs/www/index.html"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/layer.tar" .
blob() { # file media -> prints "digest size"
  local d s
  d=$(sha256sum "$1" | cut -d' ' -f1); s=$(stat -c %s "$1")
  cp "$1" "$work/oci/blobs/sha256/$d"
  echo "$d $s"
}
read -r ld ls < <(blob "$work/layer.tar")
cat > "$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:$ld"]},"history":[{"created_by":"crest build-test-image.sh (busybox-static)"}]}
JSON
read -r cd cs < <(blob "$work/config.json")
cat > "$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$cd","size":$cs},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$ld","size":$ls}]}
JSON
read -r md ms < <(blob "$work/manifest.json")
tag=${name##*:}
cat > "$work/oci/index.json" <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$md","size":$ms,"annotations":{"io.containerd.image.name":"$name","org.opencontainers.image.ref.name":"$tag"}}]}
JSON
echo '{"imageLayoutVersion":"1.0.0"}' > "$work/oci/oci-layout"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/oci" -cf "$out" .
echo "built $out: $name manifest sha256:$md layer sha256:$ld ($ls bytes)" >&2
