#!/bin/bash
# What a tunnel costs beyond nginx holding a bare TLS connection: each
# cost of a tunnel as a ratio to the same cost on the platform's floor,
# both measured in the same run, on the same machine, with the same
# clients.
#
# The floor is the same /usr/sbin/nginx with the same certificate, TLS
# protocols, ciphers, workers and worker_connections, and a stream server
# of bench/floor/ngx_stream_floor_module.c ("floor_echo"): once nginx has
# done the TLS handshake it holds the connection with no timer and no
# buffer and writes back whatever record arrives, through nginx's own
# ngx_ssl_recv()/ngx_ssl_write().  Its clients are the same simulator
# processes in --tls-hold mode: TLS, then every KA seconds the same 5 bytes
# as an APF keepalive, which the floor echoes.  The tunnels are the
# gateway's (fcfh_tunnel, password authentication with an $apr1$ hash,
# four forwards, fcfh_keepalive KA).  A third side, "rounds", is the floor
# again with clients that first make the eight round trips of the APF
# handshake as echoed bytes of the same sizes (--tls-hold-rounds 8: the
# simulator's devices register five ports): what any gateway must pay for
# the protocol's round trips over TLS, so that tunnel / rounds is the
# module's own share of the setup.  (The tunnel's device then sends one
# more message that is not answered, KEEPALIVE_OPTIONS_REPLY.)
#
# For each side, in one run:
#   - setup: CPU of the workers (utime + stime, /proc/PID/stat) from the
#     first connection until the simulators count N established, / N;
#     keepalives are held back meanwhile (fcfh-sim --keepalive-on-usr2),
#     so the phase costs connections only;
#   - keepalive: CPU of the workers during HOLD seconds of keepalives /
#     keepalives sent (the simulators' counters);
#   - memory: (RSS of all workers - RSS at rest) / N, after the hold, then
#     again after glibc's malloc_trim(0) in each worker (gdb): the gateway
#     trims its heap after churn by itself, the floor does not, so the
#     trimmed figures compare what a connection holds; PSS too (the
#     registry's shared pages counted once).
# The order of the sides is reversed from one run to the next.  Each run
# prints one line per side and the ratios (tunnel / floor; for the setup
# also rounds / floor and tunnel / rounds); then the medians of each
# figure and of each ratio.
#
# usage: bench/floor.sh [-n N] [-t HOLD_S] [-k KEEPALIVE_S] [-r RUNS]
#                       [-w WORKERS] [-c rsa|ecdsa] [-R RATE] [-s SIMS]
#                       [-l LOG_LEVEL] [-x 'more ssl_* directives;']
#                       [-m MODULE.so] [-P PROFILE_DIR] [-i IDLE_S]
#
# The tunnels' idle timeout (-i, 300 s) must outlast the setup phase, in
# which the devices send no keepalive.  It is set once per idle period and
# re-armed when it fires, so within the hold it does not fire: its cost
# (one timer expiry per idle period) is not in the keepalive figure.
#
# -P DIR: in the first run, on each side, count the workers' system calls
# (perf stat) over the setup and the hold, and record a profile (perf
# record with DWARF call graphs, 10 s of the setup, 10 s of the hold) into DIR.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
N=10000 HOLD=30 KA=2 RUNS=3 WORKERS=2 CERT=rsa RATE=5000 SIMS=0 EXTRA=
LEVEL=notice MODULE= PROF= IDLE=300
while getopts n:t:k:r:w:c:R:s:l:x:m:P:i: o; do
    case $o in
        n) N=$OPTARG ;; t) HOLD=$OPTARG ;; k) KA=$OPTARG ;;
        r) RUNS=$OPTARG ;; w) WORKERS=$OPTARG ;; c) CERT=$OPTARG ;;
        R) RATE=$OPTARG ;; s) SIMS=$OPTARG ;; l) LEVEL=$OPTARG ;;
        x) EXTRA=$OPTARG ;; m) MODULE=$OPTARG ;; P) PROF=$OPTARG ;;
        i) IDLE=$OPTARG ;;
        *) exit 2 ;;
    esac
done

