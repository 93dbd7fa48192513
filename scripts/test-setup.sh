#!/usr/bin/env bash
# Prepare this machine for the test suite (Debian 12).
#
#   * installs the Debian packages the tests need, only when they are missing:
#     gdal-bin (ogr2ogr), chromium (map tests), fonts-noto-cjk (Chinese labels),
#     python3-qgis (QGIS as a real OGC API / vector tile client, for /usr/bin/python3),
#     PostgreSQL 15 + PostGIS 3 when no server listens on the test port, or just
#     postgresql-<major>-postgis-3 when the running server lacks PostGIS;
#   * starts the local cluster (pg_ctlcluster 15 main start) when nothing listens;
#   * drops and recreates the test database named by WANGGE_TEST_DATABASE_URL
#     (default postgresql://postgres@127.0.0.1:5432/wangge_test) with the postgis,
#     btree_gist and pg_trgm (address search) extensions, and checks postgis_full_version().
#
# Idempotent and quick when everything is there: apt-get update runs only when something
# must be installed. Installing needs root or sudo.
set -euo pipefail

DEFAULT_URL="postgresql://postgres@127.0.0.1:5432/wangge_test"
URL="${WANGGE_TEST_DATABASE_URL:-$DEFAULT_URL}"
PG_MAJOR_DEFAULT=15

log() { printf 'test-setup: %s\n' "$*"; }
die() { printf 'test-setup: ERROR: %s\n' "$*" >&2; exit 1; }
DONE=()
did() { DONE+=("$*"); log "$*"; }

# --- parse the database URL: postgresql://[user[:password]@]host[:port]/dbname[?query] ---
url_re='^(postgres|postgresql)://(([^@/]*)@)?([^:/?]*)(:([0-9]+))?/([^?]+)(\?.*)?$'
[[ "$URL" =~ $url_re ]] || die "cannot parse WANGGE_TEST_DATABASE_URL='$URL'; expected e.g. $DEFAULT_URL"
PG_HOST="${BASH_REMATCH[4]:-127.0.0.1}"
PG_PORT="${BASH_REMATCH[6]:-5432}"
DB_NAME="${BASH_REMATCH[7]}"
URL_QUERY="${BASH_REMATCH[8]}"
URL_BASE="${URL%%\?*}"
ADMIN_URL="${URL_BASE%/*}/postgres${URL_QUERY}"
SHOWN_URL="$(printf '%s' "$URL" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#')"
case "$PG_HOST" in
    127.0.0.1 | localhost | ::1) PG_LOCAL=1 ;;
    *) PG_LOCAL=0 ;;
esac

# --- privileges and apt -------------------------------------------------------------------
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
fi
need_root() {
    if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        die "must install/start: $*; run this script as root or install sudo"
    fi
}

APT_UPDATED=0
apt_install() {
    need_root "$*"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: $*"
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
    did "installed Debian packages: $*"
}

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

