#!/bin/bash
# compare.sh DIR OUT [SECTION...]: runs the measurements of
# docs/performance.md against the servers bench/peers/install.sh put in DIR
# (with DIR/parley built from this tree), writing each result as JSON to OUT.
# Sections, run in this order by default:
#
#   idle     Parley (parley.v1 at 1,000, 5,000, 19,000; text at 5,000 and
#            19,000) and each peer at 5,000 and 19,000 idle connections
#   fanout   1,000 receivers × 100 msgs/s: Parley v1, Parley text, gorilla
#            chat, node ws
#   ramp     the same rig at rising rates, for the same four servers
#   sends    durable sends into SQLite
#            (sendspipe: 2, 4 and 8 in flight; sendsweep: the most acks/s
#            within a 20 ms p99, 1 to 8 in flight; both run on request)
#   storm    5,000 clients drop, 100 messages are sent, all resume
#   growth   fan-out at 100 msgs/s into rooms of 10, 100, 1,000 and 10,000
#   cluster  PostgreSQL + Redis + two Parley nodes against a single node
#   gobench  go test -bench for the hot paths (hub fan-out, store appends)
#
# fanout, ramp and growth run twice: with one publisher, as the commands in
# docs/performance.md give them, and with the rate split over ten.
#
# Every server runs pinned to core 0 and every client to core 1. Before each
# measurement the machine must be quiet: other processes under 15% of a core
# over 2 s, polled every 30 s for up to 25 minutes (then it runs anyway and
# says so in OUT/quiet.log). DATA_ROOT puts Parley's stores somewhere else
# than $TMPDIR (DATA_ROOT=/dev/shm: tmpfs, where an fsync costs nothing, to
# see the server without the disk's stalls). Centrifugo is measured at idle only, over its
# unidirectional WebSocket (see docs/performance.md for why).
set -u
dir=$(cd "${1:?usage: compare.sh DIR OUT [SECTION...]}" && pwd)
out=${2:?usage: compare.sh DIR OUT [SECTION...]}
shift 2
mkdir -p "$out"
out=$(cd "$out" && pwd)
sections=${*:-idle fanout ramp sends storm growth cluster gobench}
parley=$dir/parley
[ -x "$parley" ] || { echo "no $parley: go build -o $parley ./cmd/parley" >&2; exit 2; }

log() { echo "$(date +%T) $*" | tee -a "$out/run.log"; }

# busy_ticks prints the machine's busy CPU ticks (user nice system irq softirq steal).
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }

# wait_quiet waits until other processes use under 15% of a core over 2 s.
# Nothing of ours runs between measurements, so the machine's busy time is
# theirs (minus the idle servers we keep, which use ~0).
wait_quiet() {
	local deadline=$(($(date +%s) + 1500)) a b used
	[ -n "${NO_QUIET_WAIT:-}" ] && return # a dry run of the script itself
	while :; do
		a=$(busy_ticks)
		sleep 2
		b=$(busy_ticks)
		used=$(((b - a) / 2)) # percent of one core: ticks are 10 ms (USER_HZ 100), over 2 s
		if [ "$used" -lt 15 ]; then
			echo "$(date +%T) quiet: ${used}% of a core before $1" >>"$out/quiet.log"
			return
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "$(date +%T) NOT QUIET after 25 min: ${used}% of a core before $1; running anyway" | tee -a "$out/quiet.log"
			return
		fi
		echo "$(date +%T) busy: ${used}% of a core before $1; waiting 30s" >>"$out/quiet.log"
		top -bn1 -o %CPU | sed -n 8,12p >>"$out/quiet.log"
		sleep 28
	done
}

# wait_port waits until something listens on 127.0.0.1:$1.
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on port $1" >&2
	return 1
}

