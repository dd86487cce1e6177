#!/usr/bin/env bash
# `runpilot server` over HTTP against a real PostgreSQL (pg_lib.sh): readiness, the authorization
# matrix generated from the route table (every route x every kind of caller), login and
# sessions, CSRF and Origin, the login throttle and the argon2 cap, secrets kept out of output
# and the database, SQL injection, oversize and nested bodies, a slow client, the drain on
# SIGTERM, and the audit of it all.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"
source "$here/pg_lib.sh"

if ! pg_start; then
	if [ "$PG_SKIP" = 1 ]; then skip "server http" "$PG_WHY"; exit 0; fi
	fail "postgres starts" "$PG_WHY"
	exit 1
fi
rpt() { "$RUNPILOT_TEST_BIN" "$@"; }
q() { pg_psql rp_test -tA -c "$*"; }
URL=$RP_TEST_PG_URL
export RUNPILOT_DB=$URL
SERVER_PIDS=()
stop_servers() { local p; for p in "${SERVER_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; }
rp_cleanup_hooks+=(stop_servers)

# ---- accounts, projects, tokens by the admin CLI ----
PW=correct-horse-battery
for a in root viewer editor admin other dummy; do
	extra=(); [ "$a" = root ] && extra=(--admin)
	printf '%s\n' "$PW-$a" | rpt server account add "$a" --password-stdin "${extra[@]}" > "$T/add.out" 2>&1 ||
		fail "account add $a" "$(cat "$T/add.out")"
done
check "account add: the password is stored as an argon2id PHC string" \
	test "$(q "select count(*) from accounts where password_hash like '\$argon2id\$v=19\$m=19456,t=2,p=1\$%'")" = 6
check "account add: --admin makes a server administrator" test "$(q "select string_agg(name, ',') from accounts where is_admin")" = root
rpt server project add p1 > /dev/null && rpt server project add p2 > /dev/null
for m in "p1 viewer viewer" "p1 editor editor" "p1 admin admin" "p2 other admin"; do
	set -- $m
	rpt server member set "$1" "$2" "$3" > /dev/null || fail "member set $m"
done
check "account add: an existing name refused (exit 2)" bash -c "echo pw | '$RUNPILOT_TEST_BIN' server account add viewer --password-stdin 2>&1 >/dev/null | grep -q \"account 'viewer' exists already\"; [ \${PIPESTATUS[1]} = 2 ]"
check "account add: no password on stdin refused" bash -c "! '$RUNPILOT_TEST_BIN' server account add nopw --password-stdin < /dev/null 2>/dev/null"
check "project add: a bad name refused (exit 2)" bash -c "'$RUNPILOT_TEST_BIN' server project add 'a b' 2>/dev/null; [ \$? = 2 ]"
check "member set: a bad role refused" bash -c "! '$RUNPILOT_TEST_BIN' server member set p1 viewer owner 2>/dev/null"
check "member set: an unknown account refused" bash -c "! '$RUNPILOT_TEST_BIN' server member set p1 nobody viewer 2>/dev/null"
declare -A TOK TOKID
newtok() { # newtok ACCOUNT [ARGS]: "ID TOKEN"
	rpt server token create "$@" 2> /dev/null | sed -n 's/^token \([0-9]*\): \(rpt_[0-9a-f]*\)$/\1 \2/p'
}
for a in root viewer editor admin other; do
	read -r TOKID[$a] TOK[$a] <<< "$(newtok "$a" --name matrix)"
done
check "token create: rpt_ and 64 hex digits" bash -c "[[ '${TOK[viewer]}' =~ ^rpt_[0-9a-f]{64}$ ]]"
read -r TOKID[revoked] TOK[revoked] <<< "$(newtok viewer --name gone)"
rpt server token revoke "${TOKID[revoked]}" > /dev/null
read -r TOKID[expired] TOK[expired] <<< "$(newtok viewer --name old --expires-days 1)"
q "alter table tokens disable trigger user; update tokens set expires_at = now() - interval '1 hour' where id = ${TOKID[expired]}" > /dev/null
check "token revoke: an unknown id refused" bash -c "! '$RUNPILOT_TEST_BIN' server token revoke 99999 2>/dev/null"

check "libargon2 is linked in, libcurl loaded only by login and logout" bash -c "! ldd '$RUNPILOT_BIN' | grep -q 'argon2\|libcurl'"

# ---- the server starts: the URL first ----
start_server() { # start_server NAME [ENV...]: $SRV_PID, $BASE
	local n=$1; shift
	env "$@" "$RUNPILOT_TEST_BIN" server --db "$URL" --listen 127.0.0.1:0 --data-dir "$T/data" \
		> "$T/$n.out" 2> "$T/$n.err" &
	SRV_PID=$!
	SERVER_PIDS+=("$SRV_PID")
	wait_for "[ -s '$T/$n.out' ]" 20
	BASE=$(head -n1 "$T/$n.out")
}
start_server srv RUNPILOT_TEST_ARGON2_PEAK=1
MAIN_PID=$SRV_PID
check "start: the first line is the URL with the real port ($BASE)" bash -c "[[ '$BASE' =~ ^http://127\.0\.0\.1:[0-9]+$ ]] && [ \"\${BASE##*:}\" != 0 ]"
check "start: the data directory made, mode 0700" test "$(stat -c %a "$T/data")" = 700

# code METHOD PATH [CURL ARGS...]: the status (the body in $T/body)
code() { local m=$1 p=$2; shift 2; curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$BASE$p"; }
auth() { echo "Authorization: Bearer ${TOK[$1]}"; }

# ---- the route table ----
rpt server routes > "$T/routes.json"
python3 -c 'import json,sys; [print(r["method"], r["pattern"], r["role"]) for r in json.load(open(sys.argv[1]))]' \
	"$T/routes.json" > "$T/routes.txt"
check "routes: the table lists the routes" test "$(wc -l < "$T/routes.txt")" -ge 13
check "routes: every route has one of the roles" bash -c "! grep -vE ' (ANY|AUTH|VIEWER|EDITOR|ADMIN|SERVER_ADMIN)$' '$T/routes.txt'"

# ---- a pushed run in p1 for the sync routes' rows ----
mkdir -p "$T/w" && mkconfig "$T/w/m.yaml" mx '"echo out > $RUNPILOT_OUTPUT_DIR/o.txt"' && (cd "$T/w" && rp run -q --runner local m.yaml > /dev/null 2>&1)
rpt server push-local --project p1 --data-dir "$T/data" rp_0001 > /dev/null || fail "matrix: push-local of a run"
rpt server payload-local rp_0001 > "$T/mx-payload.json"
MX_UID=$(json "$T/mx-payload.json" 'd["uid"]')
MX_BLOB=$(json "$T/mx-payload.json" '[e["sha256"] for e in d["manifest"] if e["path"] == "outputs/o.txt"][0]')
printf 'matrix blob\n' > "$T/mx-blob"
MX_NEW=$(sha256sum < "$T/mx-blob" | cut -d' ' -f1)

# ---- the authorization matrix, from the table ----
rank() { case $1 in viewer) echo 1 ;; editor) echo 2 ;; admin) echo 3 ;; *) echo 0 ;; esac; }
expect() { # expect ROLE CALLER: 2xx, 401, 403 or 404
	local role=$1 c=$2
	[ "$role" = ANY ] && { echo 2xx; return; }
	case $c in anon | revoked | expired) echo 401; return ;; esac
	case $role in
	AUTH) echo 2xx ;;
	SERVER_ADMIN) [ "$c" = root ] && echo 2xx || echo 403 ;;
	*)
		local need; need=$(rank "$(tr 'A-Z' 'a-z' <<< "$role")")
		case $c in root | other) echo 404 ;; *) [ "$(rank "$c")" -ge "$need" ] && echo 2xx || echo 403 ;; esac ;;
	esac
}
n=0
while read -r method pattern role; do
	for c in anon viewer editor admin other root revoked expired; do
		n=$((n + 1))
		tok=${TOK[$c]:-}
		path=${pattern//\{project\}/p1}
		path=${path//\{account\}/dummy}
		body=()
		case "$method $pattern" in
		"POST /api/v1/login") body=(-d "{\"name\":\"dummy\",\"password\":\"$PW-dummy\"}") ;;
		"POST /api/v1/logout") case $c in anon | revoked | expired) ;; *) read -r _ tok <<< "$(newtok "$c" --name bye)" ;; esac ;;
		"POST /api/v1/projects") body=(-d "{\"name\":\"mx$n\"}") ;;
		"PUT /api/v1/projects/{project}/members/{account}") body=(-d '{"role":"viewer"}') ;;
		"POST /api/v1/tokens") body=(-d '{"name":"mx"}') ;;
		"DELETE /api/v1/tokens/{id}")
			id=99999
			case $c in anon | revoked | expired) ;; *) read -r id _ <<< "$(newtok "$c" --name del)" ;; esac
			path=${path//\{id\}/$id} ;;
		"POST /api/v1/projects/{project}/runs/missing") body=(-d '{"runs":[]}') ;;
		"POST /api/v1/projects/{project}/blobs/missing") body=(-d '{"blobs":[]}') ;;
		"PUT /api/v1/projects/{project}/blobs/{sha256}") path=${path//\{sha256\}/$MX_NEW}; body=(--data-binary "@$T/mx-blob") ;;
		"GET /api/v1/projects/{project}/blobs/{sha256}") path=${path//\{sha256\}/$MX_BLOB} ;;
		"POST /api/v1/projects/{project}/runs") body=(--data-binary "@$T/mx-payload.json") ;;
		"GET /api/v1/projects/{project}/runs/{uid}") path=${path//\{uid\}/$MX_UID} ;;
		"GET "*) ;;
		"DELETE /api/v1/projects/{project}/members/{account}") ;;
		*) fail "matrix: $method $pattern has no entry in this test: add one"; continue ;;
		esac
		h=()
		[ "$c" = anon ] || h=(-H "Authorization: Bearer $tok")
		got=$(code "$method" "$path" "${h[@]}" "${body[@]}")
		want=$(expect "$role" "$c")
		[ "$want" = 2xx ] && [[ "$got" =~ ^20[014]$ ]] && got=2xx
		check "matrix: $method $pattern ($role) as $c: $want" test "$got" = "$want"
	done
