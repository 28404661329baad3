#!/usr/bin/perl
# The operators' API (fcfh_api) and metrics (fcfh_metrics): listing with
# filters and paging (limit, cursor), one device, closing a tunnel in any worker (the
# device gets DISCONNECT "by application", the registry forgets it at
# once), gateway stats and Prometheus counters, JSON errors.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '120s',
    stream => 'server { listen 127.0.0.1:%%PORT_3%%; fcfh_proxy; }',
    http => 'server {
        listen 127.0.0.1:%%PORT_4%%;
        location /api/ { fcfh_api; }
        location = /metrics { fcfh_metrics; }
        location /private/ { deny all; fcfh_api; }
    }'));
$t->run;
my $sport = $t->port(2);
my $api = $t->port(4);

sub get {
    my ($method, $path) = @_;
    my ($st, $h, $body) = http_request($api, $method, $path);
    my $doc = eval { JSON::PP->new->decode($body // '') };
    return ($st // 0, $doc, $body // '', $h);
}

# six scripted devices: two identities, two triggers, two FQDN families
my %dev;
for my $i (1 .. 6) {
    my $g = sprintf '00000000-0000-4000-8000-0000000000a%d', $i;
    my ($user, $pass) = $i <= 4 ? ('admin', 'P@ssw0rd') : ("dev1", 'dev1-secret');
    $g = '00000000-0000-4000-8000-0000000de001' if $i == 5;
    my $d = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
    $d->handshake($g, $user, $pass, [16992],
                  ($i % 2 ? 'lab' : 'office') . "$i.example.test",
                  trigger => ($i <= 3 ? 1 : 4));
    $dev{$g} = $d if $d->{established};
}
# a failed handshake for the counters
my $bad = FcfhApf->connect($t->port(1));
$bad->handshake('00000000-0000-4000-8000-0000000000ff', 'admin', 'wrong', [], '');
is($bad->expect_disconnect(T(3)), 15, 'a wrong password is refused (counted below)');

ok(wait_status($sport, sub { $_->{total} == 5 }, T(5)), 'five tunnels up')
    or diag(explain $FcfhTest::LAST_STATUS);

my ($st, $doc, $body) = get('GET', '/api/tunnels');
is($st, 200, 'list: 200');
is($doc->{total}, 5, 'list: total 5');
is(scalar @{$doc->{tunnels}}, 5, 'list: five entries');

($st, $doc) = get('GET', '/api/tunnels?fqdn_prefix=LAB');
is($doc->{total}, 3, 'filter fqdn_prefix (case-insensitive): 3');
ok(!(grep { $_->{fqdn} !~ /^lab/ } @{$doc->{tunnels}}), '... all lab*');

($st, $doc) = get('GET', '/api/tunnels?identity=dev1');
is($doc->{total}, 1, 'filter identity: 1');

($st, $doc) = get('GET', '/api/tunnels?trigger=periodic');
is($doc->{total}, 2, 'filter trigger=periodic: 2');

($st, $doc) = get('GET', '/api/tunnels?guid=00000000-0000-4000-8000-0000000000A2');
is($doc->{total}, 1, 'filter guid (any case): 1');

($st, $doc) = get('GET', '/api/tunnels?since=' . (time + 3600));
is($doc->{total}, 0, 'filter since (future): 0');

# pages follow next_cursor: 2 + 2 + 1, the last one without a cursor
my @pages;
my $cursor;
for my $n (1 .. 3) {
    ($st, $doc) = get('GET', '/api/tunnels?limit=2' . ($cursor ? "&cursor=$cursor" : ''));
    push @pages, map { $_->{guid} } @{$doc->{tunnels}};
    is($doc->{total}, 5, "page $n: total still 5");
    $cursor = $doc->{next_cursor};
    ok($n < 3 ? $cursor : !defined $cursor, $n < 3 ? "page $n: a next_cursor" : 'last page: next_cursor null');
}
is(scalar(@pages), 5, 'paging: 2 + 2 + 1 entries');
my %seen; $seen{$_}++ for @pages;
is(scalar(keys %seen), 5, 'paging: no entry twice');

my $one = '00000000-0000-4000-8000-0000000000a2';
($st, $doc) = get('GET', "/api/tunnels/$one");
is($st, 200, 'one device: 200');
is($doc->{guid}, $one, 'one device: its guid');
is_deeply($doc->{ports}, [16992], 'one device: ports');
ok(exists $doc->{channels} && exists $doc->{keepalive_age}, 'one device: channels and keepalive age');
($st, $doc) = get('GET', '/api/tunnels/office2.example.test');
is($doc->{guid}, $one, 'one device by FQDN');

# errors
for ([GET => '/api/tunnels/nosuch', 404, qr/no such device/],
     [GET => '/api/tunnels?limit=0', 400, qr/limit/],
     [GET => '/api/tunnels?limit=abc', 400, qr/limit/],
     [GET => '/api/tunnels?since=yesterday', 400, qr/since/],
     [GET => '/api/tunnels?guid=short', 400, qr/guid/],
     [GET => '/api/tunnels?offset=2', 400, qr/offset is no more/],
     [GET => '/api/tunnels?cursor=3', 400, qr/cursor/],
     [GET => '/api/nothing', 404, qr/unknown API path/],
     [POST => '/api/tunnels', 405, qr/use GET/, 'GET, HEAD'],
     [PUT => "/api/tunnels/$one", 405, qr/GET or DELETE/, 'GET, HEAD, DELETE'],
     [GET => "/api/tunnels/$one/close", 405, qr/use POST/, 'POST'],
     [POST => '/api/stats', 405, qr/use GET/, 'GET, HEAD'],
     [PUT => '/api/webhooks', 405, qr/use GET or POST/, 'GET, HEAD, POST'],
     [DELETE => '/api/tunnels/nosuch', 404, qr/no such device/]) {
    my ($m, $path, $want, $re, $allow) = @$_;
    my ($s, $d, $b, $h) = get($m, $path);
    is($s, $want, "$m $path: $want");
    like($d && $d->{error} // '', $re, "$m $path: JSON error");
    # a 405 says which methods the path takes (RFC 9110, 15.5.6)
    is($h && $h->{allow}, $allow, "$m $path: Allow: $allow") if $allow;
}
($st) = get('GET', '/private/tunnels');
is($st, 403, 'deny all protects the API');

# close each device, half with DELETE, half with POST .../close; the owners
# are spread over both workers
my $n = 0;
for my $g (sort keys %dev) {
    my ($m, $path) = $n++ % 2 ? ('POST', "/api/tunnels/$g/close")
                              : ('DELETE', "/api/tunnels/$g");
    ($st, $doc) = get($m, $path);
    is($st, 200, "close $g with $m: 200");
    my ($s2, $d2) = get('GET', "/api/tunnels/$g");
    is($s2, 404, "$g no longer listed right after");
    is($dev{$g}->expect_disconnect(T(3)), 11, "$g gets DISCONNECT by application");
    ok($dev{$g}->wait_closed(T(3)), "$g connection closed");
}

($st, $doc) = get('GET', '/api/tunnels');
is($doc->{total}, 0, 'all closed');

# console counters: one unknown device
my ($s, $rep) = socks5_open($t->port(3), 'nosuch.example.test', 16992);
is($rep, 4, 'a console asks for an unknown device');

($st, $doc) = get('GET', '/api/stats');
is($st, 200, 'stats: 200');
is($doc->{handshakes}, 5, 'stats: 5 handshakes');
is($doc->{handshake_failures}{invalid_credentials}, 1, 'stats: 1 invalid credentials');
is($doc->{closed}{api}, 5, 'stats: 5 closed by the API');
is($doc->{console_requests}{unknown_device}, 1, 'stats: 1 console request for an unknown device');
cmp_ok($doc->{bytes_in}, '>', 0, 'stats: bytes of ended tunnels');

my ($mst, $h) = http_request($api, 'POST', '/metrics');
is($mst, 405, 'metrics: POST refused');
is($h && $h->{allow}, 'GET, HEAD', 'metrics: 405 with Allow');

($mst, $h, my $metrics) = http_request($api, 'GET', '/metrics');
is($mst, 200, 'metrics: 200');
like($h->{'content-type'} // '', qr{^text/plain; version=0\.0\.4}, 'metrics: Prometheus content type');
like($metrics, qr/^fcfh_handshakes_total 5$/m, 'metrics: handshakes_total');
like($metrics, qr/^fcfh_handshake_failures_total\{reason="invalid_credentials"\} 1$/m,
     'metrics: failures by reason');
like($metrics, qr/^fcfh_tunnels_closed_total\{reason="api"\} 5$/m, 'metrics: closed by reason');
like($metrics, qr/^fcfh_console_requests_total\{result="unknown_device"\} 1$/m,
     'metrics: console requests by result');
like($metrics, qr/^fcfh_zone_used_bytes \d+$/m, 'metrics: zone use');
like($metrics, qr/^fcfh_zone_size_bytes \d+$/m, 'metrics: zone size');
my $ok = 1;
for (split /\n/, $metrics) {
    next if /^# (HELP|TYPE) fcfh_\w+ /;
    $ok = 0, diag("bad line: $_")
        unless /^fcfh_\w+(\{\w+="[^"]*"(,\w+="[^"]*")*\})? \d+(\.\d+)?$/;
}
ok($ok, 'metrics: every line is valid exposition format');

$t->done_testing;
