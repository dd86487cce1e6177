#!/usr/bin/env bash
# The private PostgreSQL of pg_lib.sh itself: it starts, psql answers on its socket, a second
# database can be made, it listens on no TCP port, and a stop (also from a test that fails and
# exits) leaves neither the server nor its directory.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
source "$here/pg_lib.sh"

now() { date +%s.%N; }
since() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"; }
# TCP sockets in LISTEN state owned by process PID (its children included).
tcp_listeners() { ss -Hltnp 2>/dev/null | grep -E "pid=($1|$(pgrep -d'|' -P "$1" || echo 0))," || true; }

t0=$(now)
if ! pg_start; then
	if [ "$PG_SKIP" = 1 ]; then skip "pg harness" "$PG_WHY"; exit 0; fi
	fail "starts" "$PG_WHY"
	exit 1
fi
echo "  (started in $(since "$t0") s)"
pass "starts"
check "RP_TEST_PG_URL names the socket dir and database" test "$RP_TEST_PG_URL" = "postgresql:///rp_test?host=$T/pg&user=rp"
check "psql answers on the URL" test "$(psql -X -tA "$RP_TEST_PG_URL" -c 'select 40 + 2')" = 42
check "the socket is in the test's dir" test -S "$T/pg/.s.PGSQL.5432"
check "listen_addresses is empty" test -z "$(pg_psql rp_test -tA -c 'show listen_addresses')"
check "fsync is off" test "$(pg_psql rp_test -tA -c 'show fsync')" = off
pid=$(pg_pid)
check "the postmaster runs" test -n "$pid"
check "nothing of it listens on TCP" test -z "$(tcp_listeners "${pid:-0}")"
check "pg_createdb makes a second database" pg_createdb other
check "psql answers on it" test "$(psql -X -tA "$(pg_url other)" -c 'select current_database()')" = other

t0=$(now)
pg_stop
echo "  (stopped in $(since "$t0") s)"
check "pg_stop: the postmaster is gone" pid_dead "${pid:-0}"
check "pg_stop: its directory is removed" test ! -e "$T/pg"
check "pg_stop: RP_TEST_PG_URL is unset" test -z "${RP_TEST_PG_URL:-}"

# A test that fails part-way (exit 1 with the cluster up, or killed by timeout's TERM) still stops it.
for how in exit term; do
	out=$T/child-$how
	bash -c '
		source "$2/../integration/lib.sh"; source "$2/pg_lib.sh"
		pg_start || exit 3
		echo "$T $(pg_pid)" > "$3"
		if [ "$4" = term ]; then kill -TERM $$; sleep 5; fi
		exit 1' _ "" "$here" "$out" "$how" > /dev/null 2>&1
	cdir="" cpid=""
	read -r cdir cpid < "$out" 2>/dev/null
	check "a failing test ($how): it had started" test -n "$cpid"
	check "a failing test ($how): its server is gone" pid_dead "${cpid:-0}"
	check "a failing test ($how): its directory is removed" test -n "$cdir" -a ! -e "$cdir"
done