# Each start_* sets $pid to the server's process id (taskset execs it).
start_parley() { # PORT [serve flags...]
	local port=$1
	shift
	taskset -c 0 "$parley" serve --addr "127.0.0.1:$port" --data "$(mktemp -d -p "${DATA_ROOT:-${TMPDIR:-/tmp}}")" \
		--rate 100000 --burst 100000 --log-level warn "$@" >>"$out/servers.log" 2>&1 &
	pid=$!
	wait_port "$port"
}
start_chat() { # PORT
	(cd "$dir" && exec taskset -c 0 ./chat --addr "127.0.0.1:$1") >>"$out/servers.log" 2>&1 &
	pid=$!
	wait_port "$1"
}
start_node() { # PORT
	taskset -c 0 node "$dir/ws-broadcast.js" --addr "127.0.0.1:$1" >>"$out/servers.log" 2>&1 &
	pid=$!
	wait_port "$1"
}
cf_secret=parley-bench-not-a-secret-0123456789abcdef
start_centrifugo() { # PORT
	cat >"$out/centrifugo.json" <<-EOF
		{"client": {"token": {"hmac_secret_key": "$cf_secret"}, "allowed_origins": ["*"]},
		 "uni_websocket": {"enabled": true},
		 "http_server": {"address": "127.0.0.1", "port": $1},
		 "log": {"level": "warn"}}
	EOF
	taskset -c 0 "$dir/centrifugo" -c "$out/centrifugo.json" >>"$out/servers.log" 2>&1 &
	pid=$!
	wait_port "$1"
}
stop() { # PID: the server started last
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	sleep 1
}

# centrifugo_url: the unidirectional WebSocket with the connect request in
# the URL, a token subscribing the connection to channel "lobby".
centrifugo_url() { # PORT
	local tok
	tok=$(python3 - "$cf_secret" <<-'EOF'
		import base64, hashlib, hmac, json, sys
		b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
		h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
		p = b(json.dumps({"sub": "bench", "channels": ["lobby"]}).encode())
		print(h + "." + p + "." + b(hmac.new(sys.argv[1].encode(), (h + "." + p).encode(), hashlib.sha256).digest()))
	EOF
	)
	echo "ws://127.0.0.1:$1/connection/uni_websocket?cf_connect=%7B%22token%22%3A%22$tok%22%7D"
}

# bench NAME ARGS...: one measurement, after the quietness check.
bench() {
	local name=$1
	shift
	wait_quiet "$name"
	log "$name: parley bench $*"
	echo "taskset -c 1 parley bench $*" >"$out/$name.cmd"
	taskset -c 1 "$parley" bench "$@" --json >"$out/$name.json" 2>"$out/$name.err"
	local rc=$?
	[ $rc -eq 0 ] || log "$name: exit $rc: $(grep -v '^$' "$out/$name.err" | tail -n 2 | tr '\r' '\n' | tail -n 1)"
}

idle() { # NAME PORT CONNS PID [flags]
	local name=$1 port=$2 n=$3 p=$4
	shift 4
	bench "$name" idle --conns "$n" --rooms 50 --hold 10s --pid "$p" --url "ws://127.0.0.1:$port/ws" "$@"
}

section_idle() {
	for n in 1000 5000 19000; do
		start_parley 9601
		idle "idle-parley-v1-$n" 9601 $n $pid
		stop $pid
	done
	for n in 5000 19000; do
		start_parley 9601
		idle "idle-parley-text-$n" 9601 $n $pid --proto text
		stop $pid
		start_chat 9602
		idle "idle-gorilla-$n" 9602 $n $pid --proto text
		stop $pid
		start_node 9603
		idle "idle-node-ws-$n" 9603 $n $pid --proto text
		stop $pid
		start_centrifugo 9604
		bench "idle-centrifugo-uni-$n" idle --conns $n --hold 10s --pid $pid --proto text --url "$(centrifugo_url 9604)"
		stop $pid
	done
}

fanout() { # NAME PORT PID [flags]
	local name=$1 port=$2 p=$3
	shift 3
	bench "$name" fanout --receivers 1000 --rate 100 --duration 10s --pid "$p" --url "ws://127.0.0.1:$port/ws" "$@"
}

