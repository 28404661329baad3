#!/bin/bash
# Quick start: install what is missing, build, make a demo PKI and device
# credentials in demo/, run nginx in the foreground with
# conf-examples/quickstart.conf and one simulated AMT device connected.
# Ctrl-C stops both.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
demo=$top/demo

"$top/tools/install-deps.sh"
make -s -C "$top" module sim

"$top/tools/mkcerts.sh" "$demo/certs"
mkdir -p "$demo/logs"

conf=$top/conf-examples/quickstart.conf
nginx -q -t -p "$demo/" -c "$conf"

nginx -p "$demo/" -c "$conf" -g 'daemon off;' &
ngx=$!

sim=
stop() {
    trap - INT TERM EXIT
    [ -n "$sim" ] && kill "$sim" 2>/dev/null
    kill -QUIT "$ngx" 2>/dev/null
    wait 2>/dev/null
    exit 0
}
trap stop INT TERM EXIT

# wait for the device listener
i=0
while ! (exec 3<>/dev/tcp/127.0.0.1/4433) 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 50 ] || { echo "nginx did not start, see $demo/logs/error.log"; exit 1; }
    sleep 0.1
done 2>/dev/null

"$top/build/fcfh-sim" --connect 127.0.0.1:4433 --ca "$demo/certs/ca.crt" \
    --user admin --password 'P@ssw0rd' --guid 4c4c4544-004b-4210-8033-b6c04f504633 \
    --fqdn amt-demo.example.test --quiet &
sim=$!

cat <<MSG

  ngx_fcfh_module quick start is running (Ctrl-C to stop).

  Devices connect to   127.0.0.1:4433 (TLS, user admin / P@ssw0rd,
                       trusted root demo/certs/ca.crt)
  One simulated device is connected.  The operator page (live device
  list, serial console and screen in the browser) is at

      http://127.0.0.1:8080/fcfh/ui/

  (loopback only; from another machine: ssh -L 8080:127.0.0.1:8080 ...).
  List the live tunnels, follow the events:

      curl -s http://127.0.0.1:8080/fcfh/status | python3 -m json.tool
      curl -s 'http://127.0.0.1:8080/fcfh/status?device=amt-demo.example.test'
      curl -s http://127.0.0.1:8080/fcfh/api/tunnels | python3 -m json.tool
      curl -N http://127.0.0.1:8080/fcfh/events

  Reach the device's AMT ports through the gateway (AMT user admin,
  password P@ssw0rd on the simulated device):

      curl -x 127.0.0.1:8080 --digest -u 'admin:P@ssw0rd' \\
          -H 'Content-Type: application/soap+xml' --data-binary @sim/get-general-settings.xml \\
          http://amt-demo.example.test:16992/wsman
      curl --socks5-hostname 127.0.0.1:1080 -H 'Content-Type: application/soap+xml' \\
          --data-binary @sim/identify.xml http://4c4c4544-004b-4210-8033-b6c04f504633:16992/wsman
      printf 'proxy_dns\\n[ProxyList]\\nsocks5 127.0.0.1 1080\\n' > /tmp/pc.conf
      proxychains4 -q -f /tmp/pc.conf amtterm -u admin -p 'P@ssw0rd' amt-demo.example.test 16994

  More simulated devices:  build/fcfh-sim --connect 127.0.0.1:4433 \\
                               --devices 100 --user admin --password 'P@ssw0rd'
  Logs: demo/logs/error.log, demo/logs/devices.log
  Docs: docs/quickstart.md, docs/directives.md, docs/amt-setup.md

MSG

wait "$ngx"