done < "$T/routes.txt"

# ---- login, sessions ----
login() { curl -s -D "$T/login.h" -o "$T/login.json" -w '%{http_code}' "$@" -d "$LOGIN" "$BASE/api/v1/login"; }
LOGIN="{\"name\":\"admin\",\"password\":\"$PW-admin\"}"
check "login: 200" test "$(login)" = 200
check "login: the session cookie is HttpOnly, SameSite=Strict, Path=/" grep -qi '^Set-Cookie: rp_session=[0-9a-f]\{64\}; HttpOnly; SameSite=Strict; Path=/' "$T/login.h"
check "answers carry the security headers (CSP, nosniff, no-store)" bash -c "grep -qi '^Content-Security-Policy: default-src .none.' '$T/login.h' && grep -qi '^X-Content-Type-Options: nosniff' '$T/login.h' && grep -qi '^Cache-Control: no-store' '$T/login.h'"
check "login: no Secure without TLS" bash -c "! grep -qi '^Set-Cookie:.*Secure' '$T/login.h'"
CSRF=$(json "$T/login.json" 'd["csrf"]')
COOKIE=$(sed -n 's/^Set-Cookie: \(rp_session=[0-9a-f]*\);.*/\1/ip' "$T/login.h")
check "login: a CSRF token in the answer" bash -c "[[ '$CSRF' =~ ^[0-9a-f]{64}$ ]]"
check "session: whoami by the cookie" bash -c "[ \"\$(curl -s -H 'Cookie: $COOKIE' '$BASE/api/v1/whoami')\" = '{\"name\":\"admin\",\"admin\":false,\"auth\":\"session\"}' ]"
check "session: a change with cookie and X-CSRF-Token: 200" test "$(code PUT /api/v1/projects/p1/members/dummy -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -d '{"role":"editor"}')" = 200
check "CSRF: the cookie without X-CSRF-Token: 403" test "$(code PUT /api/v1/projects/p1/members/dummy -H "Cookie: $COOKIE" -d '{"role":"admin"}')" = 403
check "CSRF: a wrong X-CSRF-Token: 403" test "$(code PUT /api/v1/projects/p1/members/dummy -H "Cookie: $COOKIE" -H "X-CSRF-Token: ${CSRF/a/b}x" -d '{"role":"admin"}')" = 403
ntok=$(q "select count(*) from tokens")
check "CSRF: a cross-origin form post with the cookie: 403" test "$(code POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H 'Origin: http://evil.example' -H 'Content-Type: application/x-www-form-urlencoded' -d 'name=x')" = 403
check "CSRF: ... and made nothing" test "$(q "select count(*) from tokens")" = "$ntok"
check "CSRF: the role changes stayed as the good one set" test "$(q "select role from members m join accounts a on a.id = m.account_id where a.name = 'dummy'")" = editor
check "Origin: this server's own origin accepted" test "$(code POST /api/v1/tokens -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" -H "Origin: $BASE" -d '{"name":"ui"}')" = 201
check "Bearer: a change needs no CSRF token" test "$(code POST /api/v1/tokens -H "$(auth admin)" -d '{"name":"api"}')" = 201
check "logout (session): 204" test "$(code POST /api/v1/logout -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF")" = 204
check "logout (session): the cookie no longer works" test "$(code GET /api/v1/whoami -H "Cookie: $COOKIE")" = 401
LOGIN="{\"name\":\"admin\",\"password\":\"wrong\"}"
check "login: a wrong password: 401" test "$(login)" = 401
LOGIN="{\"name\":\"nobody\",\"password\":\"x\"}"
check "login: an unknown account: 401" test "$(login)" = 401
LOGIN="{\"name\":\"viewer\",\"password\":\"$PW-viewer\",\"token_name\":\"runpilot login\"}"
check "login for a token: 201" test "$(login)" = 201
LT=$(json "$T/login.json" 'd["token"]')
check "login for a token: it works as Bearer" test "$(code GET /api/v1/whoami -H "Authorization: Bearer $LT")" = 200
check "tokens: listed without secrets" bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $LT' '$BASE/api/v1/tokens' | grep -c rpt_)\" = 0 ] && curl -s -H 'Authorization: Bearer $LT' '$BASE/api/v1/tokens' | grep -q '\"runpilot login\"'"
check "tokens: another's token cannot be revoked (404)" test "$(code DELETE "/api/v1/tokens/${TOKID[admin]}" -H "Authorization: Bearer $LT")" = 404
check "tokens: last_used_at set on use" test "$(q "select count(*) from tokens where last_used_at is not null and name = 'runpilot login'")" = 1
rpt server account disable editor > /dev/null
check "account disable: its token is refused (401)" test "$(code GET /api/v1/whoami -H "$(auth editor)")" = 401