section_fanout() {
	# As the brief has it (one publisher), then with the rate split over
	# ten publishers: Parley handles one connection's frames one at a time,
	# each waiting for its commit, so one publisher caps the rate.
	local pubs
	for pubs in 1 10; do
		start_parley 9601
		fanout fanout-parley-v1-p$pubs 9601 $pid --publishers $pubs
		stop $pid
		start_parley 9601
		fanout fanout-parley-text-p$pubs 9601 $pid --proto text --publishers $pubs
		stop $pid
		start_chat 9602
		fanout fanout-gorilla-p$pubs 9602 $pid --proto text --publishers $pubs
		stop $pid
		start_node 9603
		fanout fanout-node-ws-p$pubs 9603 $pid --proto text --publishers $pubs
		stop $pid
	done
}

ramp() { # NAME PORT PID [flags]
	local name=$1 port=$2 p=$3
	shift 3
	bench "$name" ramp --receivers 1000 --start 100 --step x1.5 --max 5000 --step-duration 5s --pid "$p" --url "ws://127.0.0.1:$port/ws" "$@"
}

section_ramp() {
	local pubs
	for pubs in 1 10; do
		start_parley 9601
		ramp ramp-parley-v1-p$pubs 9601 $pid --publishers $pubs
		stop $pid
		start_parley 9601
		ramp ramp-parley-text-p$pubs 9601 $pid --proto text --publishers $pubs
		stop $pid
		start_chat 9602
		ramp ramp-gorilla-p$pubs 9602 $pid --proto text --publishers $pubs
		stop $pid
		start_node 9603
		ramp ramp-node-ws-p$pubs 9603 $pid --proto text --publishers $pubs
		stop $pid
	done
}

section_sends() {
	start_parley 9601
	bench sends-parley-sqlite sends --conns 64 --duration 10s --pid $pid --url ws://127.0.0.1:9601/ws
	stop $pid
}

# section_sendspipe: durable sends with 2, 4 and 8 sends in flight per
# connection (Parley pipelines a connection's sends into the store), each
# on a fresh server: deeper pipelines make bigger commits and longer waits.
section_sendspipe() {
	for n in 2 4 8; do
		start_parley 9601
		bench sends-parley-sqlite-inflight$n sends --conns 64 --inflight $n --duration 10s --pid $pid --url ws://127.0.0.1:9601/ws
		stop $pid
	done
}

# section_sendsweep: durable sends at 1, 2, 3, 4, 6 and 8 in flight in turn
# on one server: the most acked messages/s whose p99 stays within 20 ms.
section_sendsweep() {
	start_parley 9601
	bench sends-parley-sqlite-sweep sends --conns 64 --inflight 1,2,3,4,6,8 --p99-bound 20ms --duration 10s --pid $pid --url ws://127.0.0.1:9601/ws
	stop $pid
}

section_storm() {
	start_parley 9601
	bench storm-parley storm --conns 5000 --missed 100 --pid $pid --url ws://127.0.0.1:9601/ws
	stop $pid
}

section_growth() {
	local r pubs
	for pubs in 1 10; do
		for r in 10 100 1000 10000; do
			start_parley 9601
			bench "growth-parley-v1-r$r-p$pubs" fanout --receivers $r --publishers $pubs --rate 100 --duration 10s --pid $pid --url ws://127.0.0.1:9601/ws
			stop $pid
		done
	done
}

# section_gobench: the hot paths' Go benchmarks (not pinned: GOMAXPROCS 2).
section_gobench() {
	local root
	root=$(cd "$(dirname "$0")/../.." && pwd)
	wait_quiet gobench
	log "gobench: go test -run '^$' -bench 'Fanout|AppendParallel' -benchmem -count 3 ./hub/ ./sqlite/ ./postgres/"
	(cd "$root" && go test -run '^$' -bench 'Fanout|AppendParallel' -benchmem -count 3 ./hub/ ./sqlite/ ./postgres/) >"$out/gobench.txt" 2>&1 ||
		log "gobench: failed (see $out/gobench.txt)"
}

