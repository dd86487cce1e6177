# A private PostgreSQL cluster for the server's tests (source after tests/integration/lib.sh).
#   pg_start          initdb and start a cluster under $T/pg (a Unix socket there, no TCP port,
#                     fsync off), create the database rp_test and export RP_TEST_PG_URL; returns
#                     non-zero (with $PG_WHY) when it cannot. The stop is an EXIT hook of lib.sh.
#   pg_createdb NAME  a fresh, empty database NAME (cloned from template0)
#   pg_url NAME       the URL of database NAME as the cluster's owner `rp` (no password: trust)
#   pg_psql NAME ...  psql on database NAME as rp, quiet, stopping at the first error
#   pg_stop           stop the cluster (fast shutdown; the postmaster is killed when that fails)
#                     and remove its directory
# Exported: PG_HOST (the socket directory), PG_DATA, RP_TEST_PG_URL. PG_SKIP=1 when the start
# failed for want of the packages (skip), 0 when the server failed (a failure).
# As root every server command runs as the user postgres (initdb refuses root); otherwise as
# the caller.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_HOST=""
PG_DATA=""
PG_SKIP=0
PG_WHY=""

_pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_url() { echo "postgresql:///$1?host=$PG_HOST&user=rp"; }
pg_psql() { local db=$1; shift; "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -U rp -d "$db" "$@"; }
pg_createdb() { _pg_as "$PG_BIN/createdb" -h "$PG_HOST" -U rp -T template0 "$1"; }

pg_start() {
	if [ ! -x "$PG_BIN/initdb" ]; then
		PG_SKIP=1 PG_WHY="$PG_BIN/initdb is missing (install postgresql-15)"
		return 1
	fi
	if [ "$(id -u)" = 0 ] && ! id postgres > /dev/null 2>&1; then
		PG_SKIP=1 PG_WHY="no user postgres to run the server as"
		return 1
	fi
	PG_HOST=$T/pg
	PG_DATA=$PG_HOST/data
	mkdir -p "$PG_HOST" || { PG_WHY="cannot create $PG_HOST"; return 1; }
	[ "$(id -u)" != 0 ] || chown postgres: "$PG_HOST"
	rp_cleanup_hooks+=(pg_stop)
	if ! _pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U rp -A trust --no-sync -E UTF8 --locale=C.UTF-8 \
		> "$PG_HOST/initdb.log" 2>&1; then
		PG_WHY="initdb failed: $(tail -n 3 "$PG_HOST/initdb.log" | tr '\n' ' ')"
		return 1
	fi
	if ! _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_HOST/log" -w -t 30 \
		-o "-k $PG_HOST -c listen_addresses='' -c fsync=off" start > /dev/null 2>&1; then
		PG_WHY="the server did not start: $(tail -n 3 "$PG_HOST/log" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	if ! pg_createdb rp_test > "$PG_HOST/createdb.log" 2>&1; then
		PG_WHY="createdb failed: $(tr '\n' ' ' < "$PG_HOST/createdb.log")"
		return 1
	fi
	RP_TEST_PG_URL=$(pg_url rp_test)
	export PG_HOST PG_DATA RP_TEST_PG_URL
}

# The postmaster's pid (first line of postmaster.pid), when it runs.
pg_pid() { local p; p=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null) && [ -n "$p" ] && ! pid_dead "$p" && echo "$p"; }

pg_stop() {
	local p i
	[ -n "$PG_HOST" ] || return 0
	if [ -n "$(pg_pid)" ]; then
		_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 20 stop > /dev/null 2>&1
		if p=$(pg_pid); then
			kill -KILL "$p" 2>/dev/null
			for ((i = 0; i < 50; i++)); do pid_dead "$p" && break; sleep 0.1; done
		fi
	fi
	rm -rf "$PG_HOST"
	unset RP_TEST_PG_URL
	PG_HOST="" PG_DATA=""
}

# Signals end the test through its EXIT trap (which stops the cluster).
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