# ---- audit paging ----
check "audit: the first page" test "$(code GET '/api/v1/projects/p1/audit?limit=2' -H "$(auth admin)")" = 200
NEXT=$(json "$T/body" 'd["next"]')
first=$(json "$T/body" 'd["events"][0]["id"]')
check "audit: two events and a next page" test "$(json "$T/body" 'len(d["events"])')" = 2
code GET "/api/v1/projects/p1/audit?after=$NEXT&limit=2" -H "$(auth admin)" > /dev/null
check "audit: the next page starts after it" bash -c "[ $(json "$T/body" 'd["events"][0]["id"]') -gt $NEXT ] && [ $NEXT -gt $first ]"
check "audit: a bad cursor: 400" test "$(code GET "/api/v1/projects/p1/audit?after=1%27or%271" -H "$(auth admin)")" = 400

# ---- SQL injection, bodies ----
nacc=$(q "select count(*) from accounts")
nmem=$(q "select count(*) from members")
check "injection: a project name: 400" test "$(code POST /api/v1/projects -H "$(auth root)" -d "{\"name\":\"x'; DROP TABLE accounts; --\"}")" = 400
check "injection: a project path segment: 404" test "$(code GET "/api/v1/projects/p1'%20OR%20'1'='1" -H "$(auth admin)")" = 404
check "injection: an account path segment: 404" test "$(code PUT "/api/v1/projects/p1/members/x'%3BDELETE%20FROM%20members%3B--" -H "$(auth admin)" -d '{"role":"viewer"}')" = 404
check "injection: a login name: 401" test "$(code POST /api/v1/login -d "{\"name\":\"' OR 1=1 --\",\"password\":\"x\"}" --interface 127.0.0.3)" = 401
check "injection: nothing changed" test "$(q "select count(*) from accounts") $(q "select count(*) from members")" = "$nacc $nmem"
head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' 'a' > "$T/big"
check "body over 1 MiB: 413" test "$(code POST /api/v1/tokens -H "$(auth admin)" --data-binary "@$T/big")" = 413
printf '%*s' 5000 '' | tr ' ' '[' > "$T/deep"
check "deeply nested body: 400" test "$(code POST /api/v1/tokens -H "$(auth admin)" --data-binary "@$T/deep")" = 400
python3 -c 'print("{\"name\":" + "{\"a\":" * 40 + "1" + "}" * 40 + "}")' > "$T/deep2"
check "nested 40 levels (valid JSON): 400" test "$(code POST /api/v1/tokens -H "$(auth admin)" --data-binary "@$T/deep2")" = 400
check "not JSON: 400" test "$(code POST /api/v1/tokens -H "$(auth admin)" -d 'name=x')" = 400
check "unknown path: 404" test "$(code GET /api/v1/nothing -H "$(auth admin)")" = 404

