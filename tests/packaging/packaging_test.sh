#!/bin/bash
# What `cmake --install` and the Debian package put where (packaging/), run
# against a built tree:
#   packaging_test.sh install BUILD_DIR  an install under a prefix and one
#                                        with DESTDIR; modes, paths in the
#                                        units, man pages; systemd-analyze
#                                        verify on the units
#   packaging_test.sh deb BUILD_DIR      cpack's .deb: Depends, contents and
#                                        modes; installed with dpkg into a
#                                        scratch root, its binary serving on
#                                        loopback; removed and purged, which
#                                        leaves nothing of ours
# Exit 77 (ctest: skipped) when a tool it needs is missing, saying which.
set -u
mode=$1
build=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/playcount-packaging-XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
skip() {
  echo "SKIPPED: $*"
  exit 77
}
# expect_mode FILE MODE: the file's permission bits (stat %a) are MODE.
expect_mode() {
  local got
  got=$(stat -c %a "$1" 2>/dev/null)
  [ "$got" = "$2" ] || fail "$1: mode ${got:-missing}, not $2"
}
# verify_units UNIT...: systemd-analyze verify says nothing about them (it
# exits 0 on values it ignores, so any output is a failure). It needs no
# running systemd.
verify_units() {
  local out
  out=$(systemd-analyze verify --man=no "$@" 2>&1) || fail "systemd-analyze verify failed: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
}

case $mode in
install)
  prefix=$work/prefix
  cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log"; fail "cmake --install --prefix failed"; exit 1; }
  expect_mode "$prefix/bin/playcount" 755
  expect_mode "$prefix/etc/default/playcount" 600
  for unit in playcount.service playcount-worker@.service; do
    expect_mode "$prefix/lib/systemd/system/$unit" 644
  done
  for page in playcount playcount-count playcount-serve playcount-worker; do
    expect_mode "$prefix/share/man/man1/$page.1" 644
  done
  # The units name what this install put in place.
  server_unit=$prefix/lib/systemd/system/playcount.service
  worker_unit=$prefix/lib/systemd/system/playcount-worker@.service
  grep -qx "ExecStart=$prefix/bin/playcount serve .*" "$server_unit" ||
    fail "ExecStart of playcount.service: $(grep ExecStart "$server_unit")"
  grep -qx "EnvironmentFile=$prefix/etc/default/playcount" "$server_unit" ||
    fail "EnvironmentFile of playcount.service"
  grep -qx "ExecStart=$prefix/bin/playcount worker --join \${PLAYCOUNT_JOIN} .*" \
    "$worker_unit" || fail "ExecStart of playcount-worker@.service"
  grep -qx "EnvironmentFile=$prefix/etc/default/playcount-worker-%i" \
    "$worker_unit" || fail "the worker's own EnvironmentFile"
  for setting in Type=notify DynamicUser=yes StateDirectory=playcount \
    ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes ProtectHome=yes \
    '#MemoryMax=8G'; do
    grep -qx "$setting" "$server_unit" || fail "playcount.service lacks $setting"
  done
  # The man pages are --help's text: every option of serve is in its page.
  for option in $("$build/bin/playcount" serve --help |
    grep -o '^  --[a-z-]*'); do
    grep -q -- "${option//-/\\\\-}" "$prefix/share/man/man1/playcount-serve.1" ||
      fail "playcount-serve.1 lacks $option"
  done
  grep -q '^\.SH SYNOPSIS' "$prefix/share/man/man1/playcount-worker.1" ||
    fail "playcount-worker.1 has no SYNOPSIS"
  # Installing again keeps an operator's settings.
  echo "PLAYCOUNT_API_TOKEN=mine" >>"$prefix/etc/default/playcount"
  cmake --install "$build" --prefix "$prefix" >/dev/null 2>&1 ||
    fail "installing again failed"
  grep -qx "PLAYCOUNT_API_TOKEN=mine" "$prefix/etc/default/playcount" ||
    fail "installing again overwrote etc/default/playcount"
  # Prefix /usr with DESTDIR (make install DESTDIR=...): settings in /etc.
  DESTDIR=$work/dest cmake --install "$build" --prefix /usr >/dev/null 2>&1 ||
    fail "cmake --install with DESTDIR failed"
  expect_mode "$work/dest/etc/default/playcount" 600
  expect_mode "$work/dest/usr/bin/playcount" 755
  grep -qx "EnvironmentFile=/etc/default/playcount" \
    "$work/dest/usr/lib/systemd/system/playcount.service" ||
    fail "with the prefix /usr, the unit reads /etc/default/playcount"
  if command -v systemd-analyze >/dev/null; then
    verify_units "$server_unit" "$worker_unit"
  else
    echo "systemd-analyze is not installed: the units are not verified"
  fi
  ;;