make -s -C "$top" module sim floor
[ -n "$MODULE" ] || MODULE=$top/build/ngx_fcfh_module.so
MODULE=$(realpath "$MODULE")    # nginx takes a relative one from its prefix
work=$(mktemp -d /tmp/fcfh-floor.XXXXXX)
certs=$work/certs
"$top/tools/mkcerts.sh" "$certs" > /dev/null
key=server; [ "$CERT" = ecdsa ] && key=server-ecdsa
[ -z "$PROF" ] || mkdir -p "$PROF"

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard"
per_sim=$((hard - 2000))
[ "$SIMS" -gt 0 ] || SIMS=$(( (N + per_sim - 1) / per_sim ))
per_worker=$(( N / WORKERS + N / WORKERS / 20 + 256 ))
if [ "$per_worker" -gt "$hard" ]; then
    echo "N / workers (+5%) = $per_worker is above the open files hard" \
         "limit $hard: use more workers (-w)" >&2
    exit 1
fi
wconn=$(( per_worker + 1024 < hard ? per_worker + 1024 : hard ))
reuseport=; [ "$WORKERS" -gt 1 ] && reuseport=reuseport
port=$((20000 + RANDOM % 20000))

# conf SIDE: the same nginx for both sides but the stream server's content
conf() {
    local side=$1 module content
    if [ "$side" = floor ]; then
        module="load_module $top/build/ngx_stream_floor_module.so;"
        content="floor_echo;"
    else
        module="load_module $MODULE;"
        content="fcfh_tunnel;
        fcfh_auth_file $certs/devices.htpasswd;
        fcfh_keepalive ${KA}s;
        fcfh_idle_timeout ${IDLE}s;
        fcfh_handshake_timeout 60s;"
    fi
    mkdir -p "$work/$side"
    cat > "$work/$side/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
$module
worker_processes $WORKERS;
worker_rlimit_nofile $hard;
error_log $work/$side/error.log $LEVEL;
pid $work/$side/nginx.pid;
$([ "$side" = floor ] || echo "fcfh_zone 512m;")
events { worker_connections $wconn; }
stream {
    server {
        listen 127.0.0.1:$port ssl backlog=4096 $reuseport;
        ssl_certificate $certs/$key.crt;
        ssl_certificate_key $certs/$key.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        $EXTRA
        $content
    }
}
CONF
}
conf floor
conf tunnel