# ---- a slow client while others are served ----
exec 7<> "/dev/tcp/127.0.0.1/${BASE##*:}"
printf 'GET /api/v1/who' >&7
t0=$(date +%s%N)
check "slow client: another request is served" test "$(code GET /api/v1/whoami -H "$(auth viewer)" --max-time 3)" = 200
check "slow client: ... at once (under 1 s)" test $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1000
exec 7>&-

# ---- 100 parallel bad logins (from an address of their own) ----
seq 100 | xargs -P 50 -I{} curl -s --interface 127.0.0.4 -o /dev/null -w '%{http_code}\n' -d '{"name":"ghost","password":"bad{}"}' "$BASE/api/v1/login" > "$T/storm" &
storm=$!
sleep 0.3
t0=$(date +%s%N)
check "storm: the server answers others meanwhile" test "$(code GET /api/v1/whoami -H "$(auth viewer)" --max-time 5)" = 200
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "storm: ... within 2 s ($ms ms)" test "$ms" -lt 2000
wait $storm
check "storm: 100 answers" test "$(wc -l < "$T/storm")" = 100
check "storm: rate limited (429s: $(grep -c 429 "$T/storm"))" test "$(grep -c '^429$' "$T/storm")" -ge 50
check "storm: only 401, 429 or 503 ($(sort "$T/storm" | uniq -c | tr '\n' ' '))" bash -c "! grep -vE '^(401|429|503)$' '$T/storm'"
check "storm: 5 failures hashed, the other 95 refused (429)" test "$(grep -c '^401$' "$T/storm")" = 5
check "storm: a refusal says when to retry (Retry-After)" \
	bash -c "curl -s --interface 127.0.0.4 -D - -o /dev/null -d '{\"name\":\"ghost\",\"password\":\"x\"}' '$BASE/api/v1/login' | grep -qi '^Retry-After: [0-9]'"
