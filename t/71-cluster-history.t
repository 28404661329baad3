#!/usr/bin/perl
# The device history of a cluster lives in the directory: a device that
# connected to node1 and left is seen from node2 (GET cluster/devices and
# cluster/devices/<guid>) with why it left, while each node's own
# GET devices stays local; its next tunnel, on node2, is counted in the
# same record; a worker killed with the device's tunnel leaves
# "worker_exit" there (the worker that sweeps it writes it, once its
# directory connection is up); fcfh_cluster_history_ttl sets the expiry,
# "off" writes nothing.  Two nodes on loopback with redis-server, as in
# t/32-cluster.t.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use JSON::PP;
use FcfhTest qw(:all);
use FcfhRedis;
use FcfhApf qw(:all);


# --- Redis, on a free loopback port ------------------------------------------

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

# --- configuration ------------------------------------------------------------

{
    my $t = FcfhTest->new;
    for my $b (['fcfh_cluster_history_ttl 1d;', qr/need "fcfh_cluster_node"/,
                'the history expiry without a cluster'],
               ["fcfh_cluster_node n1; fcfh_cluster_history_ttl 5s;",
                qr/fcfh_cluster_history_ttl.*invalid/, 'an expiry under a minute']) {
        $t->write_config(std_config(main => $b->[0]));
        my ($out, $rc) = $t->nginx_t;
        ok($rc != 0 && $out =~ $b->[1], "nginx -t refuses $b->[2]") or diag($out);
    }
}

# --- two nodes ------------------------------------------------------------------

