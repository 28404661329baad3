#!/usr/bin/perl
# fcfh_webrelay for a console on another node: two gateway nodes on
# loopback share a Redis directory; the device is on node1, the browser
# on node2's relay names it by GUID and by name. SOL through the relay
# (AMT's Digest done by the console) reaches the device's echo; node2
# audits the session with front door websocket and the device's node,
# node1 as front door cluster; WS-Management (p=1) and the refusals of an
# unknown device and port; console tokens (node2 issues and checks them
# for the GUID, a name it does not hold gets 401); with
# fcfh_amt_credentials on node2, node2 answers AMT's Digest for the
# remote device (its GUID's line when named by GUID, only "*" when named
# by name); the device leaving closes the
# WebSocket with 1001 and a reason, and releases the sessions.
# fcfh_webrelay_sessions counts, on node2, by the name the console used
# (GUID and name are two keys there), and not across nodes: node1's own
# relay has a count of its own (docs/directives.md says so).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use JSON::PP ();
use FcfhTest qw(:all);
use FcfhRedis;
use FcfhConsole qw(:all);
use FcfhWs;

plan skip_all => 'no simulator (make sim)' unless have_sim();

my $redis = FcfhRedis->new;
my ($rport, $rdir) = ($redis->port, $redis->dir);
ok(eval { $redis->start }, 'redis up');

sub node_config {
    my ($n) = @_;
    return std_config(workers => 1, main => "
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
        listen 127.0.0.1:%%PORT_5%%;
        location = /events { fcfh_events; }
        location = /metrics { fcfh_metrics; }
        location = /webrelay.ashx { fcfh_webrelay; }
        location = /gw-guid {
            fcfh_webrelay;
            fcfh_webrelay_sessions off;
            fcfh_amt_credentials %%PREFIX%%/amt-guid.cred;
        }
        location /issue/ {
            fcfh_token_secret %%PREFIX%%/token.key;
            fcfh_token_issue;
        }
        location = /tok {
            fcfh_webrelay;
            fcfh_webrelay_sessions off;
            fcfh_token_secret %%PREFIX%%/token.key;
        }
        location = /gw-any {
            fcfh_webrelay;
            fcfh_webrelay_sessions off;
            fcfh_amt_credentials %%PREFIX%%/amt-any.cred;
        }
    }");
}

my $GA = '00000000-0000-4000-8000-0000000000a1';
my $FQDN = 'a0.example.test';

my $SECRET = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;

my @t;
for my $n (1, 2) {
    my $t = FcfhTest->new;
    # the AMT accounts: a line for the device's GUID alone, or "*"
    for (['amt-guid.cred', "$GA admin P\@ssw0rd\n"], ['amt-any.cred', "* admin P\@ssw0rd\n"]) {
        my $f = $t->prefix . "/$_->[0]";
        open my $fh, '>', $f or die "$f: $!";
        print $fh $_->[1];
        close $fh;
        chmod 0640, $f;
    }
    $t->write_file('token.key', "$SECRET\n");
    chmod 0640, $t->prefix . '/token.key';
    $t->write_config(node_config($n));
    $t->run;
    push @t, $t;
}
for my $n (1, 2) {
    ok($t[$n - 1]->wait_for_log(qr/directory at 127\.0\.0\.1:$rport, node "node$n"/, T(5)),
       "node$n: directory connected");
}

my $wport = $t[1]->port(5);

sub start_sim {
    my $sim = $t[0]->run_sim('--connect', '127.0.0.1:' . $t[0]->port(1),
                             '--guid', $GA, '--fqdn', 'a%d.example.test',
                             '--ports', '16992,16994', '--reconnect', 0,
                             '--quiet');
    ok(wait_for(sub {
           # node2 sees A through the directory once a console can reach it
           my ($s, $rep) = socks5_open($t[1]->port(3), $FQDN, 16994);
           close $s if $s;
           return defined $rep && $rep == 0;
       }, T(10), 0.3), 'node2 reaches A, held by node1');
    return $sim;
}

sub path {
    my ($loc, %q) = @_;
    %q = (p => 2, host => $GA, port => 16994, tls => 0, %q);
    "$loc?" . join '&', map { "$_=$q{$_}" } grep { defined $q{$_} } sort keys %q;
}