# cpu_of PID...: CPU ticks used by the processes and their descendants
# (children still running are added; reaped ones are in cutime/cstime).
cpu_of() {
	local total=0 p
	for p in $(pgrep -P "$(echo "$@" | tr ' ' ',')") "$@"; do
		[ -r /proc/$p/stat ] || continue
		total=$((total + $(sed 's/.*) //' /proc/$p/stat | awk '{print $12+$13+$14+$15}')))
	done
	echo $total
}

# probe NAME PUB RECV: the cross-node latency probe (parley bench takes one URL).
probe() {
	wait_quiet "$1"
	log "$1: node cluster-probe.js --pub $2 --recv $3 --receivers 200 --rate 100 --duration 10"
	echo "taskset -c 1 node cluster-probe.js --pub $2 --recv $3 --receivers 200 --rate 100 --duration 10" >"$out/$1.cmd"
	taskset -c 1 node "$dir/cluster-probe.js" --pub "$2" --recv "$3" --receivers 200 --rate 100 --duration 10 >"$out/$1.json" 2>"$out/$1.err" ||
		log "$1: failed: $(tail -n 1 "$out/$1.err")"
}

section_cluster() {
	local pgbin pgdir pgpid redisdir redispid a b single
	pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
	pgdir=$(mktemp -d)
	redisdir=$(mktemp -d)
	# PostgreSQL refuses to run as root: run it as postgres, as parleytest does.
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$pgdir"
		asuser="setpriv --reuid postgres --regid postgres --init-groups --"
	else
		asuser=""
	fi
	$asuser "$pgbin/initdb" -D "$pgdir/data" -A trust -U parley -E UTF8 --locale=C --no-sync >"$out/initdb.log" 2>&1 || {
		log "cluster: initdb failed (see $out/initdb.log)"
		return
	}
	taskset -c 0 $asuser "$pgbin/postgres" -D "$pgdir/data" -p 9651 -k "$pgdir" -c listen_addresses=127.0.0.1 \
		-c max_connections=200 >"$out/postgres.log" 2>&1 &
	pgpid=$!
	taskset -c 0 redis-server --port 9652 --bind 127.0.0.1 --save '' --dir "$redisdir" >"$out/redis.log" 2>&1 &
	redispid=$!
	wait_port 9651 && wait_port 9652 || return
	sleep 1
	local store="postgres://parley@127.0.0.1:9651/postgres?sslmode=disable" broker="redis://127.0.0.1:9652/0"
	start_parley 9661 --store "$store" --broker "$broker"
	a=$pid
	start_parley 9662 --store "$store" --broker "$broker"
	b=$pid
	start_parley 9663
	single=$pid
	sleep 2
	fanout cluster-fanout-single-sqlite 9663 $single --publishers 10
	local c0 c1
	c0=$(cpu_of $pgpid $redispid)
	fanout cluster-fanout-node-a 9661 $a --publishers 10
	c1=$(cpu_of $pgpid $redispid)
	echo "{\"postgres_redis_cpu_s\": $(((c1 - c0) / 100)).$(printf %02d $(((c1 - c0) % 100)))}" >"$out/cluster-fanout-node-a.backends.json"
	probe probe-single-sqlite ws://127.0.0.1:9663/ws ws://127.0.0.1:9663/ws
	probe probe-cluster-same-node ws://127.0.0.1:9661/ws ws://127.0.0.1:9661/ws
	probe probe-cluster-a-to-b ws://127.0.0.1:9661/ws ws://127.0.0.1:9662/ws
	bench cluster-sends-postgres sends --conns 64 --duration 10s --pid $a --url ws://127.0.0.1:9661/ws
	stop $single
	stop $b
	stop $a
	kill -INT $pgpid 2>/dev/null # setpriv execs: this is the postmaster
	kill $redispid 2>/dev/null
	wait $pgpid $redispid 2>/dev/null
}