check "storm: a good login from another address works" test "$(code POST /api/v1/login --interface 127.0.0.2 -d "{\"name\":\"dummy\",\"password\":\"$PW-dummy\"}")" = 200
check "storm: the flooding address is throttled even for a good password" test "$(code POST /api/v1/login --interface 127.0.0.4 -d "{\"name\":\"dummy\",\"password\":\"$PW-dummy\"}")" = 429

# ---- secrets: never printed, only hashes stored ----
ps -eo args > "$T/ps"
leaks=0
for a in "${!TOK[@]}"; do
	grep -qF "${TOK[$a]}" "$T/srv.out" "$T/srv.err" "$T/ps" && leaks=$((leaks + 1))
done
grep -qF "$LT" "$T/srv.out" "$T/srv.err" "$T/ps" && leaks=$((leaks + 1))
check "secrets: no token in the server's stdout, stderr or ps" test "$leaks" = 0
"$PG_BIN/pg_dump" -h "$PG_HOST" -U rp rp_test > "$T/dump.sql"
dleaks=0
for t in "${TOK[@]}" "$LT"; do grep -qF "$t" "$T/dump.sql" && dleaks=$((dleaks + 1)); done
check "secrets: no token in a pg_dump" test "$dleaks" = 0
check "secrets: the tokens' SHA-256 is what it holds" grep -qF "$(printf '%s' "${TOK[viewer]}" | sha256sum | cut -c1-64)" "$T/dump.sql"
check "secrets: no password in a pg_dump" bash -c "! grep -qF '$PW' '$T/dump.sql'"

