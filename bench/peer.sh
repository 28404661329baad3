#!/bin/bash
# The gateway side by side with MeshCentral's MPS (npm "meshcentral", its
# embedded database, MPS on loopback), with the same simulator in the same
# run: N devices onto each in turn, then held HOLD seconds with 30 s
# keepalives (the simulator sends them every 30 s on both: MeshCentral
# does not ask for an interval).  For each: setup rate (N / time until the
# simulator counts N established tunnels), RSS of the gateway's processes
# per tunnel (total, and growth over its idle baseline), CPU during the
# hold.  Prints each run, the ratios (nginx / MeshCentral for rates,
# MeshCentral / nginx for memory and CPU) and the medians.
#
# MeshCentral runs one Node.js process (one core); nginx runs WORKERS
# workers (2 = the cores here), each as it is deployed.  Its MPS presents
# its own generated certificate; nginx uses the demo RSA-2048 one.
#
# usage: bench/peer.sh [-n N] [-t HOLD_S] [-r RUNS] [-w WORKERS]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
N=10000 HOLD=60 RUNS=3 WORKERS=2 MCVER=1.1.55
while getopts n:t:r:w: o; do
    case $o in
        n) N=$OPTARG ;; t) HOLD=$OPTARG ;; r) RUNS=$OPTARG ;;
        w) WORKERS=$OPTARG ;; *) exit 2 ;;
    esac
done

make -s -C "$top" module sim
peer=$top/build/peer
if [ ! -d "$peer/node_modules/meshcentral" ]; then
    mkdir -p "$peer"
    (cd "$peer" && npm install --no-audit --no-fund "meshcentral@$MCVER" \
        > npm.log 2>&1)
fi

work=$(mktemp -d /tmp/fcfh-peer.XXXXXX)
certs=$work/certs
"$top/tools/mkcerts.sh" "$certs" >/dev/null
hard=$(ulimit -Hn); [ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard"
if [ $((N + 2000)) -gt "$hard" ]; then
    echo "N=$N is above what one process can hold here ($hard files):" \
         "MeshCentral runs in one process" >&2
    exit 1
fi

mcport=$((20000 + RANDOM % 20000)); mcweb=$((mcport + 1))
port=$((mcport + 2)); sport=$((mcport + 3))

# --- MeshCentral: data directory, admin, device group, CIRA user --------------
# (it keeps its data next to its node_modules: a fresh one per invocation)
mc=$peer
rm -rf "$mc/meshcentral-data" "$mc/meshcentral-files"
mkdir -p "$mc/meshcentral-data"
cat > "$mc/meshcentral-data/config.json" <<EOF
{"settings":{"cert":"127.0.0.1","port":$mcweb,"portBind":"127.0.0.1",
"redirPort":0,"mpsPort":$mcport,"mpsPortBind":"127.0.0.1","exactPorts":true,
"selfUpdate":false},"domains":{"":{"title":"bench","newAccounts":false}}}
EOF
(cd "$mc" && node node_modules/meshcentral --createaccount admin \
    --pass 'Admin-123!' --email a@b.invalid --adminaccount > create.log 2>&1)

# listening on both its ports and alive, or it is started again (a port
# of the previous run may still be held for a moment)
mc_start() {
    local try i
    for try in 1 2 3 4 5; do
        (cd "$mc" && exec node node_modules/meshcentral > mc.log 2>&1) &
        mcpid=$!
        for i in $(seq 1 120); do
            kill -0 "$mcpid" 2>/dev/null || break
            if grep -q "HTTPS server running" "$mc/mc.log" 2>/dev/null \
               && grep -q "Intel(R) AMT server running" "$mc/mc.log"
            then
                return
            fi
            sleep 0.5
        done
        mc_stop
        sleep 5
    done
    echo "MeshCentral did not start: $(tail -2 "$mc/mc.log")" >&2; exit 1
}
mc_stop() {
    kill "$mcpid" 2>/dev/null || true
    wait "$mcpid" 2>/dev/null || true
    # until its ports are free again
    local i
    for i in $(seq 1 60); do
        ss -ltn | grep -qE ":($mcport|$mcweb) " || return 0
        sleep 0.5
    done
}

mc_start
mesh=$(cd "$mc" && node node_modules/meshcentral/meshctrl.js adddevicegroup \
    --url "wss://127.0.0.1:$mcweb" --loginuser admin --loginpass 'Admin-123!' \
    --name amt --amtonly | sed -n 's/.*mesh\/\/\(.*\)/\1/p')
mcuser=$(printf '%s' "$mesh" | cut -c1-16 | tr '@$' 'XX')
mc_stop
[ -n "$mcuser" ] || { echo "no device group" >&2; exit 1; }

# --- nginx ---------------------------------------------------------------------
cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
load_module $top/build/ngx_fcfh_module.so;
worker_processes $WORKERS;
worker_rlimit_nofile $hard;
error_log $work/error.log warn;
pid $work/nginx.pid;
fcfh_zone 256m;
events { worker_connections $((N + 1024 < hard ? N + 1024 : hard)); }
stream {
    server {
        listen 127.0.0.1:$port ssl backlog=4096;
        ssl_certificate $certs/server.crt;
        ssl_certificate_key $certs/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        fcfh_tunnel;
        fcfh_auth_file $certs/devices.htpasswd;
        fcfh_keepalive 30s;
        fcfh_handshake_timeout 60s;
    }
}
CONF

# --- measuring -------------------------------------------------------------------
tree() { local p=$1 c; echo "$p"; for c in $(pgrep -P "$p"); do tree "$c"; done; }
rss_kb() { local t=0 p; for p in $(tree "$1"); do
    t=$((t + $(awk '/^VmRSS/ {print $2}' /proc/$p/status 2>/dev/null || echo 0))); done
    echo $t; }
cpu_ticks() { local t=0 p; for p in $(tree "$1"); do
    t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0))); done
    echo $t; }