sub open_ws {
    my ($name, $p, $port) = @_;
    my ($ws, $st, $h, $body) = FcfhWs->connect($port // $wport, $p);
    ok($ws, "$name: upgraded") or diag("$st " . ($body // ''));
    return $ws;
}

sub busy {
    my ($name, $p) = @_;
    my ($ws, $st, $h, $body) = FcfhWs->connect($wport, $p);
    ok(!$ws, "$name: not upgraded");
    is($st, 409, "$name: 409");
    my $doc = eval { JSON::PP->new->decode($body) };
    like($doc && $doc->{error} // '', qr/already open/, "$name: JSON reason");
    $ws->close if $ws;
}

# a new session opens as soon as the old one is released
sub reopens {
    my ($name, $p) = @_;
    my $ws;
    wait_for(sub { ($ws) = FcfhWs->connect($wport, $p); $ws }, T(5), 0.1);
    ok($ws, "$name: the session was released");
    return $ws;
}

my $sim = start_sim();
my @sse = map { sse_subscribe($_->port(5), '/events') } @t;
ok($sse[0] && $sse[1], 'subscribed on both nodes');

# --- SOL through node2's relay, by GUID and by name ---------------------------

my %who;
for my $by ([guid => $GA], [name => $FQDN]) {
    my ($kind, $host) = @$by;
    my $ws = open_ws("node2, device by $kind", path('/webrelay.ashx', host => $host,
                                                    mode => 'sol'));
    next unless $ws;
    $who{$kind} = '127.0.0.1:' . $ws->sock->sockport;
    ok($ws->sol_login('admin', 'P@ssw0rd', T(5)),
       "by $kind: SOL session up through node1 (Digest by the console)")
        or diag($ws->{sol_error});
    $ws->sol_send("hello $kind\r");
    my $want = "hello $kind\r";
    is($ws->sol_read(length $want, T(5)), $want, "by $kind: typed text echoed by the host");
    my $paste = join '', map { chr(32 + $_ % 90) } 0 .. 9999;
    $ws->sol_send($paste);
    is($ws->sol_read(length $paste, T(10)), $paste, "by $kind: 10000 bytes echoed in order");
    $ws->send_close(1000, 'bye');
    my ($code) = $ws->expect_close(T(5));
    is($code, 1000, "by $kind: close 1000 echoed");
    ok($ws->wait_eof(T(5)), "by $kind: then node2 closes the connection");
}

# --- the audit on both nodes --------------------------------------------------

for my $kind (sort keys %who) {
    my $who = $who{$kind};
    for my $n (2, 1) {
        my $sub = $sse[$n - 1];
        my $close = sse_wait($sub, sub { $_[0]{event} eq 'console_close'
                                         && ($_[0]{json}{console} // '') eq $who }, T(5));
        my ($open) = grep { $_->{event} eq 'console_open'
                            && ($_->{json}{console} // '') eq $who } @{$sub->{events}};
        ok($open && $close, "by $kind, node$n: console_open and console_close")
            or next;
        my ($o, $c) = ($open->{json}, $close->{json});
        is($o->{node}, "node$n", "by $kind, node$n: ... the node that saw it");
        is($o->{port}, 16994, "by $kind, node$n: ... the port");
        cmp_ok($c->{bytes_to_device}, '>', 10000, "by $kind, node$n: ... bytes to the device");
        cmp_ok($c->{bytes_to_console}, '>', 10000, "by $kind, node$n: ... bytes to the console");
        is($c->{reason}, 'console_closed', "by $kind, node$n: ... the console closed it");
        if ($n == 2) {
            is($o->{front_door}, 'websocket', "by $kind, node2: front door websocket");
            is($o->{device_node}, 'node1', "by $kind, node2: ... the device is on node1");
            if ($kind eq 'guid') {
                is($o->{guid}, $GA, 'by guid, node2: ... the GUID');
            } else {
                is($o->{guid}, undef, 'by name, node2: ... its GUID unknown here');
                is($o->{fqdn}, $FQDN, 'by name, node2: ... the name the console used');
            }
        } else {
            is($o->{front_door}, 'cluster', "by $kind, node1: front door cluster");
            is($o->{device_node}, undef, "by $kind, node1: ... the device is here");
            is($o->{guid}, $GA, "by $kind, node1: ... the GUID");
        }
    }
}
{
    my (undef, undef, $m) = http_get($wport, '/metrics');
    like($m, qr/^fcfh_console_sessions_total\{front_door="websocket"\} 2$/m,
         'node2 counts two websocket sessions');
    like($m, qr/^fcfh_cluster_relays_total [2-9]/m, '... opened through another node');
}

# --- WS-Management (p=1) through node2 --------------------------------------

{
    my $identify = do { local $/; open my $f, '<', repo_dir() . '/sim/identify.xml' or die; <$f> };
    my $req = "POST /wsman HTTP/1.1\r\nHost: $FQDN:16992\r\n"
            . "Content-Type: application/soap+xml;charset=UTF-8\r\n"
            . 'Content-Length: ' . length($identify) . "\r\n\r\n$identify";
    my $ws = open_ws('p=1 by name', path('/webrelay.ashx', p => 1, port => 16992,
                                         host => $FQDN));
    if ($ws) {
        $ws->send_binary($req);
        my $got = '';
        my $deadline = time + T(5);
        while ($got !~ /IdentifyResponse.*<\/\S*Envelope>/s && time < $deadline) {
            my $d = $ws->read_data(1, 0.5);
            $got .= $d if defined $d;
        }
        like($got, qr{^HTTP/1\.1 200.*IdentifyResponse}s, 'p=1: answered through node1');
        $ws->close;
    }
}

# --- AMT's Digest answered by node2, the console's node --------------------

# the console's side of Intel's toolkit: empty credentials (t/55)
sub toolkit_session {
    my ($ws, $user, $uri) = @_;
    my %r;
    $ws->send_binary("\x10\x00\x00\x00SOL ");
    $r{start} = $ws->read_data(13, T(5));
    $ws->send_binary("\x13\x00\x00\x00\x00" . pack('V', 0));
    my $h = $ws->read_data(9, T(5));
    $r{methods} = length $h == 9 ? $ws->read_data(unpack('V', substr $h, 5, 4), T(5)) : '';
    my $d = join '', map { chr(length $_) . $_ } $user, '', '', $uri, '', '', '', '';
    $ws->send_binary("\x13\x00\x00\x00\x04" . pack('V', length $d) . $d);
    $h = $ws->read_data(9, T(5));
    $r{auth} = $h;
    $r{auth} .= $ws->read_data(unpack('V', substr $h, 5, 4), T(5)) if length $h == 9;
    return \%r;
}

sub sol_up {
    my ($ws) = @_;
    $ws->send_binary("\x20\x00\x00\x00" . pack('V', 1)
                     . pack('v6', 10000, 100, 0, 10000, 100, 0) . pack('V', 0));
    my $reply = $ws->read_data(23, T(5));
    return length $reply == 23 && ord($reply) == 0x21 && ord(substr $reply, 1) == 0;
}

my $success = "\x14\x00\x00\x00\x04\x00\x00\x00\x00";
for my $case (['/gw-guid', guid => $GA], ['/gw-any', guid => $GA], ['/gw-any', name => $FQDN]) {
    my ($loc, $kind, $host) = @$case;
    my $name = "$loc, by $kind";
    my $mark = $t[1]->log_mark;
    my $ws = open_ws("$name", path($loc, host => $host, mode => 'sol'));
    next unless $ws;
    my $r = toolkit_session($ws, '', '');
    is($r->{methods}, "\x04", "$name: the console is offered digest alone");
    is($r->{auth}, $success, "$name: empty credentials, success from node2");
    ok(sol_up($ws), "$name: SOL starts");
    $ws->sol_send("gw $kind\r");
    is($ws->sol_read(length("gw $kind\r"), T(5)), "gw $kind\r", "$name: echoed");
    $ws->close;
    like(substr($t[1]->error_log, $mark),
         qr/redirection session "SOL " to "\Q$host\E" authenticated by the gateway as AMT user "admin"/,
         "$name: node2 logs that it authenticated");
}
unlike($t[0]->error_log, qr/authenticated by the gateway/,
       'node1, which holds the device, did not');
{
    # named by name on a node that does not hold it, the GUID's line is
    # not found: the console's own Digest passes untouched
    my $ws = open_ws('/gw-guid, by name', path('/gw-guid', host => $FQDN, mode => 'sol'));
    ok($ws && $ws->sol_login('admin', 'P@ssw0rd', T(5)),
       "/gw-guid, by name: no account applies, the console's own Digest works")
        or diag($ws && $ws->{sol_error});
    $ws->close if $ws;
}

# --- console tokens on node2 for the remote device -------------------------

{
    my ($st, undef, $body) = http_get($wport, "/issue/$GA");
    is($st, 200, 'node2 issues a token for the GUID of a device it does not hold');
    my $tok = eval { JSON::PP->new->decode($body)->{token} } // '';
    my ($ws, $code) = FcfhWs->connect($wport, path('/tok', mode => 'sol'),
                                      protocol => $tok);
    ok($ws, 'the token, the device by GUID: upgraded') or diag("status $code");
    ok($ws && $ws->sol_login('admin', 'P@ssw0rd', T(5)), '... and SOL works');
    $ws->close if $ws;
    ($st) = http_get($wport, "/issue/$FQDN");
    is($st, 404, 'no token for a name node2 does not hold');
    my $h;
    ($ws, $code, $h, $body) = FcfhWs->connect($wport, path('/tok', mode => 'sol',
                                                           host => $FQDN),
                                              protocol => $tok);
    ok(!$ws, 'the token, the remote device by name: not upgraded');
    is($code, 401, '... 401 (node2 cannot tell which GUID the name is)');
    $ws->close if $ws;
}

# --- refusals for a remote device -------------------------------------------

{
    my ($ws, $st, $h, $body) = FcfhWs->connect($wport,
        path('/webrelay.ashx', host => 'nobody.example.test'));
    ok(!$ws, 'a name no node holds: not upgraded');
    is($st, 404, 'a name no node holds: 404');
    like($body, qr/"error":"no such device/, '... "no such device"');
    ($ws, $st, $h, $body) = FcfhWs->connect($wport,
        path('/webrelay.ashx', host => $FQDN, p => 1, port => 16993));
    ok(!$ws, 'a port the remote device did not forward: not upgraded');
    is($st, 404, '... 404');
    like($body, qr/port not registered/, '... "port not registered by the device"');
}

# --- fcfh_webrelay_sessions across nodes -------------------------------------

my $held = open_ws('node2: SOL by GUID', path('/webrelay.ashx', mode => 'sol'));
busy('node2: a second SOL by GUID', path('/webrelay.ashx', mode => 'sol'));
{
    # the device is not on node2: the name is a key of its own there
    my $byname = open_ws('node2: SOL by name beside it (two keys on node2)',
                         path('/webrelay.ashx', mode => 'sol', host => $FQDN));
    busy('node2: a second SOL by name', path('/webrelay.ashx', mode => 'sol',
                                            host => uc $FQDN));
    # node1 holds the device but counts only its own consoles
    my $local = open_ws('node1: SOL by GUID while node2 has one (no count across nodes)',
                        path('/webrelay.ashx', mode => 'sol'), $t[0]->port(5));
    my ($ws, $st) = FcfhWs->connect($t[0]->port(5), path('/webrelay.ashx', mode => 'sol',
                                                          host => $FQDN));
    is($st, 409, 'node1: by name it is the same GUID key there: 409');
    $ws->close if $ws;
    $_ && $_->close for $byname, $local;
}
my $again = reopens('node2: SOL by name once released',
                    path('/webrelay.ashx', mode => 'sol', host => $FQDN));
ok($again && $again->sol_login('admin', 'P@ssw0rd', T(5)), 'node2: it works');

# --- the device leaving ------------------------------------------------------

kill 'KILL', $sim->{pid};
$t[0]->stop_sim($sim);
for my $c ([guid => $held], [name => $again]) {
    my ($kind, $ws) = @$c;
    my ($code, $reason) = $ws ? $ws->expect_close(T(10)) : ();
    is($code, 1001, "device gone, session by $kind: close 1001");
    is($reason, 'device disconnected', "device gone, session by $kind: the reason");
    ok($ws && $ws->wait_eof(T(5)), "device gone, session by $kind: connection closed");
}
my $close = sse_wait($sse[1], sub { $_[0]{event} eq 'console_close'
                                    && ($_[0]{json}{console} // '') eq
                                       '127.0.0.1:' . ($held ? $held->sock->sockport : 0) },
                     T(5));
ok($close, 'node2: the session the device ended is audited');
is($close && $close->{json}{reason}, 'device_closed', '... as closed by the device')
    if $close;

# back: the sessions were released on node2
$sim = start_sim();
my $d = reopens('node2: after the device came back', path('/webrelay.ashx', mode => 'sol'));
ok($d && $d->sol_login('admin', 'P@ssw0rd', T(5)), 'node2: SOL up again');
$d->close if $d;
$t[0]->stop_sim($sim);

$t[0]->done_testing;
