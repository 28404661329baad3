#!/usr/bin/perl
# Scale-out on loopback: three gateway nodes share a device directory in
# Redis and reach each other's devices over mutual TLS (fcfh_cluster_*,
# fcfh_cluster_relay).  Consoles on every front door of every node reach
# devices held by other nodes; the newest tunnel of a device wins across
# nodes; the API lists and closes cluster-wide; events name the node;
# the cluster port refuses anyone without a node certificate; Redis down
# means local devices still work and remote ones fail clearly (503), and
# the directory comes back by itself; a dead node stops being routed to
# once its liveness key expires.
# The same in network namespaces, with keepalived: t/33-cluster-netns.t.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use JSON::PP;
use FcfhTest qw(:all);
use FcfhRedis;
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $redis_server = '/usr/bin/redis-server';
plan skip_all => 'redis-server not installed (tools/install-deps.sh)'
    unless -x $redis_server;
plan skip_all => 'no simulator (make sim)' unless have_sim();

# --- Redis, on a free loopback port ------------------------------------------

my $rt = FcfhTest->new;
my $redis = FcfhRedis->new;
my ($rport, $rdir) = ($redis->port, $redis->dir);

sub redis_start { $redis->start }
sub redis_stop  { $redis->stop }

sub redis {
    my $cmd = join ' ', map { "'$_'" } @_;
    my $out = `redis-cli -p $rport --raw $cmd 2>&1`;
    chomp $out;
    return $out;
}

redis_start();
is(redis('PING'), 'PONG', 'redis answers');

# --- configuration errors -----------------------------------------------------

{
    my $t = FcfhTest->new;
    my @bad = (
        ['fcfh_cluster_node n1;', qr/needs "fcfh_cluster_address"/,
         'a node without the rest'],
        ['fcfh_cluster_node "n 1";', qr/letters, digits/, 'a bad node name'],
        ["fcfh_cluster_node n1; fcfh_cluster_address node1:4434;",
         qr/not an IP address with a port/, 'a host name as cluster address'],
        ["fcfh_cluster_redis 127.0.0.1:$rport;", qr/need "fcfh_cluster_node"/,
         'cluster directives without a node name'],
        ["fcfh_cluster_node n1; fcfh_cluster_address 127.0.0.1:1;
          fcfh_cluster_redis 127.0.0.1:$rport;
          fcfh_cluster_ssl_certificate %%CERTS%%/node1.crt;
          fcfh_cluster_ssl_certificate_key %%CERTS%%/node1.key;
          fcfh_cluster_ssl_trusted_certificate %%CERTS%%/missing-ca.crt;",
         qr/missing-ca\.crt/, 'a missing cluster CA file'],
    );
    for my $b (@bad) {
        $t->write_config(std_config(main => $b->[0]));
        my ($out, $rc) = $t->nginx_t;
        ok($rc != 0 && $out =~ $b->[1], "nginx -t refuses $b->[2]")
            or diag($out);
    }
}

# --- three nodes --------------------------------------------------------------

# every node's credentials: the demo file plus "ops", another identity
# allowed any unbound GUID
my $creds = $rt->read_file($rt->certs . '/devices.htpasswd')
            . 'ops:' . `openssl passwd -apr1 'ops-secret'`;

