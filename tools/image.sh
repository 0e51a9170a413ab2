#!/usr/bin/env bash
# Builds berth's OCI image on this machine, with no container registry and no base image: a root
# filesystem made here from the built binaries and exactly the shared libraries they load (their ldd
# closure and the dynamic loader), CA certificates, a non-root user and /opt/ml/model, turned into an
# image by `buildah bud --isolation chroot` FROM scratch. No compiler, shell or Python is in it.
#
#   tools/image.sh [--build-dir DIR] [--out FILE] [--tag NAME] [--storage-root DIR] [--rootfs DIR]
#
#   --build-dir DIR     the CMake build to take berth and berth-token from (default: build). A build
#                       with the CUDA backend makes the CUDA image: the CUDA runtime and cuBLAS
#                       libraries berth links are copied in; libcuda.so.1 is the host driver's and
#                       comes from the NVIDIA container toolkit at run time.
#   --out FILE          the OCI archive to write (default: build-image/berth-FLAVOUR.oci.tar)
#   --tag NAME          the image's name in buildah's storage (default: localhost/berth:FLAVOUR)
#   --storage-root DIR  keep buildah's storage in DIR instead of the system's (/var/lib/containers)
#   --rootfs DIR        only stage the root filesystem into DIR (a new folder); no buildah needed
#
# Run the result with `podman run -p 8080:8080 -v MODEL:/opt/ml/model IMAGE serve`, load it with
# `skopeo copy oci-archive:FILE docker-daemon:berth:cpu` or push it (docs/deployment.md).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

build="$root/build" out="" tag="" storage="" rootfs_only=""
while (($#)); do
  case "$1" in
    --build-dir) build=$(cd "$2" && pwd); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --storage-root) storage=$2; shift 2 ;;
    --rootfs) rootfs_only=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "image.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

binaries=("$build/server/cli/berth" "$build/tools/token/berth-token")
for b in "${binaries[@]}"; do
  [ -x "$b" ] || { echo "image.sh: $b is missing: build it first (cmake --build $build --target berth berth-token)" >&2; exit 1; }
done
for t in ldd strip tar; do
  command -v "$t" >/dev/null || { echo "image.sh: '$t' is needed (Debian: binutils, libc-bin, tar)" >&2; exit 1; }
done

# Libraries the driver provides on a GPU host (the NVIDIA container toolkit mounts them); never copied.
driver_libs='^(libcuda\.so\.1|libnvidia-ml\.so\.1)$'

# Libraries loaded with dlopen, which ldd cannot see: glibc loads libgcc_s for the unwinding that
# pthread_exit and thread cancellation do (OpenMP's and the server's threads end that way).
dlopened=(libgcc_s.so.1)

