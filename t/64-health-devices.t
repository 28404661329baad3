#!/usr/bin/perl
# GET <api>/health (200 or 503 and why: zone nearly full, a worker's relay
# socket missing) and the device history (fcfh_device_history): a record per
# GUID kept after the tunnel is gone (first and last connection, the last
# disconnection and why, peer, identity, trigger, count of connections),
# evicted least recently seen first; GET devices with state/since filters and
# cursor paging, GET devices/<guid>; stats and metrics count connected and
# known devices; a history that does not fit a quarter of the zone is cut,
# and with the history off the connected devices are still listed.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->allow_log(qr/worker process \d+ exited on signal 9/);
$t->write_config(std_config(workers => 2, idle => '120s',
    main => 'fcfh_device_history 3;',
    http => 'server {
        listen 127.0.0.1:%%PORT_4%%;
        location /api/ { fcfh_api; }
        location = /metrics { fcfh_metrics; }
    }'));
$t->run;
my $api = $t->port(4);
my $sport = $t->port(2);

sub get {
    my ($method, $path, $port) = @_;
    my ($st, $h, $body) = http_request($port // $api, $method, $path);
    my $doc = eval { JSON::PP->new->decode($body // '') };
    return ($st // 0, $doc, $h // {}, $body // '');
}

sub guid { sprintf '00000000-0000-4000-8000-0000000064%02x', $_[0] }

my %dev;
sub up {
    my ($n, %o) = @_;
    my $d = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
    $d->handshake(guid($n), 'admin', 'P@ssw0rd', [16992], "dev$n.example.test",
                  trigger => $o{trigger} // 1);
    ok($d->{established}, "device $n up");
    ok(wait_status($sport, sub { find_tunnel($_, guid($n)) }, T(5)), "device $n listed");
    $dev{$n} = $d;
}

sub device { my ($st, $doc) = get('GET', '/api/devices/' . guid($_[0])); ($st, $doc) }

# --- health ----------------------------------------------------------------

my ($st, $doc, $h) = get('GET', '/api/health');
is($st, 200, 'health: 200');
is($doc->{status}, 'ok', 'health: ok');
is_deeply($doc->{reasons}, [], 'health: no reasons');
is($doc->{workers}{live}, 2, 'health: two live workers');
is($doc->{workers}{relay_sockets_missing}, 0, 'health: every relay socket there');
is($doc->{cluster}, undef, 'health: no cluster');
ok(!$doc->{shutting_down}, 'health: not shutting down');
ok($doc->{zone}{used_percent} > 0 && $doc->{zone}{threshold_percent} == 90,
   "health: zone $doc->{zone}{used_percent}% used, threshold 90%");

($st, $doc) = get('GET', '/api/health?zone_threshold=1');
is($st, 503, 'health with a 1% threshold: 503');
is_deeply($doc->{reasons}, ['zone_nearly_full'], '... zone_nearly_full');
is($doc->{status}, 'unavailable', '... unavailable');
($st, $doc) = get('GET', '/api/health?zone_threshold=0');
is($st, 400, 'health: zone_threshold 0 refused');
($st, undef, $h) = get('HEAD', '/api/health');
is($st, 200, 'health: HEAD 200');
($st, $doc, $h) = get('POST', '/api/health');
is($st, 405, 'health: POST 405');
is($h->{allow}, 'GET, HEAD', '... Allow: GET, HEAD');

# --- the history of one device ----------------------------------------------

my $t0 = time;
up(1);
($st, $doc) = device(1);
is($st, 200, 'device 1: 200');
is($doc->{state}, 'connected', 'device 1: connected');
is($doc->{connections}, 1, 'device 1: one connection');
is($doc->{fqdn}, 'dev1.example.test', 'device 1: its name');
is($doc->{identity}, 'admin', 'device 1: identity');
is($doc->{user}, 'admin', 'device 1: user');
is($doc->{auth}, 'password', 'device 1: auth');
like($doc->{peer} // '', qr/^127\.0\.0\.1\b/, 'device 1: peer');
is($doc->{trigger}, 'user', 'device 1: trigger user');
ok($doc->{first_connected_at} && $doc->{first_connected_at} eq $doc->{last_connected_at},
   'device 1: first connection is the last');
is($doc->{last_disconnected_at}, undef, 'device 1: never disconnected');
is($doc->{last_disconnect_reason}, undef, 'device 1: no reason yet');
my $first = $doc->{first_connected_at};

# closed through the API: remembered, with why
($st) = get('DELETE', '/api/tunnels/' . guid(1));
is($st, 200, 'device 1 closed through the API');
# the API unindexes the tunnel at once; its worker records the end when the
# tunnel closes there, a moment later
ok(wait_for(sub { my $d = (device(1))[1];
                  $d->{state} eq 'disconnected' && $d->{last_disconnected_at} },
            T(5)), 'device 1: disconnected');
($st, $doc) = device(1);
is($st, 200, 'device 1 still known after its tunnel is gone');
is($doc->{last_disconnect_reason}, 'api', 'device 1: closed by the API');
ok($doc->{last_disconnected_at}, 'device 1: when');
($st, $doc) = get('GET', '/api/tunnels/' . guid(1));
is($st, 404, 'no tunnel of device 1 any more');

# back with another trigger, then gone by itself
sleep(1.1);
up(1, trigger => 4);
($st, $doc) = device(1);
is($doc->{state}, 'connected', 'device 1: connected again');
is($doc->{connections}, 2, 'device 1: two connections');
is($doc->{trigger}, 'periodic', 'device 1: the last trigger');
is($doc->{first_connected_at}, $first, 'device 1: the first connection kept');
isnt($doc->{last_connected_at}, $first, 'device 1: a later last connection');
is($doc->{last_disconnect_reason}, 'api', 'device 1: the last disconnection kept');
$dev{1}->close;
ok(wait_for(sub { (device(1))[1]{last_disconnect_reason} eq 'device' }, T(5)),
   'device 1 left: reason device');

# --- many devices: filters, paging, eviction ---------------------------------

sleep(1.1);
up($_) for 2 .. 4;

# fcfh_device_history 3: device 1, seen least recently, made room
($st, $doc) = device(1);
is($st, 404, 'device 1 evicted by the fourth device');
($st, $doc) = get('GET', '/api/devices');
is($doc->{total}, 3, 'devices: three known');
is(scalar(grep { $_->{state} eq 'connected' } @{$doc->{devices}}), 3, 'devices: all connected');

$dev{2}->close;
ok(wait_for(sub { (device(2))[1]{state} eq 'disconnected' }, T(5)), 'device 2 left');
($st, $doc) = get('GET', '/api/devices?state=connected');
is_deeply([sort map { $_->{guid} } @{$doc->{devices}}], [guid(3), guid(4)],
          'state=connected: devices 3 and 4');
($st, $doc) = get('GET', '/api/devices?state=disconnected');
is_deeply([map { $_->{guid} } @{$doc->{devices}}], [guid(2)], 'state=disconnected: device 2');
($st, $doc) = get('GET', '/api/devices?state=disconnected&since=' . (time + 60));
is($doc->{total}, 0, 'since (future) and disconnected: none');
($st, $doc) = get('GET', '/api/devices?since=' . (time + 60));
is($doc->{total}, 2, 'since (future): the connected ones are seen now');
($st, $doc) = get('GET', "/api/devices?since=$t0");
is($doc->{total}, 3, 'since the start: all three');
($st, $doc) = get('GET', '/api/devices?state=gone');
is($st, 400, 'state=gone: 400');
($st, $doc) = get('GET', '/api/devices/dev3.example.test');
is($st, 400, 'devices/<name>: 400, a GUID is needed');
($st, $doc) = get('GET', '/api/devices/00000000-0000-4000-8000-00000000ffff');
is($st, 404, 'an unknown GUID: 404');

my (@seen, $cursor);
for my $n (1 .. 2) {
    ($st, $doc) = get('GET', '/api/devices?limit=2' . ($cursor ? "&cursor=$cursor" : ''));
    is($doc->{total}, 3, "devices page $n: total 3");
    push @seen, map { $_->{guid} } @{$doc->{devices}};
    $cursor = $doc->{next_cursor};
}
is($cursor, undef, 'devices: two pages, the last without a cursor');
is_deeply([sort @seen], [guid(2), guid(3), guid(4)], 'devices: each once over the pages');

# --- counts -------------------------------------------------------------------

($st, $doc) = get('GET', '/api/stats');
is($doc->{tunnels_connected}, 2, 'stats: two tunnels connected');
is($doc->{devices_known}, 3, 'stats: three devices known');
is($doc->{device_history_capacity}, 3, 'stats: history of 3');
my (undef, undef, $metrics) = http_get($api, '/metrics');
like($metrics, qr/^fcfh_devices_known 3$/m, 'metrics: fcfh_devices_known 3');

# --- a worker that dies: its tunnels end as worker_exit ------------------------

my $victim = find_tunnel(status_json($sport), guid(3))->{owner_pid};
ok(kill('KILL', $victim), "kill -9 the worker holding device 3 ($victim)");
ok(wait_for(sub { (device(3))[1]{state} eq 'disconnected' }, T(10)),
   'device 3: disconnected once the dead worker is swept');
is((device(3))[1]{last_disconnect_reason}, 'worker_exit', 'device 3: worker_exit');
ok(wait_for(sub { my (undef, $d) = get('GET', '/api/health');
                  $d->{workers}{live} == 2 && $d->{status} eq 'ok' }, T(10)),
   'health: ok again with the new worker');

# --- a relay socket gone --------------------------------------------------------

my ($sock) = glob($t->prefix . '/relay/*.sock');
ok($sock && unlink($sock), 'a worker relay socket removed');
($st, $doc) = get('GET', '/api/health');
is($st, 503, 'health: 503');
is_deeply($doc->{reasons}, ['relay_socket_missing'], '... relay_socket_missing');
is($doc->{workers}{relay_sockets_missing}, 1, '... one socket');

# --- the history cut to a quarter of the zone; the history off -----------------------

my $big = FcfhTest->new;
$big->write_config(std_config(main => 'fcfh_device_history 1000000;', zone => '1m',
    http => 'server {
        listen 127.0.0.1:%%PORT_4%%;
        location /api/ { fcfh_api; }
    }'));
$big->run;
like($big->error_log, qr/fcfh_device_history 1000000 does not fit in a quarter of the zone, keeping \d+ records/,
     'a history too large for the zone: a notice');
(undef, $doc) = get('GET', '/api/stats', $big->port(4));
ok($doc->{device_history_capacity} > 0 && $doc->{device_history_capacity} < 1000,
   "the history cut to $doc->{device_history_capacity} records of a 1m zone");

my $off = FcfhTest->new;
$off->write_config(std_config(main => 'fcfh_device_history 0;',
    http => 'server {
        listen 127.0.0.1:%%PORT_4%%;
        location /api/ { fcfh_api; }
    }'));
$off->run;
my $d = FcfhApf->connect($off->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$d->handshake(guid(9), 'admin', 'P@ssw0rd', [16992], 'dev9.example.test');
ok(wait_status($off->port(2), sub { find_tunnel($_, guid(9)) }, T(5)), 'history off: device 9 up');
(undef, $doc) = get('GET', '/api/devices', $off->port(4));
is($doc->{total}, 1, 'history off: the connected device listed');
is($doc->{devices}[0]{connections}, undef, '... with no count of connections');
(undef, $doc) = get('GET', '/api/stats', $off->port(4));
is($doc->{device_history_capacity}, 0, 'history off: capacity 0');
is($doc->{devices_known}, 1, 'history off: known = connected');
$d->close;
ok(wait_for(sub { (get('GET', '/api/devices', $off->port(4)))[1]{total} == 0 }, T(5)),
   'history off: gone means unknown');

$t->done_testing;
