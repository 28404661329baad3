#!/usr/bin/perl
# fcfh_webrelay, the browsers' WebSocket relay: the handshake and its
# refusals (RFC 6455 4.2.1; JSON bodies, before any upgrade), the query of
# Open AMT's and MeshCentral's consoles at the paths they use, the
# subprotocol echoed, SOL through the relay against the simulator (Digest
# done by the console), WS-Management (p=1) as binary and as text frames,
# fragmentation with control frames in between, pings both ways, and the
# frames the relay refuses (unmasked 1002, oversize 1009, invalid 1007).
# Two workers with reuseport: consoles land on both, tunnels on one.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP ();
use FcfhTest qw(:all);
use FcfhWs;

plan skip_all => 'no simulator (make sim)' unless have_sim();

# HTTP/2 only where this nginx has it (the sanitizer build has not)
my $h2 = `$FcfhTest::NGINX -V 2>&1` =~ /http_v2_module/ ? 1 : 0;

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, http => '
    server {
        listen 127.0.0.1:%%PORT_3%% reuseport;
        location = /webrelay.ashx { fcfh_webrelay; }
        location = /relay/webrelay.ashx { fcfh_webrelay; }
        location = /mps/ws/relay/webrelay.ashx { fcfh_webrelay; }
        location = /small {
            fcfh_webrelay;
            fcfh_webrelay_max_frame 4k;
            fcfh_webrelay_max_message 8k;
        }
        location = /ports {
            fcfh_webrelay;
            fcfh_webrelay_ports 16994;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_4%% ssl;
        ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        location = /webrelay.ashx { fcfh_webrelay; }
    }' . ($h2 ? '
    server {
        listen 127.0.0.1:%%PORT_5%% http2;
        location = /webrelay.ashx { fcfh_webrelay; }
    }' : '')));
$t->run;

my $sport = $t->port(2);
my $wport = $t->port(3);
my $guid = '00000000-0000-4000-8000-000000000001';
my $fqdn = 'dev0.example.test';

# the device registers every AMT port but 16993
my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--quiet',
                      '--ports', '16992,16994,16995,5900');