# The sections below dig into what the ones above found; they are not run
# by default: compare.sh DIR OUT fine ceiling idledetail idlecurve compression stormscale sendspipe sendsweep sendsscale procs gogc soak

# section_fine: the 50 ms ramp again in ×1.1 steps from below where the
# ×1.5 ramps stop, so the ceiling shows at a tenth's resolution: Parley's
# best dialects and gorilla's, three times each, alternating. (Gorilla
# starts at 400: with the bench's read loop it failed its 700 msgs/s step
# in half the runs.)
section_fine() {
	local r
	for r in 1 2 3; do
		start_parley 9601
		ramp fine-parley-text-p1-r$r 9601 $pid --proto text --publishers 1 --start 1500 --step x1.1
		stop $pid
		start_parley 9601
		ramp fine-parley-v1-p1-r$r 9601 $pid --publishers 1 --start 700 --step x1.1
		stop $pid
		start_chat 9602
		ramp fine-gorilla-p1-r$r 9602 $pid --proto text --publishers 1 --start 400 --step x1.1
		stop $pid
	done
}

# section_ceiling: the ramp again with a looser p99 bound (500ms), so a
# server's throughput ceiling shows rather than its first latency spike.
section_ceiling() {
	local pubs
	for pubs in 1 10; do
		start_parley 9601
		ramp ceiling-parley-v1-p$pubs 9601 $pid --publishers $pubs --p99-bound 500ms
		stop $pid
		start_parley 9601
		ramp ceiling-parley-text-p$pubs 9601 $pid --proto text --publishers $pubs --p99-bound 500ms
		stop $pid
		start_chat 9602
		ramp ceiling-gorilla-p$pubs 9602 $pid --proto text --publishers $pubs --p99-bound 500ms
		stop $pid
		start_node 9603
		ramp ceiling-node-ws-p$pubs 9603 $pid --proto text --publishers $pubs --p99-bound 500ms
		stop $pid
	done
}

# scrape_when_holding NAME PORT: once the idle run NAME holds its
# connections, saves Parley's Go memory metrics beside its result.
scrape_when_holding() {
	for _ in $(seq 600); do
		grep -q holding "$out/$1.err" 2>/dev/null && break
		sleep 0.5
	done
	sleep 5
	taskset -c 1 curl -s "http://127.0.0.1:$2/metrics" |
		grep -E '^(go_goroutines|go_memstats_(heap_inuse|heap_alloc|heap_idle|heap_released|heap_sys|stack_inuse|stack_sys|gc_sys|other_sys|mspan_sys|sys|next_gc)_bytes|process_resident_memory_bytes) ' >"$out/$1.metrics"
}

# section_idledetail: where an idle connection's memory goes (Go heap and
# stacks from /metrics while holding), with fewer members per room (less
# presence traffic while connecting), and held for a minute.
section_idledetail() {
	local rooms n scraper
	for rooms in 50 1000; do
		start_parley 9601
		scrape_when_holding "idled-parley-v1-19000-r$rooms" 9601 &
		scraper=$!
		bench "idled-parley-v1-19000-r$rooms" idle --conns 19000 --rooms $rooms --hold 60s --pid $pid --url ws://127.0.0.1:9601/ws
		wait $scraper
		stop $pid
	done
	for n in 5000 19000; do
		start_parley 9601
		scrape_when_holding "idled-parley-text-$n" 9601 &
		scraper=$!
		bench "idled-parley-text-$n" idle --conns $n --hold 60s --pid $pid --proto text --url ws://127.0.0.1:9601/ws
		wait $scraper
		stop $pid
	done
}

