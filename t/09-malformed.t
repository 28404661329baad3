#!/usr/bin/perl
# Malformed and hostile input, each on its own connection, while one good
# tunnel stays established. Every case must get the spec'd reaction and a
# log line; the good tunnel must survive the whole table.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
my $stream = <<'S';
    server {
        listen 127.0.0.1:%%PORT_3%% ssl;
        ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        fcfh_tunnel;
        fcfh_auth_file %%CERTS%%/devices.htpasswd;
        fcfh_handshake_timeout 1s;
    }
S
$t->write_config(std_config(handshake => '8s', idle => '60s', stream => $stream,
                            server => 'fcfh_max_forwards 2;'));
$t->run;
my ($port, $short, $sport) = ($t->port(1), $t->port(3), $t->port(2));
my @workers = $t->worker_pids;

# --- the good tunnel ----------------------------------------------------------------

my $GOOD = '00000000-0000-4000-8000-0000000090ff';
my $good = FcfhApf->connect($port);
$good->handshake($GOOD, 'admin', 'P@ssw0rd', [16992, 16993], 'good.example.test');
ok($good->{established}, 'good tunnel established');

# --- building blocks ----------------------------------------------------------------

my $n = 0;
my $GUID;
sub PV   { protocolversion($GUID) }
sub ASVC { service_request(AUTH_SERVICE) }
sub AUTH { userauth_password('admin', 'P@ssw0rd') }
sub PSVC { service_request(PFWD_SERVICE) }
sub S    { apf_string($_[0]) }

# prefixes: [bytes, expected reply types]
my %pre = (
    none => [],
    pv   => [ [\&PV, []] ],
    asvc => [ [\&PV, []], [\&ASVC, [SERVICE_ACCEPT]] ],
    auth => [ [\&PV, []], [\&ASVC, [SERVICE_ACCEPT]], [\&AUTH, [USERAUTH_SUCCESS]] ],
    full => [ [\&PV, []], [\&ASVC, [SERVICE_ACCEPT]], [\&AUTH, [USERAUTH_SUCCESS]],
              [\&PSVC, [SERVICE_ACCEPT]] ],
);