# ---- runpilot login / logout ----
printf '%s\n' "$PW-dummy" | rp login "$BASE" --name dummy --password-stdin > "$T/login.out" 2> "$T/login.err"
check "login: exit 0" test $? = 0
check "login: says where it kept the token" grep -q "^logged in to $BASE as dummy" "$T/login.out"
check "login: the credentials file is mode 0600" test "$(stat -c %a "$RUNPILOT_HOME/credentials")" = 600
CT=$(json "$RUNPILOT_HOME/credentials" "d['servers']['$BASE']['token']")
check "login: a token kept for the URL" bash -c "[[ '$CT' =~ ^rpt_[0-9a-f]{64}$ ]]"
check "login: the token is not printed" bash -c "! grep -qF '$CT' '$T/login.out' '$T/login.err'"
check "login: the kept token works" test "$(code GET /api/v1/whoami -H "Authorization: Bearer $CT")" = 200
check "login: named after this host" test "$(q "select count(*) from tokens where name = 'runpilot login on $(hostname)'")" -ge 1
printf 'wrong\n' | rp login "$BASE" --name viewer --password-stdin > "$T/lbad.out" 2> "$T/lbad.err"
check "login: a wrong password: exit 1, the server's message" bash -c "[ $? = 1 ] && grep -q 'answered 401: wrong name or password' '$T/lbad.err'"
rp logout "$BASE" > "$T/logout.out" 2> "$T/logout.err"
check "logout: exit 0" test $? = 0
check "logout: the token is revoked on the server" test "$(code GET /api/v1/whoami -H "Authorization: Bearer $CT")" = 401
check "logout: and forgotten" test "$(json "$RUNPILOT_HOME/credentials" "len(d['servers'])")" = 0
check "logout: again: not logged in (exit 2)" bash -c "'$RUNPILOT_BIN' logout '$BASE' 2>&1 >/dev/null | grep -q 'not logged in'; [ \${PIPESTATUS[0]} = 2 ]"

# ---- PostgreSQL restarted under the server: each worker reconnects ----
_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 30 -m fast restart > /dev/null 2>&1
for i in $(seq 40); do code GET /api/v1/whoami -H "$(auth viewer)"; echo; done > "$T/restart"
check "PostgreSQL restarted: the server serves again ($(sort "$T/restart" | uniq -c | tr '\n' ' '))" \
	bash -c "[ \$(grep -c '^200$' '$T/restart') -ge 24 ] && ! grep -vqE '^(200|500)$' '$T/restart'"