listening() { (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null; }

psql_q() {  # psql_q URL SQL -> unaligned, tuples only; fails on SQL errors
    psql "$1" -w -X -q -At -v ON_ERROR_STOP=1 -c "$2"
}

# --- 1. tools the tests call ---------------------------------------------------------------
missing=()
command -v ogr2ogr >/dev/null 2>&1 || missing+=(gdal-bin)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
have_pkg fonts-noto-cjk || missing+=(fonts-noto-cjk)
# QGIS draws the OGC collection and the live tiles in tests/api/test_ogc_clients.py, run by the
# system python (Debian's bindings; its OAPIF and vector tile providers come with it).
if ! { [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import qgis.core' >/dev/null 2>&1; }; then
    missing+=(python3-qgis)
fi

# --- 2. a PostgreSQL server on the test port -------------------------------------------------
INSTALLED_SERVER=0
if ! listening; then
    [[ $PG_LOCAL -eq 1 ]] || die "nothing listens on $PG_HOST:$PG_PORT (from $SHOWN_URL); start that server"
    if ! have_pkg "postgresql-$PG_MAJOR_DEFAULT"; then
        missing+=("postgresql-$PG_MAJOR_DEFAULT" "postgresql-$PG_MAJOR_DEFAULT-postgis-3")
        INSTALLED_SERVER=1
    fi
elif ! command -v psql >/dev/null 2>&1; then
    missing+=("postgresql-client-$PG_MAJOR_DEFAULT")
fi

if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}"
else
    log "system packages present (gdal-bin, chromium, fonts-noto-cjk, python3-qgis, psql)"
fi

CLUSTER="$PG_MAJOR_DEFAULT/main"
if [[ $INSTALLED_SERVER -eq 1 ]]; then
    # Debian's postinst normally creates the cluster; make sure it exists.
    if ! pg_lsclusters -h 2>/dev/null | awk '{print $1 "/" $2}' | grep -qx "$CLUSTER"; then
        "${SUDO[@]}" pg_createcluster "$PG_MAJOR_DEFAULT" main --port "$PG_PORT"
        did "created cluster $CLUSTER"
    fi
    # A cluster this script just installed only serves the test suite: let local TCP
    # clients in without a password, as the default URL expects.
    hba="/etc/postgresql/$PG_MAJOR_DEFAULT/main/pg_hba.conf"
    if ! "${SUDO[@]}" grep -q '^# wangge test-setup' "$hba"; then
        "${SUDO[@]}" sed -i '1i # wangge test-setup: trust local TCP for the test database\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
        did "set trust auth for 127.0.0.1 and ::1 in $hba"
    fi
    if listening; then
        "${SUDO[@]}" pg_ctlcluster "$PG_MAJOR_DEFAULT" main reload
    fi
fi

if ! listening; then
    need_root "start PostgreSQL cluster $CLUSTER"
    "${SUDO[@]}" pg_ctlcluster "$PG_MAJOR_DEFAULT" main start || true
    for _ in $(seq 1 30); do listening && break; sleep 1; done
    listening || die "PostgreSQL did not start on $PG_HOST:$PG_PORT; see /var/log/postgresql/"
    did "started PostgreSQL cluster $CLUSTER"
else
    log "PostgreSQL listens on $PG_HOST:$PG_PORT"
fi

# --- 3. PostGIS available to that server -----------------------------------------------------
psql_q "$ADMIN_URL" 'SELECT 1' >/dev/null ||
    die "cannot connect to $ADMIN_URL as in $SHOWN_URL; the test setup expects trust auth for that user"

has_ext() { [[ "$(psql_q "$ADMIN_URL" "SELECT count(*) FROM pg_available_extensions WHERE name = '$1'")" == 1 ]]; }
if ! has_ext postgis; then
    [[ $PG_LOCAL -eq 1 ]] || die "server $PG_HOST:$PG_PORT has no PostGIS; install it there"
    server_major="$(psql_q "$ADMIN_URL" 'SHOW server_version_num')"
    server_major="$((server_major / 10000))"
    apt_install "postgresql-$server_major-postgis-3"
    has_ext postgis || die "PostGIS still unavailable after installing postgresql-$server_major-postgis-3"
else
    log "PostGIS extension available ($(psql_q "$ADMIN_URL" "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'"))"
fi
has_ext btree_gist || die "btree_gist extension missing (it ships with PostgreSQL's contrib modules)"
has_ext pg_trgm || die "pg_trgm extension missing (it ships with PostgreSQL's contrib modules)"

# --- 4. a fresh test database ----------------------------------------------------------------
psql "$ADMIN_URL" -w -X -q -v ON_ERROR_STOP=1 -v db="$DB_NAME" <<'SQL'
SET client_min_messages = warning;
DROP DATABASE IF EXISTS :"db" WITH (FORCE);
CREATE DATABASE :"db";
SQL
psql "$URL" -w -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION postgis;
CREATE EXTENSION btree_gist;
CREATE EXTENSION pg_trgm;
SQL
did "recreated database $DB_NAME with extensions postgis, btree_gist, pg_trgm"
log "postgis_full_version: $(psql_q "$URL" 'SELECT postgis_full_version()')"

log "ready: WANGGE_TEST_DATABASE_URL=$SHOWN_URL"
if [[ ${#DONE[@]} -gt 0 ]]; then
    log "done:"
    for line in "${DONE[@]}"; do log "  - $line"; done
fi
