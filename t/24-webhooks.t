#!/usr/bin/perl
# Webhooks: subscribers added, listed and removed through fcfh_api while
# nginx runs, kept across a restart in fcfh_webhooks_state, events POSTed
# as JSON; a receiver that fails, hangs and recovers gets every event in
# order, with retries and backoff visible in the API, stats and log.
# Targets: fcfh_webhook_allow lets the loopback receiver in; without it,
# loopback, unspecified, link-local, multicast and broadcast targets are
# refused (400, and skipped in the state file), the gateway's own
# listening sockets always, and a delivery is checked again after a
# reload.  Only loopback targets may ever be connected to here: other
# classes are only refused (private and public ones in
# t/unit/test_webhook_target.c).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use URI::Escape ();
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $rx = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                               Listen => 16, ReuseAddr => 1) or BAIL_OUT("listen: $!");
my $rport = $rx->sockport;
my $mode = 200;          # 200, 500, 'hang' or 'folded'
my (@got, @hung);

# serves the receiver for $secs seconds (or until $until->() is true)
sub serve {
    my ($secs, $until) = @_;
    my $deadline = time + $secs;
    my $sel = IO::Select->new($rx);
    while (time < $deadline) {
        return 1 if $until && $until->();
        next unless $sel->can_read(0.1);
        my $c = $rx->accept or next;
        my $req = '';
        my $cs = IO::Select->new($c);
        while ($cs->can_read(2)) {
            my $n = sysread($c, $req, 65536, length $req) or last;
            last if $req =~ /\r\n\r\n/ && $req =~ /Content-Length: (\d+)/i
                    && length($req) >= index($req, "\r\n\r\n") + 4 + $1;
        }
        my ($body) = $req =~ /\r\n\r\n(.*)$/s;
        if ($mode eq 'hang') { push @hung, $c; next }
        if ($mode eq 'folded') {
            # a 200 whose head a strict reader refuses (obs-fold)
            print $c "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n folded\r\n\r\n";
            close $c;
            next;
        }
        if ($mode == 200) {
            push @got, { req => $req, json => eval { decode_json($body // '') } };
            # a webhook body is an Event of docs/openapi.yaml
            my $ev = $got[-1]{json} && $got[-1]{json}{event};
            FcfhTest::api_record('event', $ev // 'webhook', '', 0, '', $body // '');
        }
        print $c "HTTP/1.1 $mode X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        close $c;
    }
    return $until ? $until->() : 1;
}

my $t = FcfhTest->new;
my $conf = std_config(idle => '120s',
    main => "fcfh_webhooks_state %%PREFIX%%/webhooks.state;
             fcfh_webhook_allow 127.0.0.1 $rport;",
    http => 'server { listen 127.0.0.1:%%PORT_3%%; location /api/ { fcfh_api; } }');
$t->write_config($conf);
$t->run;
my $api = $t->port(3);

sub api {
    my ($method, $path) = @_;
    my ($st, $h, $body) = http_request($api, $method, $path);
    return ($st // 0, eval { decode_json($body // '') });
}

my $url = URI::Escape::uri_escape("http://127.0.0.1:$rport/hook");
my ($st, $doc) = api('POST', "/api/webhooks?url=$url");
is($st, 201, 'webhook added: 201');
my $id = $doc->{id};
ok($id, "id $id");

($st, $doc) = api('POST', '/api/webhooks?url=' . URI::Escape::uri_escape('http://example.test/x'));
is($st, 400, 'a host name without fcfh_webhook_resolver: 400');
is($doc->{error} // '', 'a host name in the url needs fcfh_webhook_resolver', '... saying why');
($st, $doc) = api('POST', '/api/webhooks?url=' . URI::Escape::uri_escape('ftp://127.0.0.1/x'));
is($st, 400, 'another scheme: 400');
like($doc->{error} // '', qr/^url must be http\[s\]:\/\//, '... saying what a url is');
($st, $doc) = api('POST', "/api/webhooks?url=$url&events=bogus");
is($st, 400, 'an unknown event type: 400');

# what the allow list leaves out: refused before any connection
sub post_url {
    my ($u) = @_;
    return api('POST', '/api/webhooks?url=' . URI::Escape::uri_escape($u));
}
my $closed = $t->port(9);
($st, $doc) = post_url("http://127.0.0.1:$closed/hook");
is($st, 400, 'the allowed address on another port: 400');
is($doc->{error}, "webhook target 127.0.0.1:$closed is not allowed by fcfh_webhook_allow",
   '... naming the target and the directive');
($st, $doc) = post_url("http://127.0.0.2:$rport/hook");
is($st, 400, 'another loopback address: 400');
is($doc->{error}, 'webhook target 127.0.0.2 is a loopback address; allow it with fcfh_webhook_allow',
   '... as a loopback address');
($st, $doc) = post_url('http://10.0.0.1:80/hook');
is($st, 400, 'a private address outside the list: 400');
like($doc->{error} // '', qr/^webhook target 10\.0\.0\.1:80 is not allowed by fcfh_webhook_allow$/,
     '... not allowed');
($st, $doc) = post_url("http://127.0.0.1:$api/api/stats");
is($st, 400, "the gateway's own API listener: 400");
is($doc->{error}, "webhook target 127.0.0.1:$api is a listening socket of this gateway",
   '... as a listening socket');

($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 1, 'listed, and none of the refused');
is($doc->{webhooks}[0]{url}, "http://127.0.0.1:$rport/hook", 'with its url');

# an event is delivered
my $G = '00000000-0000-4000-8000-0000000000b7';
my $d = FcfhApf->connect($t->port(1));
$d->handshake($G, 'admin', 'P@ssw0rd', [16992], 'hook.example.test');
ok(serve(T(5), sub { grep { ($_->{json}{event} // '') eq 'connected' } @got }),
   'connected event POSTed');
my ($ev) = grep { ($_->{json}{event} // '') eq 'connected' } @got;
is($ev->{json}{guid}, $G, '... with the device');
like($ev->{req}, qr{^POST /hook HTTP/1\.1\r\n}, '... as a POST to the path');
like($ev->{req}, qr{Content-Type: application/json}i, '... of JSON');

# the receiver fails, then recovers: the event comes again, nothing lost
$mode = 500;
$d->send(disconnect(11));
serve(T(2.5));
($st, $doc) = api('GET', '/api/webhooks');
cmp_ok($doc->{webhooks}[0]{failures}, '>=', 1, 'failures counted');
like($doc->{webhooks}[0]{last_error} // '', qr/status 500/, 'last error shown');
cmp_ok($doc->{webhooks}[0]{pending}, '>=', 1, 'the event still pending');
ok($t->wait_for_log(qr/webhook $id .* delivery of event \d+ failed: status 500, retry in \d+s/, T(3)),
   'failure logged with the retry delay');

$mode = 200;
ok(serve(T(8), sub { grep { ($_->{json}{event} // '') eq 'disconnected' } @got }),
   'after recovery the disconnected event arrives');
($st, $doc) = api('GET', '/api/webhooks');
is($doc->{webhooks}[0]{pending}, 0, 'nothing pending');

# a receiver that hangs: the delivery times out and is retried
$mode = 'hang';
my $d2 = FcfhApf->connect($t->port(1));
$d2->handshake('00000000-0000-4000-8000-0000000000b8', 'admin', 'P@ssw0rd', [16992], 'hang.example.test');
serve(T(7));
ok($t->wait_for_log(qr/webhook $id .* failed: timed out/, T(3)), 'a hanging receiver times out');
close $_ for @hung;
$mode = 200;
ok(serve(T(10), sub { grep { ($_->{json}{fqdn} // '') eq 'hang.example.test' } @got }),
   'and gets the event once it answers again');

# a 2xx in a malformed head is no delivery: the answer's head is read as
# strictly as a device's, and the event is retried
$mode = 'folded';
my $d5 = FcfhApf->connect($t->port(1));
$d5->handshake('00000000-0000-4000-8000-0000000000bb', 'admin', 'P@ssw0rd', [16992], 'folded.example.test');
serve(T(2));
ok($t->wait_for_log(qr/webhook $id .* failed: not an HTTP response \(obsolete header line folding\), retry in/, T(3)),
   'a malformed answer head is a failure, logged with why');
($st, $doc) = api('GET', '/api/webhooks');
is($doc->{webhooks}[0]{last_error}, 'not an HTTP response', '... last_error says so');
$mode = 200;
ok(serve(T(10), sub { grep { ($_->{json}{fqdn} // '') eq 'folded.example.test' } @got }),
   '... and the event comes again to a well-formed answer');

my @ids = map { $_->{json}{id} } grep { $_->{json} } @got;
my %seen;
is(scalar(grep { $seen{$_}++ } @ids), 0, 'no event delivered twice');
is_deeply(\@ids, [sort { $a <=> $b } @ids], 'events in order');

my ($mst, $h, $metrics) = http_request($api, 'GET', '/api/stats');
my $stats = eval { decode_json($metrics) } // {};
cmp_ok($stats->{webhook_failures}, '>=', 2, 'stats: webhook failures');
cmp_ok($stats->{webhook_deliveries}, '>=', 3, 'stats: webhook deliveries');

# kept across a restart (devices leave first: a graceful stop waits for
# them with fcfh_drain off)
FcfhApf::close_all();
$t->stop;
# lines the allow list refuses are skipped when the file is read
open my $sf, '>>', $t->prefix . '/webhooks.state' or die "state: $!";
my $sec = 'whsec_' . ('A' x 43) . '=';
print $sf "90 0 $sec http://127.0.0.2:$rport/hook\n91 0 $sec http://10.0.0.1:80/hook\n";
close $sf;
my $mark = $t->log_mark;
$t->run;
($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 1, 'the subscriber survived a restart');
is($doc->{webhooks}[0]{id}, $id, '... with its id');
ok($t->wait_for_log(qr/\[warn\].*webhook state ".*" line 2 ignored: webhook target 127\.0\.0\.2 is a loopback address/,
                    T(3), $mark), 'a refused loopback subscriber in the state file: skipped, warn');
ok($t->wait_for_log(qr/\[warn\].*webhook state ".*" line 3 ignored: webhook target 10\.0\.0\.1:80 is not allowed/,
                    T(3), $mark), '... and one outside the allow list');
my $d3 = FcfhApf->connect($t->port(1));
$d3->handshake('00000000-0000-4000-8000-0000000000b9', 'admin', 'P@ssw0rd', [16992], 'again.example.test');
ok(serve(T(5), sub { grep { ($_->{json}{fqdn} // '') eq 'again.example.test' } @got }),
   'and delivers after the restart');

# a burst: 20 devices come and go; every event arrives once, in order
my $before = scalar @got;
my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 20,
                      '--duration', 2, '--reconnect', 0, '--quiet');
ok(serve(T(30), sub { grep({ ($_->{json}{event} // '') eq 'disconnected'
                              && ($_->{json}{fqdn} // '') =~ /^dev\d+\.example\.test$/ } @got) >= 20 }),
   'a burst of 40 events delivered');
my @burst = map { $_->{json}{id} } @got[$before .. $#got];
my %once; $once{$_}++ for @burst;
is(scalar(grep { $once{$_} > 1 } keys %once), 0, 'burst: none twice');
is_deeply(\@burst, [sort { $a <=> $b } @burst], 'burst: in order');

($st) = api('DELETE', "/api/webhooks/$id");
is($st, 200, 'removed');
($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 0, 'no subscribers left');
($st) = api('DELETE', "/api/webhooks/$id");
is($st, 404, 'removing again: 404');
FcfhApf::close_all();
$t->stop;
$t->run;
($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 0, 'the removal survived a restart too');
FcfhApf::close_all();
$t->stop;

# ---- without fcfh_webhook_allow: the default refusals ----------------------

my $t2 = FcfhTest->new;
my $rx2 = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                Listen => 4, ReuseAddr => 1) or BAIL_OUT("listen: $!");
my $r2 = $rx2->sockport;
$t2->write_file('webhooks.state', "5 0 $sec http://127.0.0.1:$r2/hook\n"
                                . "6 0 $sec http://[::1]:$r2/hook\n"
                                . "7 0 $sec http://169.254.169.254:80/latest\n");
my %conf2 = (idle => '120s',
    main => 'fcfh_webhooks_state %%PREFIX%%/webhooks.state;',
    http => 'server { listen 127.0.0.1:%%PORT_3%%; location /api/ { fcfh_api; } }');
$t2->write_config(std_config(%conf2));
$t2->run;
$api = $t2->port(3);

ok($t2->wait_for_log(qr/\[warn\].*webhook state ".*" line 1 ignored: webhook target 127\.0\.0\.1 is a loopback address; allow it with fcfh_webhook_allow/, T(3)),
   'default: a loopback subscriber in the state file skipped, warn');
ok($t2->wait_for_log(qr/\[warn\].*line 2 ignored: webhook target ::1 is a loopback address/, T(3)),
   '... an IPv6 loopback one');
ok($t2->wait_for_log(qr/\[warn\].*line 3 ignored: webhook target 169\.254\.169\.254 is a link-local address/, T(3)),
   '... a link-local one');

my @refused = (
    [ "http://127.0.0.1:$r2/hook",               '127.0.0.1', 'a loopback address; allow it with fcfh_webhook_allow' ],
    [ "http://127.8.9.10:$r2/hook",              '127.8.9.10', 'a loopback address; allow it with fcfh_webhook_allow' ],
    [ "http://[::1]:$r2/hook",                   '::1', 'a loopback address; allow it with fcfh_webhook_allow' ],
    [ "http://[::ffff:127.0.0.1]:$r2/hook",      '::ffff:127.0.0.1', 'a loopback address; allow it with fcfh_webhook_allow' ],
    [ "http://0.0.0.0:$r2/hook",                 '0.0.0.0', 'an unspecified address' ],
    [ "http://[::]:$r2/hook",                    '::', 'an unspecified address' ],
    [ "http://[::ffff:0.0.0.0]:$r2/hook",        '::ffff:0.0.0.0', 'an unspecified address' ],
    [ 'http://169.254.169.254:80/latest',        '169.254.169.254', 'a link-local address; allow it with fcfh_webhook_allow' ],
    [ 'http://[fe80::1]:80/hook',                'fe80::1', 'a link-local address; allow it with fcfh_webhook_allow' ],
    [ 'http://[::ffff:169.254.1.1]:80/hook',     '::ffff:169.254.1.1', 'a link-local address; allow it with fcfh_webhook_allow' ],
    [ 'http://224.0.0.1:80/hook',                '224.0.0.1', 'a multicast address' ],
    [ 'http://[ff02::1]:80/hook',                'ff02::1', 'a multicast address' ],
    [ 'http://[::ffff:239.1.2.3]:80/hook',       '::ffff:239.1.2.3', 'a multicast address' ],
    [ 'http://255.255.255.255:80/hook',          '255.255.255.255', 'the broadcast address' ],
    [ 'http://[::ffff:255.255.255.255]:80/hook', '::ffff:255.255.255.255', 'the broadcast address' ],
);
for my $r (@refused) {
    my ($u, $addr, $why) = @$r;
    ($st, $doc) = post_url($u);
    is($st, 400, "default: $u refused: 400");
    is($doc->{error}, "webhook target $addr is $why", "... $why");
}
for my $port (map { $t2->port($_) } 1, 2, 3) {
    ($st, $doc) = post_url("http://127.0.0.1:$port/");
    is($st, 400, "default: the gateway's listener 127.0.0.1:$port refused");
}
($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 0, 'default: no subscriber added');

# loopback allowed: the gateway's own listening sockets still are not
$t2->write_config(std_config(%conf2, main => $conf2{main} . "\nfcfh_webhook_allow 127.0.0.0/8;"));
ok($t2->reload, 'reload with fcfh_webhook_allow 127.0.0.0/8');
for my $n (1, 2, 3) {
    my $port = $t2->port($n);
    ($st, $doc) = post_url("http://127.0.0.1:$port/");
    is($st, 400, "127.0.0.0/8 allowed: the gateway's listener 127.0.0.1:$port still refused");
    is($doc->{error}, "webhook target 127.0.0.1:$port is a listening socket of this gateway",
       '... as its own listening socket');
}
($st, $doc) = post_url("http://[::ffff:127.0.0.1]:$api/");
is($st, 400, '... also as an IPv4-mapped address');
($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 0, '... none added');
($st, $doc) = post_url("http://127.0.0.1:$r2/hook");
is($st, 201, 'a loopback receiver, now allowed: 201');
my $id2 = $doc->{id};

# a reload back to the default: the subscriber stays in the zone, but
# nothing goes to it
$t2->write_config(std_config(%conf2));
ok($t2->reload, 'reload without fcfh_webhook_allow');
$mark = $t2->log_mark;
my $d4 = FcfhApf->connect($t2->port(1));
$d4->handshake('00000000-0000-4000-8000-0000000000ba', 'admin', 'P@ssw0rd', [16992], 'refused.example.test');
ok($t2->wait_for_log(qr/\[warn\].*webhook $id2 not delivered: webhook target 127\.0\.0\.1 is a loopback address/,
                     T(3), $mark), 'at delivery the target is checked again: not delivered, warn');
ok(!IO::Select->new($rx2)->can_read(T(1)), '... and never connected to');
($st, $doc) = api('GET', '/api/webhooks');
is($doc->{webhooks}[0]{last_error}, 'target not allowed', '... last_error says so');
is($doc->{webhooks}[0]{delivered}, 0, '... nothing delivered');
($st) = api('DELETE', "/api/webhooks/$id2");
is($st, 200, 'removed');
FcfhApf::close_all();

# ---- nginx -t: bad fcfh_webhook_allow values -------------------------------

my $t3 = FcfhTest->new;
for my $c (
    [ 'fcfh_webhook_allow 10.0.0.0/33;',       qr/invalid network "10\.0\.0\.0\/33", expected an IP address, address\/bits or "all"/ ],
    [ 'fcfh_webhook_allow receiver.example;',  qr/invalid network "receiver\.example"/ ],
    [ 'fcfh_webhook_allow ::1/129;',           qr/invalid network "::1\/129"/ ],
    [ 'fcfh_webhook_allow 10.0.0.0/8 0;',      qr/invalid port "0", expected a port, a range such as 8000-8099, or "\*"/ ],
    [ 'fcfh_webhook_allow 10.0.0.0/8 65536;',  qr/invalid port "65536"/ ],
    [ 'fcfh_webhook_allow 10.0.0.0/8 9000-8000;', qr/invalid port "9000-8000"/ ],
    [ 'fcfh_webhook_allow 10.0.0.0/8 80-;',    qr/invalid port "80-"/ ],
    [ 'fcfh_webhook_allow all http;',          qr/invalid port "http"/ ],
    [ 'fcfh_webhook_allow 10.0.0.0/8 80 81;',  qr/invalid number of arguments in "fcfh_webhook_allow"/ ],
    [ 'fcfh_webhook_allow;',                   qr/invalid number of arguments in "fcfh_webhook_allow"/ ],
) {
    $t3->write_config(std_config(main => $c->[0]));
    my ($out, $code) = $t3->nginx_t;
    isnt($code, 0, "nginx -t fails: $c->[0]");
    like($out, $c->[1], '... saying why') or diag($out);
}
$t3->write_config(std_config(http => 'fcfh_webhook_allow 10.0.0.0/8;'));
my ($out, $code) = $t3->nginx_t;
isnt($code, 0, 'nginx -t fails: fcfh_webhook_allow in http');
like($out, qr/"fcfh_webhook_allow" directive is not allowed here/, '... not allowed here');
$t3->write_config(std_config(main => "fcfh_webhook_allow 10.1.2.3/8 8000-8099;
    fcfh_webhook_allow all *; fcfh_webhook_allow fd00::/8 443;
    fcfh_webhook_allow ::ffff:127.0.0.1 9000;"));
($out, $code) = $t3->nginx_t;
is($code, 0, 'nginx -t passes with good values') or diag($out);
like($out, qr/\[warn\].*low address bits of 10\.1\.2\.3\/8 are meaningless/,
     '... warning about host bits in a network');

$t->done_testing;