# ---- the drain on SIGTERM ----
start_server drain RUNPILOT_TEST_SLOW_WHOAMI=1
DRAIN_PID=$SRV_PID
DBASE=$BASE
curl -s -o "$T/slow.body" -w '%{http_code}' -H "$(auth viewer)" "$DBASE/api/v1/whoami" > "$T/slow.code" &
slow=$!
sleep 0.7
kill -TERM "$DRAIN_PID"
wait "$DRAIN_PID"; drc=$?
wait "$slow"
check "SIGTERM: the request in flight completes (200)" test "$(cat "$T/slow.code")" = 200
check "SIGTERM: exit 0" test "$drc" = 0
check "SIGTERM: no longer accepting" bash -c "! curl -s --max-time 2 '$DBASE/api/v1/whoami' > /dev/null"

# ---- TLS ----
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 -subj /CN=127.0.0.1 \
	> /dev/null 2>&1; then
	"$RUNPILOT_TEST_BIN" server --db "$URL" --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
		> "$T/tls.out" 2> "$T/tls.err" &
	TLS_PID=$!
	SERVER_PIDS+=("$TLS_PID")
	wait_for "[ -s '$T/tls.out' ]" 20
	TBASE=$(head -n1 "$T/tls.out")
	check "TLS: the URL is https ($TBASE)" bash -c "[[ '$TBASE' =~ ^https://127\.0\.0\.1:[0-9]+$ ]]"
	check "TLS: served over HTTPS" test "$(curl -s --cacert "$T/cert.pem" -o /dev/null -w '%{http_code}' -H "$(auth viewer)" "$TBASE/api/v1/whoami")" = 200
	check "TLS: plain HTTP is not answered" bash -c "[ \"\$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' '${TBASE/https/http}/api/v1/whoami')\" != 200 ]"
	curl -s --cacert "$T/cert.pem" -D "$T/tls.h" -o /dev/null -d "{\"name\":\"dummy\",\"password\":\"$PW-dummy\"}" "$TBASE/api/v1/login"
	check "TLS: the session cookie is Secure" grep -qi '^Set-Cookie: rp_session=.*; Secure' "$T/tls.h"
	kill -TERM "$TLS_PID"
	wait "$TLS_PID"
	check "TLS: SIGTERM exits 0" test $? = 0
else
	skip "TLS" "openssl cannot make a certificate"
fi
"$RUNPILOT_TEST_BIN" server --db "$URL" --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" > /dev/null 2> "$T/tlshalf.err"
check "TLS: a certificate without its key: a usage error" bash -c "[ $? = 2 ] && grep -q 'both --tls-cert and --tls-key' '$T/tlshalf.err'"

kill -TERM "$MAIN_PID"
wait "$MAIN_PID"; mrc=$?
check "main server: SIGTERM exits 0" test "$mrc" = 0
peak=$(sed -n 's/^argon2 peak: //p' "$T/srv.err")
check "argon2: at most 2 hashes at once (peak $peak)" bash -c "[ '$peak' -ge 1 ] && [ '$peak' -le 2 ]"

# ---- the audit of it all ----
acts=$(q "select string_agg(distinct action, ',' order by action) from audit")
for a in account.add account.disable denied login login.failed logout member.role project.add token.create token.revoke; do
	check "audit: has $a" bash -c "[[ ',$acts,' == *',$a,'* ]]"
done
check "audit: the CLI's actor is local:$(id -un)" test "$(q "select count(*) from audit where action = 'account.add' and actor = 'local:$(id -un)'")" = 6
check "audit: a denial names the caller, address, status" test "$(q "select count(*) from audit where action = 'denied' and actor = 'viewer' and address = '127.0.0.1' and detail->>'status' = '403'")" -ge 1
check "audit: a bad token's 401 is a denial" test "$(q "select count(*) from audit where action = 'denied' and actor = '-' and detail->>'status' = '401'")" -ge 1
q "select actor, address, detail::text from audit" > "$T/trail"
check "audit: the trail was read" test "$(wc -l < "$T/trail")" -gt 100
check "audit: no secret in the trail" bash -c "! grep -q 'rpt_\|$PW' '$T/trail'"
check "audit verify: the chain is intact" bash -c "'$RUNPILOT_BIN' server audit verify | grep -q 'chain intact'"