now() { date +%s.%N; }
established() {
    rm -f "$work/sim.json"; kill -USR1 "$sim"
    local i; for i in $(seq 1 50); do [ -s "$work/sim.json" ] && break; sleep 0.1; done
    /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["established"])' \
        "$work/sim.json" 2>/dev/null || echo 0
}

# measure NAME ROOT_PID PORT USER: one gateway; prints "rate rss growth cpu"
measure() {
    local root=$2 to=$3 user=$4 base t0 t1 c0 c1 h0 h1 rss n
    sleep 1
    base=$(rss_kb "$root")
    t0=$(now)
    "$top/build/fcfh-sim" --connect "127.0.0.1:$to" --devices "$N" \
        --user "$user" --password 'P@ssw0rd' --keepalive 30 --quiet \
        --max-pending 1000 --stats-file "$work/sim.json" \
        > "$work/sim-$1.out" 2>&1 &
    sim=$!
    local deadline=$(( $(date +%s) + 900 ))
    while [ "$(established)" -lt "$N" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "$1: setup timed out" >&2; break; }
        sleep 0.5
    done
    t1=$(now)
    c0=$(cpu_ticks "$root"); h0=$(now)
    sleep "$HOLD"
    c1=$(cpu_ticks "$root"); h1=$(now)
    n=$(established)
    rss=$(rss_kb "$root")
    kill -INT "$sim"; wait "$sim" || true
    echo "$(echo "$N / ($t1 - $t0)" | bc -l) $(echo "$rss / $N" | bc -l)" \
         "$(echo "($rss - $base) / $N" | bc -l)" \
         "$(echo "100 * ($c1 - $c0) / $(getconf CLK_TCK) / ($h1 - $h0)" | bc -l) $n"
}

results=()
for run in $(seq 1 "$RUNS"); do
    mc_start
    read -r mr mp mg mc_cpu mn < <(measure meshcentral "$mcpid" "$mcport" "$mcuser")
    mc_stop
    sleep 2

    nginx -p "$work/" -c "$work/nginx.conf" -e "$work/error.log"
    sleep 0.5
    read -r nr np ng ng_cpu nn < <(measure nginx "$(cat "$work/nginx.pid")" "$port" admin)
    nginx -p "$work/" -c "$work/nginx.conf" -s stop
    sleep 2

    line=$(printf 'run=%d N=%d held_mc=%d held_nginx=%d mc_rate=%.0f/s nginx_rate=%.0f/s rate_ratio=%.2f mc_rss=%.2fKiB nginx_rss=%.2fKiB mem_ratio=%.2f mc_growth=%.2fKiB nginx_growth=%.2fKiB growth_ratio=%.2f mc_cpu=%.2f%% nginx_cpu=%.2f%%' \
        "$run" "$N" "$mn" "$nn" "$mr" "$nr" "$(echo "$nr / $mr" | bc -l)" \
        "$mp" "$np" "$(echo "$mp / $np" | bc -l)" "$mg" "$ng" \
        "$(echo "$mg / $ng" | bc -l)" "$mc_cpu" "$ng_cpu")
    echo "$line"
    results+=("$line")
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { printf '%s\n' "${results[@]}" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p" | median; }
echo "median: mc_rate=$(field mc_rate)/s nginx_rate=$(field nginx_rate)/s rate_ratio=$(field rate_ratio) mc_rss=$(field mc_rss)KiB nginx_rss=$(field nginx_rss)KiB mem_ratio=$(field mem_ratio) growth_ratio=$(field growth_ratio) mc_cpu=$(field mc_cpu)% nginx_cpu=$(field nginx_cpu)% (N=$N hold=${HOLD}s workers=$WORKERS meshcentral=$MCVER)"
grep -E '\[(alert|crit|emerg)\]' "$work/error.log" && echo "errors in $work/error.log" >&2
rm -rf "$work"
