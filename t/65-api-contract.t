#!/usr/bin/perl
# The API defects of issue 16, each asserted so that the build before the fix
# fails: stats' bytes count the live tunnels as /metrics does; POST webhooks
# says "persisted" only with fcfh_webhooks_state; a duplicate user in a
# credentials file is reported on its line; every operators' endpoint answers
# 405 with Allow and a JSON body (fcfh_status answered nginx's HTML page);
# fcfh_pass's 407 has its reason phrase; one naming scheme (counts named for
# what they count, the same paging fields in every list, fcfh_status paged
# too, snake_case keys).
use strict;
use warnings;
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '120s',
    main => 'fcfh_webhook_allow 127.0.0.1;',
    http => 'server {
        listen 127.0.0.1:%%PORT_4%%;
        location /api/ { fcfh_api; }
        location = /metrics { fcfh_metrics; }
        location = /events { fcfh_events; }
    }
    server {
        listen 127.0.0.1:%%PORT_5%%;
        location / {
            fcfh_pass_auth_file %%CERTS%%/devices.htpasswd;
            fcfh_pass;
        }
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

sub guid { sprintf '00000000-0000-4000-8000-0000000065%02x', $_[0] }

my @dev;
for my $n (1 .. 3) {
    my $d = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
    $d->handshake(guid($n), 'admin', 'P@ssw0rd', [16992], "c$n.example.test");
    push @dev, $d;
}
ok(wait_status($sport, sub { $_->{total} == 3 }, T(5)), 'three tunnels up');
ok($dev[0]->ping && $dev[1]->ping, 'keepalives through two tunnels');

# --- stats bytes: the live tunnels count, as in /metrics ------------------------------

my ($st, $stats) = get('GET', '/api/stats');
my (undef, undef, undef, $metrics) = get('GET', '/metrics');
my ($min) = $metrics =~ /^fcfh_tunnel_bytes_total\{direction="in"\} (\d+)$/m;
my ($mout) = $metrics =~ /^fcfh_tunnel_bytes_total\{direction="out"\} (\d+)$/m;
ok($stats->{bytes_in} > 0 && $stats->{bytes_out} > 0,
   "stats: bytes of live tunnels ($stats->{bytes_in} in, $stats->{bytes_out} out)");
is($stats->{bytes_in}, $min, 'stats bytes_in = metrics fcfh_tunnel_bytes_total{in}');
is($stats->{bytes_out}, $mout, 'stats bytes_out = metrics fcfh_tunnel_bytes_total{out}');

# --- one naming scheme ----------------------------------------------------------------

is($stats->{version}, 2, 'stats: API version 2');
is($stats->{tunnels_connected}, 3, 'stats: tunnels_connected, a count');
ok(!exists $stats->{tunnels}, 'stats: no "tunnels" count (an array elsewhere)');
ok(exists $stats->{devices_known}, 'stats: devices_known');
my @bad = grep { !/^[a-z][a-z0-9_]*$/ } map { keys %{$stats->{$_}} }
          qw(handshake_failures closed console_requests);
is_deeply(\@bad, [], 'stats: every key snake_case');
ok(exists $stats->{handshake_failures}{closed_by_device}
   && exists $stats->{handshake_failures}{invalid_credentials},
   'stats: handshake_failures closed_by_device, invalid_credentials');

my ($s2, $status) = get('GET', '/status?limit=2', $sport);
is($status->{version}, 2, 'status: API version 2');
ok(!exists $status->{tunnels_total}, 'status: no tunnels_total');
is($status->{total}, 3, 'status: total, as every list');
is($status->{limit}, 2, 'status: limit');
is(scalar @{$status->{tunnels}}, 2, 'status: a page of 2');
ok($status->{next_cursor}, 'status: next_cursor');
my ($s3, $rest) = get('GET', "/status?limit=2&cursor=$status->{next_cursor}", $sport);
is(scalar @{$rest->{tunnels}}, 1, 'status: the next page holds the third');
is($rest->{next_cursor}, undef, 'status: the last page has no cursor');
my %u = map { $_->{guid} => 1 } @{$status->{tunnels}}, @{$rest->{tunnels}};
is(scalar(keys %u), 3, 'status: three tunnels over two pages');

for my $list (['/api/tunnels', 'tunnels'], ['/api/devices', 'devices'],
              ['/api/webhooks', 'webhooks']) {
    my ($p, $key) = @$list;
    my (undef, $d) = get('GET', $p);
    ok(ref $d->{$key} eq 'ARRAY' && exists $d->{total} && exists $d->{limit}
       && exists $d->{next_cursor}, "$p: $key, total, limit, next_cursor");
}
($st, my $d) = get('GET', '/api/tunnels?offset=1');
is($st, 400, 'tunnels: offset refused (one paging scheme)');
like($d->{error} // '', qr/next_cursor/, '... pointing at the cursor');

# --- 405 with Allow and JSON, on every endpoint ------------------------------------------

for my $c ([$sport, 'POST', '/status', 'GET, HEAD', 'use GET'],
           [$sport, 'DELETE', '/status?device=' . guid(1), 'GET, HEAD', 'use GET'],
           [$api, 'POST', '/metrics', 'GET, HEAD', 'use GET'],
           [$api, 'POST', '/events', 'GET', 'use GET'],
           [$api, 'PUT', '/api/tunnels/' . guid(1), 'GET, HEAD, DELETE', 'use GET or DELETE'],
           [$api, 'DELETE', '/api/health', 'GET, HEAD', 'use GET']) {
    my ($port, $m, $p, $allow, $text) = @$c;
    my ($s, $doc, $h) = get($m, $p, $port);
    is($s, 405, "$m $p: 405");
    is($h->{allow}, $allow, "$m $p: Allow: $allow");
    like($h->{'content-type'} // '', qr{^application/json}, "$m $p: JSON");
    is($doc && $doc->{error}, $text, "$m $p: {\"error\":\"$text\"}");
}

# --- 407 with its reason phrase ---------------------------------------------------------------

my $c = IO::Socket::INET->new('127.0.0.1:' . $t->port(5)) or BAIL_OUT("pass: $!");
print $c "GET http://" . guid(1) . ":16992/wsman HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
my $head = '';
while (sysread($c, my $buf, 4096)) { $head .= $buf; last if $head =~ /\r\n\r\n/ }
like($head, qr{^HTTP/1\.1 407 Proxy Authentication Required\r\n}, 'fcfh_pass: 407 Proxy Authentication Required');
like($head, qr{\r\nProxy-Authenticate: Basic }i, '... with Proxy-Authenticate');

# --- POST webhooks: persisted only with a state file --------------------------------------------

my $hook = "http://127.0.0.1:9/hook";
(my $enc = $hook) =~ s/([:\/])/sprintf '%%%02X', ord $1/ge;
($st, $d) = get('POST', "/api/webhooks?url=$enc");
is($st, 201, 'webhook added without fcfh_webhooks_state');
is($d->{persisted}, JSON::PP::false, '... "persisted": false (it lasts until nginx stops)');

my $kept = FcfhTest->new;
$kept->write_config(std_config(main => 'fcfh_webhooks_state %%PREFIX%%/webhooks.state;
                                        fcfh_webhook_allow 127.0.0.1;',
    http => 'server {
        listen 127.0.0.1:%%PORT_4%%;
        location /api/ { fcfh_api; }
    }'));
$kept->run;
($st, $d) = get('POST', "/api/webhooks?url=$enc", $kept->port(4));
is($st, 201, 'webhook added with fcfh_webhooks_state');
is($d->{persisted}, JSON::PP::true, '... "persisted": true');
like($kept->read_file('webhooks.state'), qr{\Q$hook\E}, '... and it is in the state file');

# --- a duplicate user: its line ----------------------------------------------------------------------

my $dup = FcfhTest->new;
$dup->write_file('users.htpasswd', "# devices\nadmin:{PLAIN}a\nother:{PLAIN}b\n\nadmin:{PLAIN}c\n");
$dup->write_config(std_config(auth => '%%PREFIX%%/users.htpasswd'));
my ($out, $rc) = $dup->nginx_t;
isnt($rc, 0, 'nginx -t refuses a credentials file with a user twice');
like($out, qr/duplicate user in credentials file "[^"]*users\.htpasswd" line 5/,
     '... naming the line of the second one (5)') or diag($out);

$t->done_testing;
