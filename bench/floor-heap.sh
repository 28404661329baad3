#!/bin/bash
# Heap profile of the two sides of bench/floor.sh: nginx in one process
# (master_process off) under valgrind's massif, N idle connections held,
# then a detailed snapshot taken with vgdb; for the floor (a bare TLS
# connection, floor_echo) and for the tunnels (fcfh_tunnel).  Prints the
# heap in use per connection and the allocation sites that hold it
# (ms_print's tree, cut at 1 % of the heap), one file per side in DIR.
#
# usage: bench/floor-heap.sh [-n N] [-c rsa|ecdsa] DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
N=1000 CERT=rsa
while getopts n:c: o; do
    case $o in
        n) N=$OPTARG ;; c) CERT=$OPTARG ;; *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
out=${1:?usage: bench/floor-heap.sh [-n N] [-c rsa|ecdsa] DIR}
mkdir -p "$out"

make -s -C "$top" module sim floor
command -v valgrind > /dev/null || { echo "valgrind is needed" >&2; exit 1; }
work=$(mktemp -d /tmp/fcfh-heap.XXXXXX)
vg= sim=
# whatever happens, nothing is left running
trap '[ -z "$sim" ] || kill -INT "$sim" 2>/dev/null
      [ -z "$vg" ] || kill "$vg" 2>/dev/null
      rm -rf "$work"' EXIT
"$top/tools/mkcerts.sh" "$work/certs" > /dev/null
key=server; [ "$CERT" = ecdsa ] && key=server-ecdsa
port=$((20000 + RANDOM % 20000))
ulimit -n "$(ulimit -Hn)"

for side in floor tunnel; do
    if [ "$side" = floor ]; then
        module="load_module $top/build/ngx_stream_floor_module.so;"
        content="floor_echo;"
        mode=--tls-hold
    else
        module="load_module $top/build/ngx_fcfh_module.so;
fcfh_zone 64m;"
        content="fcfh_tunnel;
        fcfh_auth_file $work/certs/devices.htpasswd;
        fcfh_keepalive 30s;
        fcfh_idle_timeout 600s;
        fcfh_handshake_timeout 600s;"
        mode=
    fi
    cat > "$work/$side.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
$module
master_process off;
daemon off;
worker_rlimit_nofile $((N + 1024));
error_log $work/$side.log notice;
pid $work/$side.pid;
events { worker_connections $((N + 1024)); }
stream {
    server {
        listen 127.0.0.1:$port ssl backlog=4096;
        ssl_certificate $work/certs/$key.crt;
        ssl_certificate_key $work/certs/$key.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_handshake_timeout 600s;
        $content
    }
}
CONF
    valgrind --tool=massif --vgdb=yes --vgdb-error=999999 \
        --massif-out-file="$work/$side.massif" --threshold=1.0 \
        nginx -p "$work/" -c "$work/$side.conf" -e "$work/$side.log" \
        > "$work/$side.valgrind" 2>&1 &
    vg=$!
    for i in $(seq 1 120); do
        ss -ltn | grep -q ":$port " && break; sleep 0.5
    done
    # the heap at rest, then with the connections held
    vgdb --pid=$vg detailed_snapshot "$work/$side.rest" > /dev/null 2>&1
    "$top/build/fcfh-sim" --connect "127.0.0.1:$port" --devices "$N" \
        --user admin --password 'P@ssw0rd' --rate 200 --max-pending 20 \
        --keepalive 30 --quiet --stats-file "$work/$side.sim.json" $mode \
        > /dev/null 2>&1 &
    sim=$!
    sleep 0.5       # until it blocks SIGUSR1
    for i in $(seq 1 1200); do
        kill -USR1 "$sim"; sleep 0.5
        n=$(/usr/bin/python3 -c 'import json,sys
print(json.load(open(sys.argv[1]))["established"])' "$work/$side.sim.json" \
            2>/dev/null || echo 0)
        [ "$n" -ge "$N" ] && break
    done
    sleep 2
    vgdb --pid=$vg detailed_snapshot "$work/$side.held" > /dev/null 2>&1
    kill -INT "$sim"; wait "$sim" || true
    kill -QUIT $vg 2>/dev/null || true; wait $vg || true
    sim= vg=

    heap() { sed -n 's/^mem_heap_B=//p' "$1" | head -1; }
    extra() { sed -n 's/^mem_heap_extra_B=//p' "$1" | head -1; }
    {
        echo "# $side: $N connections held ($n established)"
        echo "heap per connection: $(( ($(heap "$work/$side.held") - $(heap "$work/$side.rest")) / N )) B" \
             "(+ malloc overhead $(( ($(extra "$work/$side.held") - $(extra "$work/$side.rest")) / N )) B)"
        ms_print --threshold=1.0 "$work/$side.held" 2>/dev/null \
            || cat "$work/$side.held"
    } > "$out/$side.txt"
    head -2 "$out/$side.txt"
done
