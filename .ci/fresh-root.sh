#!/usr/bin/env bash
# Proves the README's two commands on a brand-new Debian 12: builds a fresh root file system with
# debootstrap (minbase, plus what a new cloud image has for a user who clones and builds: git, make,
# sudo, ca-certificates) from the mirror this machine's apt uses, copies in a clean clone of the
# checkout and ../shared, and runs inside it, as an ordinary user with sudo:
#   make demo            (installs every package qforge needs, builds, runs the demo)
#   make test ARGS       (plain + ASan/UBSan suites, install check; ARGS from $QF_FRESH_ROOT_TEST_ARGS,
#                         CI's "CI=true WERROR=ON" adds -Werror and the libFuzzer smoke run)
#   a build of the libFuzzer targets, unless make test already built and ran them
# Nothing is cached between runs: a package or file the scripts forget to install fails here.
# Needs root (debootstrap, chroot, mounts). Prints each step's wall time.
#   usage: .ci/fresh-root.sh [ROOT_DIR]     (default: a new folder under /var/tmp, removed at exit)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
shared=$(cd "$repo/.." && pwd)/shared

if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-root: needs root (debootstrap, chroot, mount)" >&2
  exit 1
fi

now() { date +%s; }
step_start=0
step() { step_start=$(now); printf '\nfresh-root: %s\n' "$*"; }
step_done() { printf 'fresh-root: done in %d s\n' $(( $(now) - step_start )); }
total_start=$(now)

# The mirror apt already uses (deb822 sources or a classic sources.list).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ {print $2; exit}' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}

if ! command -v debootstrap >/dev/null 2>&1; then
  step "installing debootstrap on the host"
  log=$(mktemp /tmp/qforge-debootstrap-apt.XXXXXX)
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update && \
         DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap; } > "$log" 2>&1; then
    tail -n 25 "$log"; echo "fresh-root: could not install debootstrap (log: $log)" >&2; exit 1
  fi
  step_done
fi

root=${1:-$(mktemp -d /var/tmp/qforge-fresh-root.XXXXXX)}
chmod 0755 "$root" # mktemp makes it 0700: the user inside could not reach /
mounted=()
keep_root=${1:+1}
# Ends every process whose root directory is the fresh root (an interrupted make test leaves its
# test runner there, starting new tests), until none is left.
kill_root_processes() {
  local round p r found
  for round in 1 2 3 4 5 6 7 8 9 10; do
    found=0
    for p in /proc/[0-9]*; do
      r=$(readlink "$p/root" 2>/dev/null) || continue
      case $r in "$root"|"$root"/*) kill -9 "${p#/proc/}" 2>/dev/null; found=1 ;; esac
    done
    [ $found -eq 0 ] && return 0
    sleep 0.5
  done
}
cleanup() {
  local i
  kill_root_processes
  for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  if [ -z "$keep_root" ] && [ -z "${QF_FRESH_ROOT_KEEP:-}" ]; then rm -rf --one-file-system "$root"; fi
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "debootstrap Debian 12 (bookworm, minbase) from $mirror into $root"
log=$(mktemp /tmp/qforge-debootstrap.XXXXXX)
if ! debootstrap --variant=minbase --include=ca-certificates,git,make,sudo bookworm "$root" "$mirror" > "$log" 2>&1; then
  tail -n 25 "$log"; echo "fresh-root: debootstrap failed (log: $log)" >&2; exit 1
fi
step_done

# apt sources as on a new machine: the release, its updates and security, from the same mirror
# host; name resolution from the host.
security=${mirror%/debian}/debian-security
[ "$security" = "$mirror/debian-security" ] && security=http://deb.debian.org/debian-security
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
# What every machine of this network has before any project runs: the certificate authorities of
# its egress proxy (npm's registry is reached over TLS through it) and apt's acceptance of mirror
# snapshots whose Release files have expired. Machine setup, not qforge dependencies.
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates > /dev/null 2>&1
fi
for f in /etc/apt/apt.conf.d/*; do
  if grep -q -E '^Acquire::Check-(Valid-Until|Date)' "$f" 2>/dev/null; then
    grep -E '^Acquire::Check-(Valid-Until|Date)' "$f" > "$root/etc/apt/apt.conf.d/99host-mirror-dates"
  fi
done

# /dev is the host's (private, so nothing mounted below it reaches the host), with its own
# /dev/pts and a fresh /dev/shm as every machine has one (clang's OpenMP runtime registers itself
# there and stops when it cannot).
for m in proc sys dev dev/pts dev/shm; do
  mkdir -p "$root/$m"
  case $m in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount -t sysfs sys "$root/sys" ;;
    dev) mount --bind /dev "$root/dev" && mount --make-private "$root/dev" ;;
    dev/pts) mount --bind /dev/pts "$root/dev/pts" ;;
    dev/shm) mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm" ;;
  esac
  mounted+=("$root/$m")
done

# A user as a cloud image has one: no root, sudo without a password.
chroot "$root" useradd -m -s /bin/bash dev
echo 'dev ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/dev"
chmod 0440 "$root/etc/sudoers.d/dev"

step "copying a clean clone of the checkout ($(git rev-parse --short HEAD)) and ../shared"
mkdir -p "$root/home/dev/work"
git clone -q "$repo" "$root/home/dev/work/main"
if [ -d "$shared" ]; then
  mkdir -p "$root/home/dev/work/shared"
  cp -a "$shared/." "$root/home/dev/work/shared/"
else
  echo "fresh-root: $shared is absent; the tests that need it will say they skip"
fi
chroot "$root" chown -R dev:dev /home/dev/work
step_done

in_root() {
  chroot "$root" /usr/bin/env -i HOME=/home/dev USER=dev LOGNAME=dev PATH=/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 TERM=dumb su dev -c "cd /home/dev/work/main && $1"
}

step "make demo"
in_root "make demo"
step_done

test_args=${QF_FRESH_ROOT_TEST_ARGS:-}
case $test_args in
  *[!A-Za-z0-9_=\ .-]*) echo "fresh-root: QF_FRESH_ROOT_TEST_ARGS may hold only make variable assignments" >&2; exit 2 ;;
esac
step "make test $test_args"
in_root "make test $test_args"
step_done

case " $test_args " in
  *" CI=true "*) ;; # make test built every fuzz target and ran each
  *)
    step "building every libFuzzer target (clang, ASan + UBSan)"
    in_root "QF_FUZZ_BUILD_ONLY=1 bash tests/fuzz/run_smoke.sh"
    step_done
    ;;
esac

printf '\nfresh-root: the README commands passed on a fresh Debian 12 in %d s\n' $(( $(now) - total_start ))