# name, prefix, bad bytes, reason, replies expected before the DISCONNECT
my @table = (
    [ 'unknown type byte 99',            'pv',   sub { "\x63" . "\0" x 16 },               2 ],
    [ 'type 0 as first message',         'none', sub { "\0" x 16 },                        2 ],
    [ 'type 0 after PROTOCOLVERSION',    'pv',   sub { "\0" x 16 },                        2 ],
    [ 'unknown type byte 255',           'asvc', sub { "\xff" . "\0" x 16 },               2 ],
    [ 'userauth before PROTOCOLVERSION', 'none', sub { AUTH() },                           2 ],
    [ 'service request before PROTOCOLVERSION', 'none', sub { ASVC() },                   2 ],
    [ 'PROTOCOLVERSION twice',           'pv',   sub { PV() },                             2 ],
    [ 'PROTOCOLVERSION twice after auth', 'full', sub { PV() },                            2 ],
    [ 'PROTOCOLVERSION major 2',         'none', sub { protocolversion($GUID, 1, 2, 0) },  8 ],
    [ 'service request: unknown service', 'pv',  sub { service_request('ssh-connection') }, 7 ],
    [ 'userauth without auth service',   'pv',   sub { AUTH() },                           2 ],
    # the spec does not say which of protocol error / service not available
    [ 'userauth for another service',    'asvc', sub { userauth_password('admin', 'P@ssw0rd', 'ssh-connection') }, [2, 7] ],
    [ 'tcpip-forward before auth',       'asvc', sub { global_forward('x', 16992) },       2 ],
    [ 'tcpip-forward before pfwd service', 'auth', sub { global_forward('x', 16992) },     2 ],
    [ 'channel open before auth',        'asvc', sub { channel_open('direct-tcpip', 1, 4096, 'a', 1, 'b', 2) }, 2 ],
    [ 'gateway-only USERAUTH_SUCCESS',   'pv',   sub { "\x34" },                           2 ],
    [ 'gateway-only REQUEST_SUCCESS',    'full', sub { pack('CN', REQUEST_SUCCESS, 16992) }, 2 ],
    [ 'gateway-only REQUEST_FAILURE',    'full', sub { pack('C', REQUEST_FAILURE) },       2 ],
    [ 'gateway-only SERVICE_ACCEPT',     'pv',   sub { pack('C', SERVICE_ACCEPT) . S(AUTH_SERVICE) }, 2 ],
    [ 'gateway-only USERAUTH_FAILURE',   'asvc', sub { pack('C', USERAUTH_FAILURE) . S('password') . "\0" }, 2 ],
    [ 'gateway-only KEEPALIVE_OPTIONS_REQUEST', 'full', sub { pack('CNN', KEEPALIVE_OPTIONS_REQUEST, 30, 0) }, 2 ],
    [ 'oversize user length 0xffffffff', 'asvc', sub { pack('CN', USERAUTH_REQUEST, 0xffffffff) . 'admin' }, 2 ],
    [ 'oversize password (1 MiB claimed)', 'asvc', sub {
          userauth_raw('admin', PFWD_SERVICE, 'password', "\0" . pack('N', 1 << 20) . 'x' x 100) }, 2 ],
    [ 'oversize service name',           'pv',   sub { pack('CN', SERVICE_REQUEST, 0x7fffffff) . 'auth' }, 2 ],
    [ 'oversize fqdn in tcpip-forward',  'full', sub {
          global_request('tcpip-forward', 1, pack('N', 0xffffffff) . 'host') }, 2 ],
    [ 'oversize channel data',           'full', sub { pack('CNN', CHANNEL_DATA, 0, 0xfffffff0) . 'x' x 64 }, 2 ],
    [ 'userauth bad bool 2',             'asvc', sub {
          userauth_raw('admin', PFWD_SERVICE, 'password', "\x02" . S('P@ssw0rd')) }, 2 ],
    [ 'userauth unknown method publickey', 'asvc', sub {
          userauth_raw('admin', PFWD_SERVICE, 'publickey', "\0" . S('ssh-rsa') . S('key')) }, 2 ],
    [ 'unknown global request, want_reply 1', 'full', sub {
          global_request('no-such-request@example.com', 1, pack('N', 0)) }, 2, [REQUEST_FAILURE] ],
    [ 'unknown global request, want_reply 0', 'full', sub {
          global_request('no-such-request@example.com', 0, pack('N', 0)) }, 2 ],
    [ 'global request bad want_reply bool', 'full', sub {
          global_request('tcpip-forward', 7, S('x') . pack('N', 16992)) }, 2 ],
);

sub run_prefix {
    my ($c, $which, $name) = @_;
    for my $step (@{$pre{$which}}) {
        my ($bytes, $want) = @$step;
        $c->send($bytes->()) or return 0;
        for my $type (@$want) {
            my $m = $c->read_msg(T(3));
            unless ($m && $m->{type} == $type) {
                fail("$name: prefix reply $type");
                diag(explain $m);
                return 0;
            }
        }
    }
    return 1;
}

# a new log line about this connection: not nginx's "connected to" info line
sub logged {
    my ($mark, $name) = @_;
    my $line = $t->wait_for_log(qr/^(?!.*connected to).*127\.0\.0\.1/, T(3), $mark);
    ok($line, "$name: logged") or diag(substr($t->error_log, $mark));
}

