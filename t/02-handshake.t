#!/usr/bin/perl
# Password handshake end to end: APF replies, keepalives, status JSON facts,
# removal on disconnect; and a simulated device showing up in status.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config());
$t->run;
my $sport = $t->port(2);

my $GUID = '4c4c4544-004b-4210-8033-b6c04f504633';
my $FQDN = 'dev0.example.test';
# what real AMT registers, in its order: 5900 last
my @PORTS = (16993, 16992, 664, 623, 16995, 16994, 5900);

# --- scripted device -------------------------------------------------------

my $c = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
my $got = $c->handshake($GUID, 'admin', 'P@ssw0rd', \@PORTS, $FQDN, trigger => 1);
ok($c->{established}, 'handshake established') or diag(explain $got);

my @types = map { $_->{type} } @$got;
is_deeply(\@types, [SERVICE_ACCEPT, USERAUTH_SUCCESS, SERVICE_ACCEPT,
                    (REQUEST_SUCCESS) x 7, KEEPALIVE_OPTIONS_REQUEST],
          'message sequence') or diag(explain $got);
is($got->[0]{service}, AUTH_SERVICE, 'SERVICE_ACCEPT echoes auth service');
is($got->[2]{service}, PFWD_SERVICE, 'SERVICE_ACCEPT echoes pfwd service');
is_deeply([ map { $_->{port} } grep { $_->{type} == REQUEST_SUCCESS } @$got ], \@PORTS,
          'REQUEST_SUCCESS carries each forwarded port');
my ($ko) = grep { $_->{type} == KEEPALIVE_OPTIONS_REQUEST } @$got;
is($ko && $ko->{interval}, 30, 'KEEPALIVE_OPTIONS_REQUEST interval 30');
is($ko && $ko->{timeout}, 0, 'KEEPALIVE_OPTIONS_REQUEST timeout 0');

$c->send(keepalive_request(0xdeadbeef));
my $m = $c->read_msg(T(3));
is($m && $m->{type}, KEEPALIVE_REPLY, 'keepalive answered');
is($m && $m->{cookie}, 0xdeadbeef, 'keepalive cookie echoed');

# --- status ----------------------------------------------------------------

my $doc = wait_status($sport, sub { find_tunnel($_, $GUID) }, T(3));
ok($doc, 'tunnel listed in status') or diag(explain $FcfhTest::LAST_STATUS);
my $e = find_tunnel($doc, $GUID) // {};
is($doc->{total}, 1, 'total 1');
is($e->{fqdn}, $FQDN, 'fqdn');
is_deeply($e->{ports}, \@PORTS, 'ports');
is($e->{identity}, 'admin', 'identity');
is($e->{user}, 'admin', 'user');
is($e->{auth}, 'password', 'auth method');
is($e->{trigger}, 'user', 'trigger name');
is($e->{trigger_code}, 1, 'trigger code');
is($e->{protocol_version}, '1.0', 'protocol version');
is($e->{tls_protocol}, 'TLSv1.3', 'tls_protocol TLSv1.3 (ssl_protocols TLSv1.2 TLSv1.3)');
is($e->{tls_cipher}, $c->sock->get_cipher, 'tls_cipher is the negotiated suite');
is($e->{peer}, '127.0.0.1:' . $c->sock->sockport, 'peer address and port');
ok((grep { $_ == ($e->{owner_pid} // 0) } $t->worker_pids), 'owner_pid is a worker');
ok(($e->{serial} // 0) > 0, 'serial');
like($e->{connected_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'connected_at ISO 8601 UTC');
is($e->{keepalive_interval}, 30, 'keepalive_interval');
ok(($e->{bytes_in} // 0) > 0, 'bytes_in counted');
ok(($e->{bytes_out} // 0) > 0, 'bytes_out counted');
$doc = wait_status($sport, sub { my $x = find_tunnel($_, $GUID); $x && $x->{last_keepalive} }, T(3));
like(find_tunnel($doc, $GUID) ? find_tunnel($doc, $GUID)->{last_keepalive} : '',
     qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'last_keepalive set after a keepalive');

# filters
for my $q ($GUID, $FQDN) {
    my $d = status_json($sport, "?device=$q");
    is($d && $d->{_http_status}, 200, "?device=$q found");
    # "filters to one": a one-element list or the tunnel object itself
    my @one = !$d ? () : $d->{guid} ? ($d) : @{$d->{tunnels} // []};
    is(scalar @one, 1, "?device=$q gives one tunnel");
    is($one[0] && $one[0]{guid}, $GUID, "?device=$q gives the right tunnel");
}
my ($st, $h, $body) = http_get($sport, '/status?device=00000000-0000-4000-8000-0000000000ff');
is($st, 404, 'unknown device: 404');
is_deeply(eval { JSON::PP->new->decode($body) }, { error => 'no such device' }, 'unknown device body');
($st, $h, $body) = http_request($sport, 'HEAD', '/status');
is($st, 200, 'HEAD /status');
is($body, '', 'HEAD has no body');
($st) = http_request($sport, 'POST', '/status');
is($st, 405, 'POST /status refused');

# --- disconnect ------------------------------------------------------------

$c->send(disconnect(11));
ok($c->wait_closed(T(3)), 'gateway closes after device DISCONNECT');
ok(wait_status($sport, sub { !find_tunnel($_, $GUID) && $_->{total} == 0 }, T(3)),
   'tunnel gone from status after DISCONNECT');

# abrupt close (TCP only, no DISCONNECT)
my $c2 = FcfhApf->connect($t->port(1));
$c2->handshake($GUID, 'admin', 'P@ssw0rd', [16992], $FQDN);
ok($c2->{established}, 'second tunnel established');
ok(wait_status($sport, sub { find_tunnel($_, $GUID) }, T(3)), 'second tunnel listed');
$c2->close;
ok(wait_status($sport, sub { !find_tunnel($_, $GUID) }, T(3)), 'tunnel gone after TCP close');

# --- simulator -------------------------------------------------------------

SKIP: {
    skip 'no simulator (make sim)', 4 unless FcfhTest::have_sim();
    my $start = time;
    my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 1,
                          '--user', 'admin', '--password', 'P@ssw0rd',
                          '--ports', '16992,16993', '--fqdn', 'sim%d.example.test');
    my $sguid = '00000000-0000-4000-8000-000000000001';
    my $d = wait_status($sport, sub { find_tunnel($_, $sguid) }, T(1));
    ok($d, sprintf('simulated device in status within a second (%.2fs)', time - $start))
        or diag(explain $FcfhTest::LAST_STATUS);
    my $se = find_tunnel($d, $sguid) // {};
    is($se->{fqdn}, 'sim0.example.test', 'simulated device fqdn');
    is_deeply($se->{ports}, [16992, 16993], 'simulated device ports');
    my $stats = $t->sim_stats($sim);
    is($stats && $stats->{established}, 1, 'simulator counts one established tunnel')
        or diag(explain $stats);
    $t->stop_sim($sim);
}

$t->done_testing;