# Every shared library the binaries load, as "NAME PATH" (PATH as the loader resolves it), and the
# dynamic loader itself as "- PATH". A library ldd cannot find fails the build unless it is the driver's.
closure() {
  local b line name path
  for b in "$@"; do
    while IFS= read -r line; do
      if [[ $line =~ ^[[:space:]]*([^[:space:]]+)\ =\>\ not\ found ]]; then
        name=${BASH_REMATCH[1]}
        [[ $name =~ $driver_libs ]] && continue
        echo "image.sh: $b needs $name, which ldd cannot find on this machine" >&2
        return 1
      elif [[ $line =~ ^[[:space:]]*([^[:space:]]+)\ =\>\ (/[^[:space:]]+) ]]; then
        name=${BASH_REMATCH[1]} path=${BASH_REMATCH[2]}
        [[ $name =~ $driver_libs ]] && continue
        echo "$name $path"
      elif [[ $line =~ ^[[:space:]]*(/[^[:space:]]+)\ \( ]]; then
        echo "- ${BASH_REMATCH[1]}"
      fi
    done < <(ldd "$b")
  done | sort -u
}

# Libraries go where the loader looks without a cache or a search path: Debian's multiarch folder
# (also where the NVIDIA container toolkit puts the driver's libraries), under the name asked for.
libdir=usr/lib/x86_64-linux-gnu

# The loader goes where binaries name it (PT_INTERP), in the folder's real path, so /lib64 becomes
# usr/lib64 as on merged-/usr Debian (the image has the same lib -> usr/lib links).
put_loader() {
  local rootfs=$1 path=$2 dir
  dir=$(realpath "$(dirname "$path")")
  mkdir -p "$rootfs$dir"
  cp -L "$path" "$rootfs$dir/$(basename "$path")"
}

stage_rootfs() {
  local rootfs=$1 name path b
  [ ! -e "$rootfs" ] || { echo "image.sh: $rootfs exists; give a new folder" >&2; return 1; }
  mkdir -p "$rootfs"/{usr/bin,usr/lib,usr/lib64,etc/ssl/certs,opt/ml/model,tmp,proc,sys,dev,home/berth}
  ln -s usr/lib "$rootfs/lib"
  ln -s usr/lib64 "$rootfs/lib64"
  ln -s usr/bin "$rootfs/bin"
  chmod 1777 "$rootfs/tmp"
  for b in "${binaries[@]}"; do
    strip --strip-unneeded -o "$rootfs/usr/bin/$(basename "$b")" "$b"
  done
  closure "${binaries[@]}" > "$rootfs.libs"
  for name in "${dlopened[@]}"; do
    path=$(ldconfig -p | awk -v n="$name" '$1 == n && /x86-64/ { print $NF; exit }')
    [ -n "$path" ] || { echo "image.sh: $name (loaded at run time) is not on this machine" >&2; return 1; }
    echo "$name $path" >> "$rootfs.libs"
    closure "$path" >> "$rootfs.libs"
  done
  mkdir -p "$rootfs/$libdir"
  while read -r name path; do
    if [ "$name" = - ]; then put_loader "$rootfs" "$path"; else cp -L "$path" "$rootfs/$libdir/$name"; fi
  done < "$rootfs.libs"
  rm "$rootfs.libs"
  local ca=/etc/ssl/certs/ca-certificates.crt
  [ -f "$ca" ] || { echo "image.sh: $ca is missing (Debian: ca-certificates)" >&2; return 1; }
  cp "$ca" "$rootfs/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nberth:x:1000:1000:berth:/home/berth:/usr/sbin/nologin\n' \
    > "$rootfs/etc/passwd"
  printf 'root:x:0:\nberth:x:1000:\n' > "$rootfs/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
  printf '%s\n' "berth $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)" \
    "flavour $(flavour_of "$rootfs")" > "$rootfs/etc/berth-image"
}

flavour_of() {
  if find "$1" -name 'libcudart.so*' | grep -q .; then echo cuda; else echo cpu; fi
}

if [ -n "$rootfs_only" ]; then
  stage_rootfs "$rootfs_only"
  echo "image.sh: root filesystem in $rootfs_only ($(du -sh "$rootfs_only" | cut -f1))"
  exit 0
fi

command -v buildah >/dev/null || { echo "image.sh: buildah is needed (Debian: apt-get install buildah)" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
stage_rootfs "$ctx/rootfs"
flavour=$(flavour_of "$ctx/rootfs")
out=${out:-$root/build-image/berth-$flavour.oci.tar}
tag=${tag:-localhost/berth:$flavour}
mkdir -p "$(dirname "$out")"
# Two layers' worth of tar files so ownership is right without chown (and without root): everything
# is root's except the user's home, where the S3 download cache goes.
tar -C "$ctx/rootfs" --numeric-owner --owner=0 --group=0 --exclude=./home/berth -cf "$ctx/rootfs.tar" .
tar -C "$ctx/rootfs" --numeric-owner --owner=1000 --group=1000 -cf "$ctx/home.tar" ./home/berth
cat > "$ctx/Containerfile" <<'EOF'
FROM scratch
ADD rootfs.tar /
ADD home.tar /
ENV PATH=/usr/bin HOME=/home/berth XDG_CACHE_HOME=/home/berth/.cache
USER 1000:1000
WORKDIR /home/berth
EXPOSE 8080
ENTRYPOINT ["/usr/bin/berth"]
CMD ["serve"]
LABEL org.opencontainers.image.title="berth" \
      org.opencontainers.image.description="berth: OpenAI-compatible LLM inference server (SageMaker container contract: <image> serve on port 8080, model in /opt/ml/model)"
EOF
store=()
[ -z "$storage" ] || store=(--root "$storage/root" --runroot "$storage/run" --storage-driver vfs)
buildah "${store[@]}" bud --isolation chroot --timestamp 0 --format oci -q -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
rm -f "$out"
buildah "${store[@]}" push -q "$tag" "oci-archive:$out:$tag"
echo "image.sh: $tag ($flavour) in buildah's storage and in $out"
echo "image.sh: root filesystem $(du -sh --apparent-size "$ctx/rootfs" | cut -f1), archive $(du -sh --apparent-size "$out" | cut -f1)"