for my $case (@table) {
    my ($name, $prefix, $bad, $reason, $before) = @$case;
    $GUID = sprintf '00000000-0000-4000-8000-%012x', 0x9000 + ++$n;
    my $c = FcfhApf->connect($port) or do { fail("$name: connect"); next };
    run_prefix($c, $prefix, $name) or next;
    my $mark = $t->log_mark;
    $c->send($bad->());
    my $got = $c->expect_disconnect(T(3));
    if (ref $reason) {
        ok(defined $got && grep({ $_ == $got } @$reason),
           "$name: DISCONNECT(" . join('|', @$reason) . ')') or diag('got ' . ($got // 'none'));
    } else {
        is($got, $reason, "$name: DISCONNECT($reason)");
    }
    is_deeply([ map { $_->{type} } @{$c->{before_disconnect}} ], $before // [],
              "$name: " . ($before ? "replies @$before first" : 'nothing before the DISCONNECT'));
    ok($c->wait_closed(T(3)), "$name: closed");
    logged($mark, $name);
}

# --- cases that do not fit the table --------------------------------------------------

# truncated message, then the device closes: the gateway just closes
{
    $GUID = sprintf '00000000-0000-4000-8000-%012x', 0x9000 + ++$n;
    my $c = FcfhApf->connect($port);
    run_prefix($c, 'asvc', 'truncated');
    $c->send(substr(AUTH(), 0, 10));
    my $m = $c->read_msg(0.3);
    ok(!$m, 'truncated message: gateway waits for the rest');
    $c->close;
    ok($good->ping(100, T(3)), 'truncated message then close: gateway still serves');
}

# device DISCONNECT after the handshake: closed silently
{
    $GUID = sprintf '00000000-0000-4000-8000-%012x', 0x9000 + ++$n;
    my $c = FcfhApf->connect($port);
    run_prefix($c, 'full', 'device disconnect');
    $c->send(disconnect(11));
    my $m = $c->read_msg(T(3));
    ok(!$m && $c->eof, 'device DISCONNECT: gateway closes without a reply') or diag(explain $m);
}

# too many forwards: REQUEST_FAILURE, tunnel stays
{
    $GUID = sprintf '00000000-0000-4000-8000-%012x', 0x9000 + ++$n;
    my $c = FcfhApf->connect($port);
    $c->handshake($GUID, 'admin', 'P@ssw0rd', [16992, 16993], 'many.example.test');
    ok($c->{established}, 'two forwards (fcfh_max_forwards 2) accepted');
    $c->send(global_forward('many.example.test', 16994, 1));
    my $m = $c->read_msg(T(3));
    is($m && $m->{type}, REQUEST_FAILURE, 'third forward: REQUEST_FAILURE');
    ok($c->ping(5, T(3)), 'third forward: tunnel stays');
    my $e = find_tunnel(wait_status($sport, sub { find_tunnel($_, $GUID) }, T(3)), $GUID) // {};
    is_deeply($e->{ports}, [16992, 16993], 'third forward: not registered');
    $c->close;
}

# channel messages for a channel the gateway does not have: each dropped
# with an info line, the tunnel stays; more than 16 of them within a
# minute: DISCONNECT 2
{
    $GUID = sprintf '00000000-0000-4000-8000-%012x', 0x9000 + ++$n;
    my $c = FcfhApf->connect($port);
    run_prefix($c, 'full', 'no such channel');
    my @cases = (
        [ 'channel data',   'CHANNEL_DATA',              channel_data(42, 'hello') ],
        [ 'window adjust',  'CHANNEL_WINDOW_ADJUST',     channel_window(42, 1000) ],
        [ 'channel close',  'CHANNEL_CLOSE',             channel_close(42) ],
        [ 'channel confirm', 'CHANNEL_OPEN_CONFIRMATION', channel_confirm(42, 1, 4096) ],
        [ 'channel failure', 'CHANNEL_OPEN_FAILURE',     channel_failure(42, 2) ],
    );
    my $cookie = 200;
    for (@cases) {
        my ($name, $type, $bytes) = @$_;
        my $mark = $t->log_mark;
        $c->send($bytes);
        ok($c->ping(++$cookie, T(3)), "$name for unknown channel 42: dropped, the tunnel stays");
        ok($t->wait_for_log(qr/\[info\].*device sent $type for no open channel \(42\), dropped/,
                            T(3), $mark), "... logged at info");
    }
    # five so far: eleven more are within the budget, the seventeenth is not
    $c->send(map { channel_close(42) } 1 .. 11);
    ok($c->ping(++$cookie, T(3)), 'sixteen messages for no channel: the tunnel stays');
    my $mark = $t->log_mark;
    $c->send(channel_close(42));
    is($c->expect_disconnect(T(3)), 2, 'the seventeenth within a minute: DISCONNECT(2)');
    ok($c->wait_closed(T(3)), '... closed');
    ok($t->wait_for_log(qr/\[info\].*device sent CHANNEL_CLOSE for no open channel \(42\), more than 16 such messages in 60 s/,
                        T(3), $mark), '... logged at info');
}

# slow drip within the handshake deadline (8s): the first 10 bytes one per
# 200 ms, then the rest of the handshake in small records 200 ms apart
{
    $GUID = sprintf '00000000-0000-4000-8000-%012x', 0x9000 + ++$n;
    my $c = FcfhApf->connect($port);
    my $start = time;
    my $hs = PV() . ASVC() . AUTH() . PSVC() . global_forward('drip.example.test', 5900);
    $c->note_sent(global_forward('x', 1));
    my @chunks = ((map { substr($hs, $_, 1) } 0 .. 9), unpack('(a24)*', substr($hs, 10)));
    for (@chunks) { $c->write_raw($_); sleep 0.2 }
    my @types;
    while (my $m = $c->read_msg(T(3))) {
        push @types, $m->{type};
        last if $m->{type} == KEEPALIVE_OPTIONS_REQUEST || $m->{type} == DISCONNECT;
    }
    is_deeply(\@types, [SERVICE_ACCEPT, USERAUTH_SUCCESS, SERVICE_ACCEPT, REQUEST_SUCCESS,
                        KEEPALIVE_OPTIONS_REQUEST],
              sprintf('slow drip (%d records over %.1fs) within the deadline succeeds',
                      scalar @chunks, time - $start));
    $c->close;
}

# slow drip beyond the handshake timeout (1s server): one byte per 200 ms
{
    $GUID = sprintf '00000000-0000-4000-8000-%012x', 0x9000 + ++$n;
    my $c = FcfhApf->connect($short);
    my $mark = $t->log_mark;
    my $hs = PV() . ASVC();
    my $start = time;
    my $reason;
    for my $i (0 .. length($hs) - 1) {
        last unless $c->write_raw(substr($hs, $i, 1));
        my $m = $c->read_msg(0.2);
        if ($m) { $reason = $m->{type} == DISCONNECT ? $m->{reason} : "type $m->{type}"; last }
        last if $c->eof || time - $start > T(5);
    }
    $reason //= $c->expect_disconnect(T(3));
    is($reason, 16, sprintf('slow drip beyond the handshake timeout: DISCONNECT(16) after %.1fs',
                            time - $start));
    logged($mark, 'slow drip beyond the timeout');
}

# plain-text garbage to the TLS port
{
    my $mark = $t->log_mark;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 3);
    print $s "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
    my $buf = '';
    my $closed = wait_for(sub {
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        return 0 unless select($rin, undef, undef, 0.1);
        my $r = sysread($s, $buf, 4096, length $buf);
        return !$r;
    }, T(3));
    ok($closed, 'plain text to the TLS port: closed');
    unlike($buf, qr/^HTTP/, 'plain text: no HTTP answer');
    logged($mark, 'plain text to the TLS port');
}

# TLS, then 1 MiB of random bytes
{
    my $c = FcfhApf->connect($port);
    my $mark = $t->log_mark;
    my $junk = "\xff" . join('', map { chr int rand 256 } 1 .. 65535);
    local $SIG{ALRM} = sub { die "write timeout\n" };
    alarm T(10);
    eval { for (1 .. 16) { $c->write_raw($junk) or last } };
    alarm 0;
    my $r = $c->expect_disconnect(T(3));
    ok(!defined $r || $r == 2, 'random bytes: DISCONNECT(2) or reset, nothing else')
        or diag("reason $r");
    ok($c->wait_closed(T(3)), 'random bytes: closed');
    logged($mark, 'random bytes');
}

# --- the good tunnel survived everything -------------------------------------------------

ok($good->ping(12345, T(3)), 'good tunnel still answers a keepalive');
my $doc = status_json($sport);
ok(find_tunnel($doc, $GOOD), 'good tunnel still in status');
is_deeply([ $t->worker_pids ], \@workers, 'no worker crashed or restarted');
$good->close;

$t->done_testing;
