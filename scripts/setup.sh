#!/usr/bin/env bash
# Install everything manatee-migrator needs on a fresh Debian machine (as root)
# and create the virtualenv .venv with the package and its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -f /usr/share/java/zookeeper.jar ] || need_apt+=(zookeeper)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v man >/dev/null 2>&1 || need_apt+=(man-db)
# the sandbox's zones run real PostgreSQL servers (`sandbox up --pg real`), as the
# `postgres` user the package creates (postgres refuses to run as root)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's zookeeper package enables a system service on port 2181; the project
# never uses it (it runs its own servers on free loopback ports).
mkdir -p /run/sshd

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# setuptools' editable-install notices are noise for operators: keep pip's
# output in a log and show it only if the install fails.
log=$(mktemp)
if ! .venv/bin/python -m pip install -q -e '.[dev]' >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup: installing the Python package failed (see above)" >&2
    exit 1
fi
rm -f "$log"
# An editable install leaves the package as source; compile it once, as pip does
# for an installed package, so every command starts from bytecode even where
# PYTHONDONTWRITEBYTECODE keeps Python from caching it.
.venv/bin/python -m compileall -q migrator >/dev/null
# pytest caches its rewritten test modules (assertion rewriting) only where Python may
# write bytecode; without the cache every pytest-xdist worker of every run rewrites
# every test module again (about 2.5 CPU-seconds a worker). Collect once, here (a
# collection error is the test run's to report).
env -u PYTHONDONTWRITEBYTECODE .venv/bin/pytest --collect-only -q -p no:cacheprovider \
    >/dev/null 2>&1 || true
# The man pages (man/man1, generated from the commands' own help) under
# /usr/local/share/man, which is on man-db's default search path on Debian
# (/etc/manpath.config): `man migrator` and `man migrator-run` then work in any shell,
# with no MANPATH and whether or not .venv/bin is on PATH. They are copies: rerun this
# after `python scripts/manpages.py`. The page of a command removed since is taken
# away, and man-db's index is updated for `whatis` and `apropos`.
mandir=/usr/local/share/man/man1
install -d "$mandir"
for page in "$mandir"/migrator.1 "$mandir"/migrator-*.1; do
    if [ -e "$page" ] && [ ! -e "man/man1/${page##*/}" ]; then
        rm -f "$page"
    fi
done
install -m 0644 man/man1/*.1 "$mandir"/
if command -v mandb >/dev/null 2>&1; then
    mandb -q /usr/local/share/man >/dev/null 2>&1 || true
fi
if ! man -w migrator >/dev/null 2>&1; then
    echo "setup: man does not find migrator(1); read the pages with" \
        "man -l man/man1/migrator.1" >&2
fi