sub node_config {
    my ($n, $extra) = @_;
    return std_config(workers => 2, idle => '60s', main => "
fcfh_cluster_node node$n;
fcfh_cluster_address 127.0.0.1:%%PORT_10%%;
fcfh_cluster_redis 127.0.0.1:$rport;
fcfh_cluster_ssl_certificate %%CERTS%%/node$n.crt;
fcfh_cluster_ssl_certificate_key %%CERTS%%/node$n.key;
fcfh_cluster_ssl_trusted_certificate %%CERTS%%/cluster-ca.crt;
$extra",
        stream => "
    server {
        listen 127.0.0.1:%%PORT_10%% ssl;
        ssl_certificate %%CERTS%%/node$n.crt;
        ssl_certificate_key %%CERTS%%/node$n.key;
        ssl_verify_client on;
        ssl_client_certificate %%CERTS%%/cluster-ca.crt;
        fcfh_cluster_relay;
    }",
        http => "
    server {
        listen 127.0.0.1:%%PORT_5%%;
        location /api/ { fcfh_api; }
    }");
}

my @t;
for my $n (1 .. 2) {
    my $t = FcfhTest->new;
    $t->write_config(node_config($n, $n == 1 ? 'fcfh_cluster_history_ttl 2d;' : ''));
    $t->allow_log(qr/worker process \d+ exited on signal 9/);
    $t->run;
    push @t, $t;
}
for my $n (1 .. 2) {
    ok($t[$n - 1]->wait_for_log(qr/directory at 127\.0\.0\.1:$rport, node "node$n"/,
                                T(5)),
       "node$n: directory connected");
}

sub api {
    my ($n, $path) = @_;
    my ($st, $h, $body) = http_get($t[$n - 1]->port(5), "/api/$path", T(5));
    my $doc = eval { JSON::PP->new->decode($body // '') };
    return ($st // 0, $doc);
}

# every page of GET cluster/devices on node n, as a map by GUID
sub cluster_devices {
    my ($n) = @_;
    my (%by, $cursor);
    for (1 .. 100) {
        my ($st, $doc) = api($n, 'cluster/devices'
                                 . (defined $cursor ? "?cursor=$cursor" : ''));
        return unless $st == 200 && ref $doc;
        $by{$_->{guid}} = $_ for @{$doc->{devices} // []};
        $cursor = $doc->{next_cursor};
        last unless defined $cursor;
    }
    return \%by;
}

my $G = '00000000-0000-4000-8000-000000000711';
my $started = time;

# --- a device on node1 leaves ----------------------------------------------------

my $d = FcfhApf->connect($t[0]->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$d->handshake($G, 'admin', 'P@ssw0rd', [16992], 'hist.example.test');
ok($d->{established}, 'device up on node1');
ok(wait_for(sub { redis('HGET', "fcfh:h:$G", 'connections') eq '1' }, T(5)),
   'its history record is in the directory');
my $ttl = redis('TTL', "fcfh:h:$G");
ok($ttl > 86400 && $ttl <= 2 * 86400, "it expires in fcfh_cluster_history_ttl (TTL $ttl)");
is(redis('HGET', "fcfh:h:$G", 'node'), 'node1', '... naming node1');

my $rec;
ok(wait_for(sub { my $m = cluster_devices(2);
                  $rec = $m && $m->{$G};
                  $rec && $rec->{state} eq 'connected' }, T(5)),
   'node2 sees it connected');

$d->send(disconnect(11));
$d->close;
ok(wait_for(sub { redis('HGET', "fcfh:h:$G", 'last_disconnect_reason') eq 'device' },
            T(5)),
   'its end is written to the directory');

$rec = cluster_devices(2)->{$G};
ok($rec, 'node2 lists the device in GET cluster/devices');
is($rec->{node}, 'node1', '... on node1 last');
is($rec->{state}, 'disconnected', '... disconnected');
is($rec->{last_disconnect_reason}, 'device', '... because the device left');
is($rec->{connections}, 1, '... one tunnel so far');
is($rec->{identity}, 'admin', '... its identity');
is($rec->{auth}, 'password', '... authenticated by password');
is($rec->{fqdn}, 'hist.example.test', '... its name');
like($rec->{peer} // '', qr/^127\.0\.0\.1:\d+$/, '... its peer');
ok(defined $rec->{last_disconnected_at}, '... and when it left');

my ($st, $one) = api(2, "cluster/devices/$G");
is($st, 200, 'GET cluster/devices/<guid> on node2: 200');
is($one->{last_disconnect_reason}, 'device', '... the same record');
($st) = api(2, 'cluster/devices/00000000-0000-4000-8000-0000000007ff');
is($st, 404, 'a device the directory does not know: 404');
($st) = api(2, 'cluster/devices/nonsense');
is($st, 400, 'not a GUID: 400');
($st) = api(2, 'cluster/devices?cursor=x');
is($st, 400, 'a cursor that is not a number: 400');

($st, my $local) = api(2, "devices/$G");
is($st, 404, 'node2\'s own GET devices stays local: 404');

# --- the next tunnel, on node2, in the same record ----------------------------

$d = FcfhApf->connect($t[1]->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$d->handshake($G, 'admin', 'P@ssw0rd', [16992], 'hist.example.test');
ok($d->{established}, 'the device comes back, to node2');
ok(wait_for(sub { redis('HGET', "fcfh:h:$G", 'connections') eq '2' }, T(5)),
   'its second tunnel is counted once');
$rec = cluster_devices(1)->{$G};
is($rec->{node}, 'node2', 'node1 sees it on node2 now');
is($rec->{state}, 'connected', '... connected');
is($rec->{connections}, 2, '... two tunnels');
is($rec->{last_disconnect_reason}, 'device', '... its last end still there');
$ttl = redis('TTL', "fcfh:h:$G");
ok($ttl > 2 * 86400, "node2's expiry, the default of 30 days (TTL $ttl)");

# --- its worker dies ------------------------------------------------------------

my $doc = wait_status($t[1]->port(2), sub { find_tunnel($_, $G) }, T(5));
my $owner = (find_tunnel($doc, $G) // {})->{owner_pid};
ok($owner, "the tunnel's worker on node2: $owner");
kill 'KILL', $owner;
ok(wait_for(sub { redis('HGET', "fcfh:h:$G", 'last_disconnect_reason') eq 'worker_exit' },
            T(10)),
   'worker killed: the worker that swept its tunnel wrote "worker_exit"');
is(redis('HGET', "fcfh:h:$G", 'connections'), '2', '... without counting anything');
$rec = cluster_devices(1)->{$G};
is($rec->{last_disconnect_reason}, 'worker_exit', 'node1 sees why');
$d->close;

# --- fcfh_cluster_history_ttl off -------------------------------------------------

my $mark = $t[0]->log_mark;
$t[0]->write_config(node_config(1, 'fcfh_cluster_history_ttl off;'));
ok($t[0]->reload, 'node1 reloaded with fcfh_cluster_history_ttl off');
ok($t[0]->wait_for_log(qr/directory at 127\.0\.0\.1:$rport, node "node1"/, T(5),
                       $mark),
   'node1: directory connected again');
my $G2 = '00000000-0000-4000-8000-000000000712';
my $d2 = FcfhApf->connect($t[0]->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$d2->handshake($G2, 'admin', 'P@ssw0rd', [16992], 'off.example.test');
ok(wait_for(sub { redis('HGET', "fcfh:d:$G2", 'node') eq 'node1' }, T(5)),
   'a device on node1 is in the directory');
is(redis('EXISTS', "fcfh:h:$G2"), '0', '... without a history record');
$d2->close;

$t[0]->done_testing;