ok(wait_status($sport, sub {
       my $e = find_tunnel($_[0], $guid);
       $e && @{$e->{ports} // []} == 4 } , T(10)),
   'simulated device up with its ports');
my $owner = find_tunnel($FcfhTest::LAST_STATUS, $guid)->{owner_pid};

sub q2 { my (%q) = (p => 2, host => $guid, port => 16994, tls => 0, @_);
         join '&', map { "$_=$q{$_}" } grep { defined $q{$_} } sort keys %q }

sub refused {
    my ($path, $want, $name, %o) = @_;
    my ($ws, $st, $h, $body) = FcfhWs->connect($wport, $path, %o);
    ok(!$ws, "$name: not upgraded");
    is($st, $want, "$name: HTTP $want");
    my $doc = eval { JSON::PP->new->decode($body) };
    ok($doc && length($doc->{error} // ''), "$name: JSON error body")
        or diag("body: $body");
    return ($h, $doc);
}

# --- handshake refusals -----------------------------------------------------

my $ok_path = '/webrelay.ashx?' . q2();
{
    my ($h) = refused($ok_path, 400, 'no key', headers => { 'Sec-WebSocket-Key' => undef });
    refused($ok_path, 400, 'key of 15 bytes',
            key => MIME::Base64::encode_base64('x' x 15, ''));
    refused($ok_path, 400, 'key not base64', key => '!!!!!!!!!!!!!!!!!!!!!!==');
    ($h) = refused($ok_path, 426, 'version 8', version => 8);
    is($h->{'sec-websocket-version'}, '13', 'version 8: Sec-WebSocket-Version: 13 offered');
    ($h) = refused($ok_path, 426, 'no version', headers => { 'Sec-WebSocket-Version' => undef });
    is($h->{'sec-websocket-version'}, '13', 'no version: Sec-WebSocket-Version: 13 offered');
    ($h) = refused($ok_path, 426, 'no Upgrade', headers => { Upgrade => undef });
    is(lc($h->{upgrade} // ''), 'websocket', 'no Upgrade: Upgrade: websocket offered');
    refused($ok_path, 426, 'Upgrade: h2c', headers => { Upgrade => 'h2c' });
    refused($ok_path, 400, 'no Connection: upgrade', headers => { Connection => 'keep-alive' });
    ($h) = refused($ok_path, 405, 'POST', method => 'POST',
                   headers => { 'Content-Length' => 0 });
    is($h->{allow}, 'GET', 'POST: Allow: GET');
    refused($ok_path, 400, 'HTTP/1.0', http => 'HTTP/1.0');
    refused($ok_path, 400, 'a body', headers => { 'Content-Length' => 4 }, body => 'abcd');
    refused($ok_path, 400, 'bad subprotocol', protocol => 'a b');
}

# --- parameter refusals -------------------------------------------------------

refused('/webrelay.ashx?' . q2(p => undef), 400, 'no p');
refused('/webrelay.ashx?' . q2(p => 3), 400, 'p=3');
refused('/webrelay.ashx?' . q2(host => undef), 400, 'no host');
refused('/webrelay.ashx?' . q2(host => '127.0.0.1'), 400, 'host an address');
refused('/webrelay.ashx?' . q2(host => 'a%20b'), 400, 'host with a space');
refused('/webrelay.ashx?' . q2(port => 'x'), 400, 'port not a number');
refused('/webrelay.ashx?' . q2(mode => 'vnc'), 400, 'mode vnc');
refused('/webrelay.ashx?' . q2(tls => 2), 400, 'tls=2');
refused('/webrelay.ashx?' . q2(tls1only => 'yes'), 400, 'tls1only=yes');
{
    my ($h, $doc) = refused('/webrelay.ashx?' . q2(port => 22), 403, 'port 22');
    like($doc->{error} // '', qr/port not allowed/, 'port 22: "port not allowed"');
    refused('/webrelay.ashx?' . q2(port => 5900), 403, 'port 5900 (the device has it)');
    refused('/ports?' . q2(port => 16992), 403, 'fcfh_webrelay_ports: 16992 not listed');
    ($h, $doc) = refused('/webrelay.ashx?' . q2(tls => 1, port => 16995), 501, 'tls=1');
    like($doc->{error} // '', qr/tls=1/, 'tls=1: the refusal says why');
    ($h, $doc) = refused('/webrelay.ashx?' . q2(host => '00000000-0000-4000-8000-0000000000ff'),
                         404, 'unknown device');
    like($doc->{error} // '', qr/no such device/, 'unknown device: "no such device"');
    refused('/webrelay.ashx?' . q2(host => 'nobody.example.test'), 404, 'unknown name');
    # a port the device did not forward, once its forwards settled
    # (until then it may still come: "no such device" yet)
    my $path = '/webrelay.ashx?' . q2(p => 1, port => 16993);
    my ($st, $body);
    wait_for(sub { (undef, $st, undef, $body) = FcfhWs->connect($wport, $path);
                   $body =~ /port not registered/ }, T(5), 0.2);
    is($st, 404, 'port not forwarded by the device: HTTP 404');
    like($body, qr/"error":"port not registered/, 'port not forwarded: says so');
}

# --- SOL through the relay, at the paths both consoles use ------------------

my @served;
for my $path ('/webrelay.ashx', '/relay/webrelay.ashx', '/mps/ws/relay/webrelay.ashx') {
    my $token = 'eyJhbGciOiJIUzI1NiJ9.eyJkZXZpY2VJZCI6IjEifQ.c2ln-_';
    my $host = $path =~ /mps/ ? $fqdn : $guid;
    my ($ws, $st, $h) = FcfhWs->connect($wport, "$path?" . q2(host => $host, mode => 'sol'),
                                        protocol => $token);
    ok($ws, "$path: upgraded") or do { diag("status $st"); next };
    ok($ws->{accept_ok}, "$path: Sec-WebSocket-Accept right");
    is($h->{'sec-websocket-protocol'}, $token, "$path: subprotocol echoed exactly");
    ok($ws->sol_login('admin', 'P@ssw0rd', T(5)), "$path: SOL session up (Digest by the console)")
        or diag($ws->{sol_error});
    $ws->sol_send("hello\r");
    is($ws->sol_read(6, T(5)), "hello\r", "$path: typed text echoed by the host");
    # a large paste, as text frame of one-byte characters
    my $paste = join '', map { chr(32 + $_ % 200) } 0 .. 2999;
    $ws->sol_send($paste, text => 1);
    is($ws->sol_read(3000, T(5)), $paste, "$path: a 3000-byte paste in a text frame echoed");
    is_deeply([sort keys %{$ws->{seen}}], [2], "$path: only binary frames from the gateway")
        or diag(explain $ws->{seen});
    ok(!$ws->{nonminimal}, "$path: lengths in their shortest form");
    $ws->send_close(1000, 'bye');
    my ($code) = $ws->expect_close(T(5));
    is($code, 1000, "$path: close 1000 echoed");
    ok($ws->wait_eof(T(5)), "$path: then the gateway closes the connection");
}

# MeshCentral's scripts: no subprotocol, no mode, token in the query
my $secret = 'Sekr1tTokenValue';
{
    my ($ws, $st, $h) = FcfhWs->connect($wport, '/webrelay.ashx?p=2&host=' . $guid
                                        . "&port=16994&tls=0&tls1only=0&auth=$secret");
    ok($ws, 'MeshCentral-style query: upgraded') or diag("status $st");
    ok(!exists $h->{'sec-websocket-protocol'}, 'no subprotocol asked, none answered');
    ok($ws && $ws->sol_login('admin', 'P@ssw0rd', T(5)), 'MeshCentral-style: SOL up');
    $ws->close if $ws;
    # refused early (handshake, parameters): the request line is logged
    FcfhWs->connect($wport, "/webrelay.ashx?auth=$secret&p=2&host=$guid&port=22",
                    version => 7);
    FcfhWs->connect($wport, "/webrelay.ashx?auth=$secret&p=2&host=$guid&port=22");
}

# --- WS-Management (p=1): raw HTTP in the channel -----------------------------

my $identify = do { local $/; open my $f, '<', repo_dir() . '/sim/identify.xml' or die; <$f> };
my $req = "POST /wsman HTTP/1.1\r\nHost: $fqdn:16992\r\n"
        . "Content-Type: application/soap+xml;charset=UTF-8\r\n"
        . "Content-Length: " . length($identify) . "\r\n\r\n$identify";

sub wsman_answer {
    my ($ws) = @_;
    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        my $d = $ws->read_data(1, T(5));
        last unless length $d;
        $head .= $d;
    }
    my ($len) = $head =~ /Content-Length:\s*(\d+)/i;
    return ($head, defined $len ? $ws->read_data($len, T(5)) : '');
}

{
    my ($ws) = FcfhWs->connect($wport, '/webrelay.ashx?' . q2(p => 1, port => 16992));
    ok($ws, 'p=1: upgraded');
    $ws->send_binary($req);
    my ($head, $body) = wsman_answer($ws);
    like($head, qr{^HTTP/1\.1 200}, 'p=1, binary: HTTP 200 from the device');
    like($body, qr/IdentifyResponse/, 'p=1, binary: IdentifyResponse');

    # the same request as a text frame, and split in fragments with a ping
    # and a pong between them
    $ws->send_text($req);
    ($head, $body) = wsman_answer($ws);
    like($body, qr/IdentifyResponse/, 'p=1, text frame: IdentifyResponse');

    my @part = (substr($req, 0, 10), substr($req, 10, 100), substr($req, 110));
    $ws->send_frame(opcode => 2, fin => 0, payload => $part[0]);
    $ws->send_frame(opcode => 9, payload => 'between');
    $ws->send_frame(opcode => 0, fin => 0, payload => $part[1]);
    $ws->send_frame(opcode => 10, payload => 'unsolicited');
    $ws->send_frame(opcode => 0, fin => 1, payload => $part[2]);
    my $f = $ws->read_frame(T(5));
    is($f && $f->{opcode}, 10, 'fragments: the ping between them answered at once');
    is($f && $f->{payload}, 'between', 'fragments: pong with the ping payload');
    ($head, $body) = wsman_answer($ws);
    like($body, qr/IdentifyResponse/, 'fragments: the request went through whole');

    # a text frame with a character above U+00FF cannot be bytes: 1007
    $ws->send_text("\xc4\x80");
    my ($code, $reason) = $ws->expect_close(T(5));
    is($code, 1007, 'text above U+00FF: close 1007');
    like($reason, qr/U\+00FF/, 'text above U+00FF: the reason says why');
}

# --- frames the relay refuses ------------------------------------------------

sub closes_with {
    my ($name, $path, $want, $send) = @_;
    my ($ws) = FcfhWs->connect($wport, $path);
    ok($ws, "$name: upgraded") or return;
    $send->($ws);
    my ($code, $reason) = $ws->expect_close(T(5));
    is($code, $want, "$name: close $want") or diag("reason: " . ($reason // ''));
    ok(length($reason // ''), "$name: with a reason ($reason)");
    ok($ws->wait_eof(T(8)), "$name: connection closed");
}

my $p1 = '/webrelay.ashx?' . q2(p => 1, port => 16992);
closes_with('unmasked frame', $p1, 1002,
            sub { $_[0]->send_frame(opcode => 2, payload => 'x', mask => 0) });
closes_with('reserved bit', $p1, 1002,
            sub { $_[0]->send_frame(opcode => 2, payload => 'x', rsv => 4) });
closes_with('opcode 3', $p1, 1002, sub { $_[0]->send_frame(opcode => 3, payload => 'x') });
closes_with('lone continuation', $p1, 1002,
            sub { $_[0]->send_frame(opcode => 0, payload => 'x') });
closes_with('ping of 126 bytes', $p1, 1002,
            sub { $_[0]->send_frame(opcode => 9, payload => 'p' x 126) });
closes_with('fragmented ping', $p1, 1002,
            sub { $_[0]->send_frame(opcode => 9, fin => 0, payload => 'p') });
closes_with('length not minimal', $p1, 1002,
            sub { $_[0]->send_frame(opcode => 2, payload => 'short', len16 => 1) });
closes_with('close code 1005 on the wire', $p1, 1002,
            sub { $_[0]->send_frame(opcode => 8, payload => pack('n', 1005)) });
my $small = '/small?' . q2(p => 1, port => 16992);
closes_with('frame over 4k', $small, 1009,
            sub { $_[0]->write_raw(FcfhWs::frame_bytes(opcode => 2, payload => 'x' x 4097)) });
closes_with('frame over 4k, header alone', $small, 1009,
            sub { $_[0]->write_raw(substr(FcfhWs::frame_bytes(opcode => 2,
                                                             payload => 'x' x 100000), 0, 14)) });
closes_with('message over 8k in fragments', $small, 1009, sub {
    $_[0]->send_frame(opcode => 2, fin => 0, payload => 'y' x 4000);
    $_[0]->send_frame(opcode => 0, fin => 0, payload => 'y' x 4000);
    $_[0]->send_frame(opcode => 0, fin => 1, payload => 'y' x 1000);
});

# --- pings from the browser, a close without a code -------------------------

{
    my ($ws) = FcfhWs->connect($wport, $p1);
    for my $p ('', 'abc', 'z' x 125) {
        $ws->ping($p);
        my $f = $ws->read_frame(T(5));
        ok($f && $f->{opcode} == 10 && $f->{payload} eq $p,
           'ping of ' . length($p) . ' bytes: pong with the same payload');
    }
    $ws->send_close;
    my ($code) = $ws->expect_close(T(5));
    is($code, 1000, 'a close without a code is answered with 1000');
    ok($ws->wait_eof(T(5)), '... and the connection closed');
}

# --- over TLS (wss://), as browsers on an https page must ----------------------

{
    my ($ws, $st) = FcfhWs->connect($t->port(4), '/webrelay.ashx?' . q2(mode => 'sol'),
                                    ssl => 1);
    ok($ws, 'wss: upgraded') or diag("status $st $FcfhWs::ERROR");
    ok($ws && $ws->sol_login('admin', 'P@ssw0rd', T(5)), 'wss: SOL session up')
        or diag($ws && $ws->{sol_error});
    my $paste = join '', map { chr(32 + $_ % 90) } 0 .. 19999;
    if ($ws) {
        $ws->sol_send(substr($paste, $_ * 5000, 5000)) for 0 .. 3;
        is($ws->sol_read(20000, T(10)), $paste, 'wss: 20000 bytes echoed in order');
        $ws->send_close(1000);
        my ($code) = $ws->expect_close(T(5));
        is($code, 1000, 'wss: close 1000');
    }
}

# --- HTTP/2: no WebSocket there (RFC 8441 not offered), a clean refusal -------

SKIP: {
    skip 'nginx without HTTP/2', 2 unless $h2;
    my $out = `curl -s -m 10 --http2-prior-knowledge -w '\n%{http_code} %{http_version}' 'http://127.0.0.1:${\ $t->port(5)}/webrelay.ashx?p=2&host=$guid&port=16994' 2>&1`;
    like($out, qr/\n400 2$/, 'HTTP/2: 400') or diag($out);
    like($out, qr/"error":"a WebSocket needs HTTP\/1\.1, not HTTP\/2"/, 'HTTP/2: the reason');
}

# --- consoles served by both workers, the tunnel in one ----------------------

{
    my %by;
    my $mark = $t->log_mark;
    for (1 .. 16) {
        my ($ws) = FcfhWs->connect($wport, $p1) or next;
        $ws->send_binary($req);
        my (undef, $body) = wsman_answer($ws);
        $by{ok}++ if $body =~ /IdentifyResponse/;
        $ws->send_close(1000);
        $ws->expect_close(T(5));
    }
    is($by{ok}, 16, 'sixteen consoles answered');
    my $log = substr($t->error_log, $mark);
    my %pids = map { $_ => 1 } $log =~ /\[info\] (\d+)#\d+: \*\d+ fcfh: websocket console to .* open/g;
    ok(grep({ $_ != $owner } keys %pids),
       'some were served by the worker that does not hold the tunnel')
        or diag("owner $owner, served by: " . join(',', keys %pids));
}

# a token in the query never reaches a log
{
    $t->stop_sim($sim);
    $t->stop;
    my $logs = $t->error_log . $t->read_file('access.log');
    like($logs, qr/auth=\*{16}/, 'the query token is masked in the logs');
    unlike($logs, qr/$secret/, 'the query token appears in no log');
}

$t->done_testing;