# section_idlecurve: Parley's idle memory per connection from 1,000 to
# 19,000 connections (with its Go heap from /metrics while holding).
section_idlecurve() {
	local n
	for n in 1000 2500 5000 10000 19000; do
		start_parley 9601
		scrape_when_holding "idlecurve-parley-v1-$n" 9601 &
		local scraper=$!
		idle "idlecurve-parley-v1-$n" 9601 $n $pid
		wait $scraper
		stop $pid
	done
}

# section_compression: what permessage-deflate costs. The same fan-out
# without and with --compression (server and bench), then the 500 ms
# ceiling without and with it.
section_compression() {
	local pubs
	for pubs in 1 10; do
		start_parley 9601
		fanout deflate-off-parley-v1-p$pubs 9601 $pid --publishers $pubs
		stop $pid
		start_parley 9601 --compression
		fanout deflate-on-parley-v1-p$pubs 9601 $pid --publishers $pubs --compression
		stop $pid
	done
	start_parley 9601
	ramp deflate-off-ceiling-parley-v1-p10 9601 $pid --publishers 10 --p99-bound 500ms
	stop $pid
	start_parley 9601 --compression
	ramp deflate-ceiling-parley-v1-p10 9601 $pid --publishers 10 --p99-bound 500ms --compression
	stop $pid
}

# section_stormscale: the storm at 1,000, 2,500 and 5,000 clients in one
# room, to show how its time grows with the room.
section_stormscale() {
	local n
	for n in 1000 2500 5000; do
		start_parley 9601
		bench "stormscale-parley-$n" storm --conns $n --missed 100 --pid $pid --url ws://127.0.0.1:9601/ws
		stop $pid
	done
}

# section_sendsscale: durable sends with more connections (bigger batches).
section_sendsscale() {
	local n
	for n in 16 64 256; do
		start_parley 9601
		bench "sendsscale-parley-sqlite-$n" sends --conns $n --duration 10s --pid $pid --url ws://127.0.0.1:9601/ws
		stop $pid
	done
}

# section_procs: Parley still pinned to one core but with GOMAXPROCS=4, so a
# goroutine blocked in a syscall (fsync, epoll_wait) or waiting behind a
# fan-out's writers doesn't hold up the send path.
section_procs() {
	GOMAXPROCS=4 start_parley 9601
	fanout procs4-fanout-parley-v1-p1 9601 $pid --publishers 1
	stop $pid
	GOMAXPROCS=4 start_parley 9601
	fanout procs4-fanout-parley-v1-p10 9601 $pid --publishers 10
	stop $pid
	GOMAXPROCS=4 start_parley 9601
	ramp procs4-ceiling-parley-v1-p10 9601 $pid --publishers 10 --p99-bound 500ms
	stop $pid
	GOMAXPROCS=4 start_parley 9601
	bench procs4-storm-parley storm --conns 5000 --missed 100 --pid $pid --url ws://127.0.0.1:9601/ws
	stop $pid
}

# section_gogc: idle memory with the Go collector tuned tighter (GOGC=50):
# how much of the RSS per connection is collector headroom.
section_gogc() {
	local scraper
	GOGC=50 start_parley 9601
	scrape_when_holding gogc50-idle-parley-v1-19000 9601 &
	scraper=$!
	bench gogc50-idle-parley-v1-19000 idle --conns 19000 --rooms 50 --hold 10s --pid $pid --url ws://127.0.0.1:9601/ws
	wait $scraper
	stop $pid
	GOGC=50 start_parley 9601
	scrape_when_holding gogc50-idle-parley-text-19000 9601 &
	scraper=$!
	bench gogc50-idle-parley-text-19000 idle --conns 19000 --hold 10s --pid $pid --proto text --url ws://127.0.0.1:9601/ws
	wait $scraper
	stop $pid
}

# section_soak: the mixed load for 10 minutes, with its defaults.
section_soak() {
	start_parley 9601
	bench soak-parley soak --duration 10m --pid $pid --url ws://127.0.0.1:9601/ws
	stop $pid
}

log "compare.sh: sections $sections; peers in $dir; results in $out"
for s in $sections; do
	"section_$s"
done
log "done"