sims=
cleanup() {
    local p s
    for p in $sims; do kill -INT "$p" 2>/dev/null || true; done
    for s in floor tunnel; do
        [ -s "$work/$s/nginx.pid" ] && kill -QUIT "$(cat "$work/$s/nginx.pid")" \
            2>/dev/null || true
    done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT

# the nginx of a side: the protocol floor is the floor's server
dir() { [ "$1" = tunnel ] && echo tunnel || echo floor; }
workers() { pgrep -P "$(cat "$work/$(dir "$1")/nginx.pid")" | tr '\n' ' '; }
sum_status() { local t=0 p; for p in $(workers "$1"); do
    t=$((t + $(awk -v k="$2:" '$1 == k {print $2}' /proc/$p/status))); done
    echo $t; }
pss_kb() { local t=0 p; for p in $(workers "$1"); do
    t=$((t + $(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup))); done
    echo $t; }
# the PSS of nginx's shared memory zones (anonymous shared mappings)
zone_kb() { local t=0 p; for p in $(workers "$1"); do
    t=$((t + $(awk '/^[0-9a-f]+-/ {z = ($0 ~ /\/dev\/zero|SYSV/)}
                    z && /^Pss:/ {s += $2} END {print s + 0}' /proc/$p/smaps)))
    done; echo $t; }
# CPU time of the workers in ns: utime + stime at the scheduler's own
# resolution (/proc/PID/stat rounds them to 10 ms ticks)
cpu_ns() { local t=0 p; for p in $(workers "$1"); do
    t=$((t + $(cut -d' ' -f1 /proc/$p/schedstat))); done; echo $t; }
now() { date +%s.%N; }
load() { cut -d' ' -f1 /proc/loadavg; }

# sim_sum COUNTER: the simulators' counters, added up (fresh files)
sim_sum() {
    local k p f t=0 i v
    for k in $(seq 0 $((SIMS - 1))); do rm -f "$work/sim$k.json"; done
    for p in $sims; do kill -USR1 "$p" 2>/dev/null || true; done
    for k in $(seq 0 $((SIMS - 1))); do
        f=$work/sim$k.json
        for i in $(seq 1 100); do [ -s "$f" ] && break; sleep 0.05; done
        v=$(/usr/bin/python3 -c 'import json,sys
print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$f" "$1" 2>/dev/null \
            || echo 0)
        t=$((t + v))
    done
    echo $t
}

# start_sims SIDE: SIMS processes sharing N devices, each with its own
# GUID range and source address; pids in $sims
start_sims() {
    local k n first guid mode=
    [ "$1" = floor ] && mode=--tls-hold
    [ "$1" = rounds ] && mode="--tls-hold --tls-hold-rounds 8"
    sims=
    for k in $(seq 0 $((SIMS - 1))); do
        n=$(( N / SIMS + (k < N % SIMS ? 1 : 0) ))
        first=$(( k * (N / SIMS + 1) + 1 ))
        guid=$(printf '00000000-0000-4000-8000-%012x' "$first")
        "$top/build/fcfh-sim" --connect "127.0.0.1:$port" --devices "$n" \
            --guid "$guid" --source "127.0.$((k + 1)).1" \
            --user admin --password 'P@ssw0rd' \
            --rate $(( RATE / SIMS )) --max-pending $(( 1000 / SIMS + 1 )) \
            --keepalive "$KA" --keepalive-on-usr2 $mode \
            --quiet --stats-file "$work/sim$k.json" \
            > "$work/sim$k.out" 2>&1 &
        sims="$sims $!"
    done
}

# trim SIDE: malloc_trim(0) in each worker, as the gateway does by itself
trim() {
    local p
    command -v gdb > /dev/null || return 0
    for p in $(workers "$1"); do
        gdb -p "$p" -batch -nx -ex 'call (int) malloc_trim(0)' \
            > /dev/null 2>&1 || true
    done
}

# profile SIDE PHASE: in the background, 10 s of perf record on the workers
profile() {
    [ -n "$PROF" ] && [ "$run" = 1 ] || return 0
    local pids
    pids=$(workers "$1" | tr ' ' ',' | sed 's/,$//')
    perf record -q -F 499 --call-graph dwarf,16384 -o "$PROF/$1-$2.data" \
        -p "$pids" -- sleep 10 \
        > /dev/null 2>&1 &
}
# count SIDE PHASE: the workers' system calls until stop_count
count() {
    [ -n "$PROF" ] && [ "$run" = 1 ] || return 0
    local pids
    pids=$(workers "$1" | tr ' ' ',' | sed 's/,$//')
    perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$pids" \
        -o "$PROF/$1-$2.stat" > /dev/null 2>&1 &
    counter=$!
}
stop_count() {
    [ -n "$PROF" ] && [ "$run" = 1 ] || return 0
    kill -INT "$counter"; wait "$counter" || true
}

# side_stop SIDE: the simulators and the nginx of a side
side_stop() {
    local p
    for p in $sims; do kill -INT "$p" 2>/dev/null || true; done
    for p in $sims; do wait "$p" 2>/dev/null || true; done
    sims=
    nginx -p "$work/$(dir "$1")/" -c "$work/$(dir "$1")/nginx.conf" -s stop \
        2> /dev/null || true
    sleep 2
}

# side SIDE: one measurement, in a subshell of its own; prints its line,
# or fails when a simulator is gone or the setup did not complete
side() {
    local s=$1 d base basep basez t0 t1 c0 c1 c2 c3 k0 k1 h0 h1 l0
    local rss pss rsst psst zone n p deadline held answered
    trap 'side_stop "$s"' EXIT
    l0=$(load)
    d=$(dir "$s")
    nginx -p "$work/$d/" -c "$work/$d/nginx.conf" -e "$work/$d/error.log" \
        || { echo "# $s: nginx did not start" >&2; exit 1; }
    sleep 1
    base=$(sum_status "$s" VmRSS); basep=$(pss_kb "$s"); basez=$(zone_kb "$s")

    count "$s" setup
    c0=$(cpu_ns "$s"); t0=$(now)
    start_sims "$s"
    # until they block the signal that asks for their counters
    sleep 0.5
    profile "$s" setup
    deadline=$(( $(date +%s) + 600 ))
    while :; do
        for p in $sims; do
            kill -0 "$p" 2> /dev/null \
                || { echo "# $s: a simulator is gone" >&2; return 1; }
        done
        n=$(sim_sum established)
        [ "$n" -ge "$N" ] && break
        [ "$(date +%s)" -lt "$deadline" ] \
            || { echo "# $s: setup timed out at $n" >&2; return 1; }
        sleep 0.2
    done
    c1=$(cpu_ns "$s"); t1=$(now)
    stop_count

    for p in $sims; do kill -USR2 "$p"; done
    sleep 1
    count "$s" hold
    k0=$(sim_sum keepalives_sent); c2=$(cpu_ns "$s"); h0=$(now)
    profile "$s" hold
    sleep "$HOLD"
    k1=$(sim_sum keepalives_sent); c3=$(cpu_ns "$s"); h1=$(now)
    stop_count
    held=$(sim_sum established)
    answered=$(sim_sum "$([ "$s" = tunnel ] && echo keepalive_replies \
                          || echo echoes)")
    [ "$held" -ge "$N" ] && [ "$k1" -gt "$k0" ] \
        || { echo "# $s: $held held, $((k1 - k0)) keepalives" >&2; return 1; }

    rss=$(sum_status "$s" VmRSS); pss=$(pss_kb "$s")
    trim "$s"
    rsst=$(sum_status "$s" VmRSS); psst=$(pss_kb "$s"); zone=$(zone_kb "$s")

    printf 'run=%d side=%s n=%d held=%d setup_rate=%.0f/s setup_cpu=%.1fus keepalives=%d answered=%d ka_rate=%.0f/s ka_cpu=%.2fus ka_load=%.2f%% rss=%.2fKiB growth=%.2fKiB growth_trimmed=%.2fKiB pss_growth_trimmed=%.2fKiB zone=%.3fKiB load=%s-%s\n' \
        "$run" "$s" "$N" "$held" \
        "$(echo "$N / ($t1 - $t0)" | bc -l)" \
        "$(echo "($c1 - $c0) / 1000 / $N" | bc -l)" \
        "$((k1 - k0))" "$answered" \
        "$(echo "($k1 - $k0) / ($h1 - $h0)" | bc -l)" \
        "$(echo "($c3 - $c2) / 1000 / ($k1 - $k0)" | bc -l)" \
        "$(echo "($c3 - $c2) / 10000000 / ($h1 - $h0)" | bc -l)" \
        "$(echo "$rss / $N" | bc -l)" \
        "$(echo "($rss - $base) / $N" | bc -l)" \
        "$(echo "($rsst - $base) / $N" | bc -l)" \
        "$(echo "($psst - $basep) / $N" | bc -l)" \
        "$(echo "($zone - $basez) / $N" | bc -l)" \
        "$l0" "$(load)"
    grep -E '\[(alert|crit|emerg)\]' "$work/$d/error.log" >&2 || true
}

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "# N=$N hold=${HOLD}s keepalive=${KA}s workers=$WORKERS sims=$SIMS" \
     "cert=$CERT log=$LEVEL nproc=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
lines=()
for run in $(seq 1 "$RUNS"); do
    order="floor rounds tunnel"
    [ $((run % 2)) = 0 ] && order="tunnel rounds floor"
    for s in $order; do
        # once more if a simulator was killed from outside, or stalled
        line=$(side "$s") || line=$(side "$s") \
            || { echo "# run $run: $s failed twice" >&2; exit 1; }
        echo "$line"
        lines+=("$line")
    done
    f=$(printf '%s\n' "${lines[@]}" | grep "^run=$run side=floor ")
    t=$(printf '%s\n' "${lines[@]}" | grep "^run=$run side=tunnel ")
    r=$(printf '%s\n' "${lines[@]}" | grep "^run=$run side=rounds ")
    ratio() { echo "$(echo "$1" | field "$3") / $(echo "$2" | field "$3")" | bc -l; }
    line=$(printf 'run=%d ratios: memory=%.3f memory_trimmed=%.3f pss_trimmed=%.3f setup_cpu=%.3f keepalive_cpu=%.3f setup_rounds=%.3f setup_module=%.3f' \
        "$run" "$(ratio "$t" "$f" growth)" "$(ratio "$t" "$f" growth_trimmed)" \
        "$(ratio "$t" "$f" pss_growth_trimmed)" \
        "$(ratio "$t" "$f" setup_cpu)" "$(ratio "$t" "$f" ka_cpu)" \
        "$(ratio "$r" "$f" setup_cpu)" "$(ratio "$t" "$r" setup_cpu)")
    echo "$line"
    lines+=("$line")
done

all() { printf '%s\n' "${lines[@]}"; }
for s in floor rounds tunnel; do
    echo "median: side=$s $(for k in setup_rate setup_cpu ka_cpu ka_load rss growth growth_trimmed pss_growth_trimmed zone; do
        printf '%s=%s ' "$k" "$(all | grep " side=$s " | field "$k" | median)"; done)"
done
echo "median: ratios $(for k in memory memory_trimmed pss_trimmed setup_cpu keepalive_cpu setup_rounds setup_module; do
    printf '%s=%s ' "$k" "$(all | grep ' ratios: ' | field "$k" | median)"; done)" \
    "(N=$N workers=$WORKERS runs=$RUNS load now $(cut -d' ' -f1-3 /proc/loadavg))"