sub node_config {
    my ($n) = @_;
    return std_config(workers => 2, idle => '60s', auth => '%%PREFIX%%/devices.htpasswd',
        main => "
fcfh_cluster_node node$n;
fcfh_cluster_address 127.0.0.1:%%PORT_10%%;
fcfh_cluster_redis 127.0.0.1:$rport;
fcfh_cluster_ssl_certificate %%CERTS%%/node$n.crt;
fcfh_cluster_ssl_certificate_key %%CERTS%%/node$n.key;
fcfh_cluster_ssl_trusted_certificate %%CERTS%%/cluster-ca.crt;",
        stream => "
    server {
        listen 127.0.0.1:%%PORT_10%% ssl;
        ssl_certificate %%CERTS%%/node$n.crt;
        ssl_certificate_key %%CERTS%%/node$n.key;
        ssl_verify_client on;
        ssl_client_certificate %%CERTS%%/cluster-ca.crt;
        fcfh_cluster_relay;
    }
    server { listen 127.0.0.1:%%PORT_3%%; fcfh_proxy; }",
        http => "
    server {
        listen 127.0.0.1:%%PORT_4%%;
        location / { fcfh_pass; }
    }
    server {
        listen 127.0.0.1:%%PORT_5%%;
        location /api/ { fcfh_api; }
        location = /events { fcfh_events; }
    }
    server {
        listen 127.0.0.1:%%PORT_6%%;
        location = /metrics { fcfh_metrics; }
    }");
}

my @t;
for my $n (1 .. 3) {
    my $t = FcfhTest->new;
    $t->write_file('devices.htpasswd', $creds);
    $t->write_config(node_config($n));
    $t->run;
    push @t, $t;
}
for my $n (1 .. 3) {
    ok($t[$n - 1]->wait_for_log(qr/directory at 127\.0\.0\.1:$rport, node "node$n"/,
                                T(5)),
       "node$n: directory connected");
}
like(redis('GET', 'fcfh:n:node2'), qr/^127\.0\.0\.1:\d+$/,
     'node2 publishes its cluster address');

sub guid { sprintf '00000000-0000-4000-8000-%012x', $_[0] }
my ($GA, $GB) = (guid(0xa1), guid(0xb1));

# device A on node1, B on node2 (simulated devices answer WS-Management)
$t[0]->run_sim('--connect', '127.0.0.1:' . $t[0]->port(1), '--guid', $GA,
               '--fqdn', 'a%d.example.test', '--reconnect', 300, '--quiet');
$t[1]->run_sim('--connect', '127.0.0.1:' . $t[1]->port(1), '--guid', $GB,
               '--fqdn', 'b%d.example.test', '--reconnect', 300, '--quiet');

ok(wait_for(sub { redis('HGET', "fcfh:d:$GA", 'node') eq 'node1'
                  && redis('HGET', "fcfh:d:$GB", 'node') eq 'node2'
                  && redis('GET', 'fcfh:f:b0.example.test') eq $GB }, T(10)),
   'directory: A on node1, B on node2, B\'s FQDN indexed');

my $repo = repo_dir();
my $identify = "$repo/sim/identify.xml";
my $ct = "-H 'Content-Type: application/soap+xml;charset=UTF-8'";

sub curl {
    my $out = `curl -s -m 20 -w '\\n%{http_code}' @_ 2>&1`;
    my ($body, $code) = $out =~ /^(.*)\n(\d+)$/s;
    return ($code // 0, $body // '');
}

# --- every front door of every node reaches both devices ----------------------

for my $n (1 .. 3) {
    my $t = $t[$n - 1];
    my $socks = '127.0.0.1:' . $t->port(3);
    my $pass = '127.0.0.1:' . $t->port(4);
    for my $d (['A', $GA, 'a0.example.test', 1], ['B', $GB, 'b0.example.test', 2]) {
        my ($name, $g, $fqdn, $home) = @$d;
        my $where = $home == $n ? 'local' : "held by node$home";
        my ($code, $body) = curl("--socks5-hostname $socks", $ct,
                                 '--data-binary', "\@$identify",
                                 "http://$g:16992/wsman");
        ok($code == 200 && $body =~ /IdentifyResponse/,
           "node$n SOCKS5 -> $name ($where): Identify 200") or diag("$code $body");
        ($code, $body) = curl("-p -x http://$socks", $ct, '--data-binary',
                              "\@$identify", "http://$fqdn:16992/wsman");
        ok($code == 200 && $body =~ /IdentifyResponse/,
           "node$n CONNECT -> $name by FQDN ($where): 200") or diag("$code $body");
        ($code, $body) = curl("-x http://$pass", $ct, '--data-binary',
                              "\@$identify", "http://$g:16992/wsman");
        ok($code == 200 && $body =~ /IdentifyResponse/,
           "node$n HTTP proxy -> $name ($where): 200") or diag("$code $body");
    }
}

# more short console sessions than fcfh_max_channels (16) in a row: a
# channel whose console closed does not hold the device's limit
for my $d (['node1 SOCKS5 (local)', "--socks5-hostname 127.0.0.1:" . $t[0]->port(3)],
           ['node2 SOCKS5', "--socks5-hostname 127.0.0.1:" . $t[1]->port(3)],
           ['node2 HTTP proxy', '-x http://127.0.0.1:' . $t[1]->port(4)]) {
    my $ok = 0;
    for (1 .. 24) {
        my ($c) = curl($d->[1], $ct, '--data-binary', "\@$identify",
                       "http://$GA:16992/wsman");
        $ok++ if $c == 200;
    }
    is($ok, 24, "$d->[0]: 24 short sessions to A in a row, all answered");
}

my ($code, $body) = curl('-x http://127.0.0.1:' . $t[1]->port(4), $ct,
                         '--data-binary', "\@$identify",
                         'http://' . guid(0xdead) . ':16992/wsman');
is($code, 404, 'a device no node holds: 404');
($code) = curl("--socks5-hostname 127.0.0.1:" . $t[2]->port(3),
               "http://$GA:16999/wsman");
isnt($code, 200, 'a port the device did not register, through another node: refused');

like($t[0]->error_log, qr/channel .* open|channel to/i, 'node1 opened channels for other nodes');
like($t[1]->error_log, qr/device \S+ is on node "node1"/,
     'node2 logs which node holds the device');

# a console that half-closes (sends its request, then end of file, and
# reads the answer) through another node: the answer still comes
{
    my $n = 300000;
    my $got = `printf 'BULK $n\\n' | timeout 20 ncat --proxy 127.0.0.1:${\$t[1]->port(3)} --proxy-type socks5 --proxy-dns remote $GA 16992 | wc -c`;
    chomp $got;
    is($got + 0, $n, 'half close through another node: all 300000 bytes of the answer');
}

# a reload of node2: B stays in an old worker, still reachable from node1;
# the new workers join the directory
{
    my $mark = $t[1]->log_mark;
    $t[1]->reload;
    ok($t[1]->wait_for_log(qr/directory at 127\.0\.0\.1:$rport, node "node2"/,
                           T(5), $mark), 'node2 reloaded: new workers join the directory');
    my ($c, $b) = curl("--socks5-hostname 127.0.0.1:" . $t[0]->port(3), $ct,
                       '--data-binary', "\@$identify", "http://$GB:16992/wsman");
    is($c, 200, 'node1 -> B after node2\'s reload: 200');
}

# --- the cluster port: node certificates only ---------------------------------

{
    my $cport = $t[0]->port(10);
    my $certs = $t[0]->certs;
    # a well-formed preamble between nodes (version 2, zero MAC)
    my $pre = "FCFH\x02\x01\x42\x70" . guid_wire($GA) . ("\0" x 8) . "\0\0\0\0" . ("\0" x 60)
            . ("\0" x 32);
    # with a device certificate (the devices' CA, not the cluster's)
    my $out = `printf '' | timeout 5 openssl s_client -connect 127.0.0.1:$cport -cert $certs/device1.crt -key $certs/device1.key -quiet 2>&1`;
    unlike($out // '', qr/^\x00\x00/, 'a device certificate cannot use the cluster port');
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$cport", Timeout => 3);
    print $s $pre;
    my $got = '';
    sysread($s, $got, 2) if $s;
    isnt($got, "\0\0", 'a plain preamble on the cluster port gets no channel');
    close $s if $s;
    ok(wait_for(sub { $t[0]->error_log =~ /(?:certificate|SSL|ssl).*127\.0\.0\.1/ }, T(3)),
       'refusals logged with the peer address');
}

# a directory entry naming a node whose certificate says otherwise (a
# forged or stale entry): refused, never relayed
{
    my $GF = guid(0xf1);
    redis('HSET', "fcfh:d:$GF", 'node', 'node9', 'serial', '1',
          'since', time, 'fqdn', '');
    redis('SET', 'fcfh:n:node9', '127.0.0.1:' . $t[2]->port(10), 'EX', 60);
    my ($c, $b) = curl('-x http://127.0.0.1:' . $t[1]->port(4), $ct,
                       '--data-binary', "\@$identify", "http://$GF:16992/wsman");
    is($c, 503, 'an entry whose node has another name\'s certificate: 503');
    ok($t[1]->wait_for_log(qr/certificate at 127\.0\.0\.1:\d+ does not name node "node9"/, T(3)),
       '... logged as such');
    redis('DEL', "fcfh:d:$GF", 'fcfh:n:node9');
}

# --- API across the cluster, events name the node -----------------------------

my $api3 = $t[2]->port(5);
my $doc = eval { decode_json((http_get($api3, '/api/cluster/tunnels'))[2]) };
my %where = map { $_->{guid} => $_->{node} } @{ $doc->{tunnels} // [] };
is($where{$GA}, 'node1', 'cluster list from node3: A on node1');
is($where{$GB}, 'node2', '... B on node2');
is($doc->{next_cursor}, undef, '... one page: no next_cursor');
is($doc->{total}, undef, '... total not known (the directory is scanned)');
ok((grep { $_->{guid} eq $GB && $_->{node_alive} } @{ $doc->{tunnels} }),
   '... its node alive');

my $serial_b = redis('HGET', "fcfh:d:$GB", 'serial');
my ($st, undef, $resp) = http_request($t[0]->port(5), 'DELETE',
                                      "/api/tunnels/$GB");
is($st, 200, 'node1 closes B, held by node2');
like($resp, qr/"closed":"\Q$GB\E","node":"node2"/, '... and says which node');
ok(wait_for(sub { $t[1]->error_log =~ /tunnel of device \Q$GB\E closed at the request of another node/ }, T(3)),
   'node2 closed it');
ok(wait_for(sub { my $s = redis('HGET', "fcfh:d:$GB", 'serial');
                  $s ne '' && $s ne $serial_b }, T(10)),
   'B reconnected: a new tunnel in the directory');
($st) = http_request($t[0]->port(5), 'DELETE', '/api/tunnels/' . guid(0xdead));
is($st, 404, 'closing a device no node holds: 404');

my (undef, undef, $stats) = http_get($t[1]->port(5), '/api/stats');
my $sj = eval { decode_json($stats) } // {};
is_deeply($sj->{cluster}, { node => 'node2', directory => 'up' },
          'stats: this node and its directory');
cmp_ok($sj->{cluster_relays} // 0, '>=', 3, '... channels opened through other nodes counted');
my $metrics = (http_request($t[1]->port(6), 'GET', '/metrics'))[2] // '';
like($metrics, qr/^fcfh_cluster_directory_up\{node="node2"\} 1$/m,
     'metrics: fcfh_cluster_directory_up');
like($metrics, qr/^fcfh_cluster_relays_total [1-9]/m, 'metrics: fcfh_cluster_relays_total');

# keep-alive through another node: one channel for all the requests
{
    my $relays = sub {
        my (undef, undef, $b) = http_get($t[1]->port(5), '/api/stats');
        (eval { decode_json($b) } // {})->{cluster_relays} // -1;
    };
    my $before = $relays->();
    my $u = "http://$GA:16992/wsman";
    my $out = `curl -s -m 20 -x http://127.0.0.1:${\$t[1]->port(4)} $ct --data-binary \@$identify $u $u $u $u $u 2>&1`;
    my @r = $out =~ /<\w+:IdentifyResponse>/g;
    is(scalar @r, 5, 'five requests on one keep-alive connection through node2');
    is($relays->() - $before, 1, '... over one channel through node1');
}

my $ev = '';
{
    # the ring replayed from the start (Last-Event-ID: 0), read for a while
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t[1]->port(5),
                                  Timeout => 3);
    print $s "GET /events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 0\r\n\r\n";
    my $deadline = time + T(2);
    while (time < $deadline) {
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        select($rin, undef, undef, 0.2) or next;
        sysread($s, $ev, 65536, length $ev) or last;
    }
}
like($ev, qr/"event":"disconnected"[^}]*"node":"node2"|"node":"node2"[^}]*"event":"disconnected"/,
     'node2\'s events carry "node":"node2"');

# --- newest tunnel wins across nodes ------------------------------------------

my $GC = guid(0xc1);
my $c1 = FcfhApf->connect($t[0]->port(1));
$c1->handshake($GC, 'admin', 'P@ssw0rd', [16992], 'c.example.test');
ok($c1->{established}, 'device C on node1');
ok(wait_for(sub { redis('HGET', "fcfh:d:$GC", 'node') eq 'node1' }, T(5)),
   '... in the directory');
my $c2 = FcfhApf->connect($t[2]->port(1));
$c2->handshake($GC, 'admin', 'P@ssw0rd', [16992], 'c.example.test');
ok($c2->{established}, 'C connects again, to node3');
my $t0 = time;
is($c1->expect_disconnect(T(5)), 11, 'node1 closes its older tunnel of C (DISCONNECT 11)');
my $took = time - $t0;
note(sprintf 'old tunnel closed %.0f ms after the new one registered', $took * 1000);
is(redis('HGET', "fcfh:d:$GC", 'node'), 'node3', 'directory: C on node3');
ok(wait_for(sub { $t[0]->error_log =~ /\Q$GC\E closed, it connected to another node/ }, T(3)),
   'node1 logs why');
ok(wait_for(sub { $t[2]->error_log =~ /device \Q$GC\E moved here from node "node1"/ }, T(3)),
   'node3 logs the move');
$c2->close_conn if $c2->can('close_conn');
undef $c2;
ok(wait_for(sub { redis('EXISTS', "fcfh:d:$GC") eq '0' }, T(5)),
   'C gone: its entry removed from the directory');

# a late claim of an older tunnel (say, republished after a Redis restart)
# loses against a newer one on a live node: that node's entry stays and
# the claimer closes its stale tunnel
my $GD = guid(0xd1);
redis('HSET', "fcfh:d:$GD", 'node', 'node2', 'serial', '7',
      'since', time + 100, 'fqdn', '');
my $d1 = FcfhApf->connect($t[0]->port(1));
$d1->handshake($GD, 'admin', 'P@ssw0rd', [16992], 'd.example.test');
is($d1->expect_disconnect(T(5)), 11,
   'a tunnel older than the directory\'s (on a live node) is closed');
is(redis('HGET', "fcfh:d:$GD", 'node'), 'node2', '... the newer entry stays');
ok($t[0]->wait_for_log(qr/\Q$GD\E has a newer tunnel on node "node2"/, T(3)),
   '... and node1 says why');
redis('DEL', "fcfh:d:$GD");

# --- another identity cannot take a GUID on another node ----------------------

my $GI = guid(0xe9);
my $i1 = FcfhApf->connect($t[0]->port(1));
$i1->handshake($GI, 'admin', 'P@ssw0rd', [16992], 'i.example.test');
ok(wait_for(sub { redis('HGET', "fcfh:d:$GI", 'node') eq 'node1' }, T(5)),
   'a device of identity admin on node1');
my $i3 = FcfhApf->connect($t[2]->port(1));
$i3->handshake($GI, 'ops', 'ops-secret', [16992], 'i.example.test');
ok(defined $i3->expect_disconnect(T(5)), 'its GUID as identity ops on node3: closed');
ok($t[2]->wait_for_log(qr/device GUID \Q$GI\E is connected to node "node1" as another identity/, T(3)),
   '... node3 says why');
is(redis('HGET', "fcfh:d:$GI", 'node'), 'node1', '... the directory keeps node1');
ok($i1->ping(1, T(3)), '... and node1\'s tunnel is untouched');
$i1->close;

# --- a name belongs to one device across nodes --------------------------------

# B (node2) holds b0.example.test: a device on node3 naming itself so is
# not registered by it, on node3 or in the directory
my $GN = guid(0xe1);
my $n3 = FcfhApf->connect($t[2]->port(1));
$n3->handshake($GN, 'admin', 'P@ssw0rd', [16992], 'b0.example.test');
ok($n3->{established}, "a device on node3 claims B's name");
ok($t[2]->wait_for_log(qr/device name "b0\.example\.test" of \Q$GN\E is held by device \Q$GB\E on another node/, T(5)),
   '... node3 is told the name is held and says so');
is(redis('GET', 'fcfh:f:b0.example.test'), $GB, '... the directory keeps it for B');
is(redis('HGET', "fcfh:d:$GN", 'fqdn'), '', '... and records no name for the claimer');
ok(wait_for(sub { !(find_tunnel(status_json($t[2]->port(2)), $GN) // {})->{fqdn} }, T(3)),
   '... which node3 no longer routes the name to');
for my $n (3, 1) {
    my ($code, $body) = curl("--socks5-hostname 127.0.0.1:" . $t[$n - 1]->port(3), $ct,
                             '--data-binary', "\@$identify", 'http://b0.example.test:16992/wsman');
    ok($code == 200 && $body =~ /IdentifyResponse/, "node$n: the name reaches B") or diag("$code $body");
}
my $m3 = $n3->read_msg(0.5);
ok(!$m3 || $m3->{type} != CHANNEL_OPEN, 'the claimer got no console');

# the other order: the first claimer on node1 keeps the name against node3
my ($GF1, $GF2) = (guid(0xf1), guid(0xf2));
my $f1 = FcfhApf->connect($t[0]->port(1));
$f1->handshake($GF1, 'admin', 'P@ssw0rd', [16992], 'f.example.test');
ok(wait_for(sub { redis('GET', 'fcfh:f:f.example.test') eq $GF1 }, T(5)),
   'a device on node1 holds f.example.test');
my $f2 = FcfhApf->connect($t[2]->port(1));
$f2->handshake($GF2, 'admin', 'P@ssw0rd', [16992], 'f.example.test');
ok($t[2]->wait_for_log(qr/device name "f\.example\.test" of \Q$GF2\E is held by device \Q$GF1\E/, T(5)),
   'a later claimer on node3 is refused the name');
is(redis('GET', 'fcfh:f:f.example.test'), $GF1, '... which stays with the first');
my $s = socks5_begin($t[1]->port(3), 'f.example.test', 16992);
my $open = $f1->read_msg(T(5));
is($open && $open->{type}, CHANNEL_OPEN, 'a console on node2 naming it reaches the holder');
$f1->send(channel_failure($open->{sender}, 2)) if $open && $open->{type} == CHANNEL_OPEN;
close $s if $s;
$_->close for $n3, $f1, $f2;

# --- Redis down: local devices work, remote ones fail clearly -----------------

redis_stop();
my $pass2 = '127.0.0.1:' . $t[1]->port(4);
($code, $body) = curl("-x http://$pass2", $ct, '--data-binary', "\@$identify",
                      "http://$GB:16992/wsman");
is($code, 200, 'Redis down: node2 still reaches its own device B');
$t0 = time;
($code, $body) = curl("-x http://$pass2", $ct, '--data-binary', "\@$identify",
                      "http://$GA:16992/wsman");
is($code, 503, 'Redis down: node2 -> A (remote) is 503');
like($body, qr/cluster directory or owner node unavailable/, '... saying why');
cmp_ok(time - $t0, '<', T(5), '... within the Redis timeout');
ok($t[1]->wait_for_log(qr/directory at 127\.0\.0\.1:$rport unavailable/, T(5)),
   'node2 logs the directory down');

redis_start();
ok(wait_for(sub { redis('HGET', "fcfh:d:$GA", 'node') eq 'node1'
                  && redis('HGET', "fcfh:d:$GB", 'node') eq 'node2' }, T(10)),
   'Redis back (empty): nodes publish their devices again');
($code, $body) = curl("-x http://$pass2", $ct, '--data-binary', "\@$identify",
                      "http://$GA:16992/wsman");
is($code, 200, 'node2 -> A works again');

# --- a dead node stops being routed to ----------------------------------------

# a crash: master and workers at once, nothing said to Redis
kill 'KILL', grep { $_ } $t[0]->master_pid, $t[0]->worker_pids;
$t[0]->{master} = undef;
$t0 = time;
my $gone = wait_for(sub { redis('EXISTS', 'fcfh:n:node1') eq '0' }, T(10));
my $ttl = time - $t0;
ok($gone, sprintf 'node1 killed: its liveness key expired (%.1f s)', $ttl);
cmp_ok($ttl, '<=', 6.5, '... within fcfh:n: TTL (6 s)');
($code) = curl("-x http://$pass2", $ct, '--data-binary', "\@$identify",
               "http://$GA:16992/wsman");
is($code, 404, 'A (held by dead node1) is unknown, not a hanging request');

# --- a Redis that wants a password (fcfh_cluster_redis_auth_file) -------------

{
    my $aport = $rt->free_port;
    my $apid = fork // die "fork: $!";
    if (!$apid) {
        open STDOUT, '>>', "$rdir/redis-auth.log"; open STDERR, '>&', \*STDOUT;
        no warnings 'exec';
        exec $redis_server, '--port', $aport, '--bind', '127.0.0.1', '--save', '',
             '--appendonly', 'no', '--dir', $rdir, '--requirepass', 's3cret';
        POSIX::_exit(127);
    }
    wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$aport") }, 10);

    # a listener that never accepts, its queue filled: SYNs are dropped
    my $hole = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 0, Proto => 'tcp') or die;
    my $hport = $hole->sockport;
    my @fill;
    for (1 .. 4) {
        my $f = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$hport",
                                      Blocking => 0);
        push @fill, $f if $f;
    }
    my @a;
    for my $pw ('s3cret', 'wrong') {
        my $t = FcfhTest->new;
        $t->write_file('redis.auth', "$pw\n");
        $t->write_file('devices.htpasswd', $creds);
        chmod 0600, $t->prefix . '/redis.auth';
        my $conf = node_config(3);
        # the first server listed drops connection attempts (its accept
        # queue is full): the node gives up on it and takes the next
        $conf =~ s/fcfh_cluster_redis 127\.0\.0\.1:$rport;/fcfh_cluster_redis 127.0.0.1:$hport 127.0.0.1:$aport;\nfcfh_cluster_redis_auth_file %%PREFIX%%\/redis.auth;/;
        $conf =~ s/fcfh_cluster_node node3;/fcfh_cluster_node node3;/;
        $t->write_config($conf);
        $t->run;
        push @a, $t;
    }
    ok($a[0]->wait_for_log(qr/directory at 127\.0\.0\.1:$aport/, T(12)),
       'the right Redis password: directory connected');
    ok($a[0]->wait_for_log(qr/redis did not answer the connection/, T(1)),
       '... after giving up on a server that drops connections');
    ok($a[1]->wait_for_log(qr/redis: WRONGPASS/, T(5)),
       'a wrong one: Redis\'s refusal logged');
    unlike($a[1]->error_log . $a[0]->error_log, qr/s3cret|wrong\b(?!PASS)/,
           '... and no password in the logs');
    $_->stop for @a;
    kill 'KILL', $apid;
    { local $?; waitpid $apid, 0; }
}

for my $t (@t[1, 2]) {
    is_deeply([$t->alerts], [], 'no [alert] in ' . $t->prefix);
}

$t[1]->done_testing;

sub guid_wire {
    my ($g) = @_;
    my $h = $g; $h =~ s/-//g;
    my @b = map { hex } $h =~ /(..)/g;
    # first three fields little-endian on the wire
    @b[0 .. 3] = reverse @b[0 .. 3];
    @b[4, 5] = @b[5, 4];
    @b[6, 7] = @b[7, 6];
    return pack 'C*', @b;
}