deb)
  for tool in cpack dpkg dpkg-deb dpkg-shlibdeps; do
    command -v $tool >/dev/null || skip "$tool is not installed (dpkg-dev)"
  done
  cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/cpack" \
    >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack failed"; exit 1; }
  deb=$(ls "$work"/cpack/playcount_*.deb)
  # Runtime dependencies, as dpkg-shlibdeps found them in the binary.
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "Depends: $depends"
  for lib in libcaf-core libcaf-io libpistache libspdlog libboost-json libcsv \
    libisal libzstd libsystemd0 libssl; do
    [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib"
  done
  [ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = \
    /etc/default/playcount ] || fail "conffiles is not /etc/default/playcount"
  # Only its own paths; the settings root's alone.
  dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >"$work/contents"
  while read -r perms owner path; do
    case $path in
    ./ | ./etc/ | ./etc/default/ | ./usr/ | ./usr/bin/ | ./usr/lib/ | \
      ./usr/lib/systemd/ | ./usr/lib/systemd/system/ | ./usr/share/ | \
      ./usr/share/man/ | ./usr/share/man/man1/) ;;
    ./etc/default/playcount)
      [ "$perms $owner" = "-rw------- root/root" ] ||
        fail "$path is $perms $owner, not -rw------- root/root" ;;
    ./usr/bin/playcount)
      [ "$perms $owner" = "-rwxr-xr-x root/root" ] || fail "$path is $perms $owner" ;;
    ./usr/lib/systemd/system/playcount.service | \
      ./usr/lib/systemd/system/playcount-worker@.service | \
      ./usr/share/man/man1/playcount*.1)
      [ "$perms $owner" = "-rw-r--r-- root/root" ] || fail "$path is $perms $owner" ;;
    *) fail "the package holds $path, which is not its own" ;;
    esac
  done <"$work/contents"
  # A scratch root with an empty dpkg database. Its maintainer scripts run
  # outside it (--force-script-chrootless: the root has no /bin/sh), with
  # $DPKG_ROOT set, so they leave systemd alone; the libraries are the
  # machine's (--force-depends).
  root=$work/root
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
  touch "$root/var/lib/dpkg/status"
  dpkg_root() {
    dpkg --root="$root" --log=/dev/null --force-script-chrootless \
      --force-depends --force-not-root "$@" >>"$work/dpkg.log" 2>&1 ||
      { cat "$work/dpkg.log"; fail "dpkg $*"; }
  }
  # What is in the root but dpkg's own database.
  ours() {
    (cd "$root" && find . -mindepth 1 -path ./var/lib/dpkg -prune -o -print |
      grep -vx -e ./var -e ./var/lib | sort)
  }
  dpkg_root -i "$deb"
  dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}\n' playcount |
    grep -qx "install ok installed" || fail "not installed in the scratch root"
  expect_mode "$root/etc/default/playcount" 600
  # The units (verified by the install test) name the files of the package.
  for unit in playcount.service playcount-worker@.service; do
    grep -q "^ExecStart=/usr/bin/playcount " "$root/usr/lib/systemd/system/$unit" ||
      fail "$unit does not start /usr/bin/playcount"
    grep -qx "EnvironmentFile=-\?/etc/default/playcount" \
      "$root/usr/lib/systemd/system/$unit" ||
      fail "$unit does not read /etc/default/playcount"
  done
  # The installed binary serves on loopback and answers.
  "$root/usr/bin/playcount" serve --host 127.0.0.1 --port 0 --no-cluster \
    --shutdown-grace 0 --data-dir "$work/data" >"$work/serve.log" 2>&1 &
  server_pid=$!
  port=
  for _ in $(seq 200); do # up to 20 s for the "listening on" line
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' \
      "$work/serve.log")
    [ -n "$port" ] || ! kill -0 $server_pid 2>/dev/null && break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    cat "$work/serve.log"
    fail "the installed playcount serve did not listen"
  else
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
    answer=$(timeout 10 cat <&3)
    exec 3<&-
    [[ $answer == "HTTP/1.1 200"* ]] || fail "GET /healthz answered: $answer"
    kill -TERM $server_pid
    wait $server_pid || fail "serve exited with $? on SIGTERM"
  fi
  server_pid=
  # Remove: only the (changed) conffile stays; purge: nothing, including
  # what systemd would have made for the units.
  echo "PLAYCOUNT_API_TOKEN=mine" >>"$root/etc/default/playcount"
  dpkg_root -r playcount
  left=$(ours)
  [ "$left" = "$(printf '%s\n' ./etc ./etc/default ./etc/default/playcount)" ] ||
    fail "dpkg -r left: $left"
  mkdir -p "$root/var/lib/private/playcount/jobs" \
    "$root/var/cache/private/playcount-worker-a"
  ln -s private/playcount "$root/var/lib/playcount"
  ln -s private/playcount-worker-a "$root/var/cache/playcount-worker-a"
  echo "PLAYCOUNT_JOIN=10.0.0.5:4242" >"$root/etc/default/playcount-worker-a"
  dpkg_root --purge playcount
  rmdir "$root/var/lib/private" "$root/var/cache/private" "$root/var/cache" \
    2>/dev/null
  left=$(ours)
  [ -z "$left" ] || fail "dpkg --purge left: $left"
  ;;
*)
  echo "usage: $0 install|deb BUILD_DIR" >&2
  exit 2
  ;;
esac

if [ $failures -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "packaging_test $mode: all checks passed"
