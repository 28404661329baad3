#!/usr/bin/perl
# Console audit: every console session through SOCKS5, CONNECT and
# fcfh_pass gives one console_open and one console_close event (SSE), with
# the device, port, front door, console address, authenticated user, the
# bytes each way, the duration and why it ended (console closed, device
# closed, idle timeout); a notice line in the log at each; the session
# counters in fcfh_metrics. Refusals open no session: they stay in the
# log and in fcfh_console_requests_total. Two workers, so that sessions
# run both spliced on a local tunnel and through the relay.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use MIME::Base64 ();
use FcfhTest qw(:all);
use FcfhConsole qw(:all);

plan skip_all => 'simulator not built' unless have_sim();

my $repo = repo_dir();
my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
        fcfh_proxy_auth_file %%CERTS%%/devices.htpasswd;
        fcfh_proxy_idle_timeout 1500ms;
    }', http => '
    server {
        listen 127.0.0.1:%%PORT_4%%;
        location / {
            fcfh_pass_auth_file %%CERTS%%/devices.htpasswd;
            fcfh_pass;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_5%%;
        location = /events { fcfh_events; }
        location = /metrics { fcfh_metrics; }
    }'));
$t->run;
my ($sport, $px, $pass, $ops) = map { $t->port($_) } 2 .. 5;

my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 2,
                      '--ports', '16992,16993,16994', '--quiet');
ok(wait_status($sport, sub { ($_->{total} // 0) == 2 }, T(10)),
   'two simulated devices up');

sub guid { sprintf '00000000-0000-4000-8000-%012d', $_[0] }
sub fqdn { sprintf 'dev%d.example.test', $_[0] - 1 }

my $sse = sse_subscribe($ops, '/events');
like($sse && $sse->{raw}, qr{^HTTP/1\.1 200 }, 'subscribed to fcfh_events');

my $identify = do { local $/; open my $f, '<', "$repo/sim/identify.xml" or die; <$f> };

sub wsman_request {
    my ($close) = @_;
    return "POST /wsman HTTP/1.1\r\nHost: device:16992\r\n"
         . "Content-Type: application/soap+xml;charset=UTF-8\r\n"
         . ($close ? "Connection: close\r\n" : '')
         . 'Content-Length: ' . length($identify) . "\r\n\r\n$identify";
}

# one answer with its Content-Length: the bytes as the console got them
sub read_answer {
    my ($s) = @_;
    my $head = '';
    my $deadline = time + T(5);
    while ($head !~ /\r\n\r\n/ && time < $deadline) {
        my $b = read_some($s, 65536, 0.2);
        last unless defined $b;
        $head .= $b;
    }
    my ($len) = $head =~ /\r\nContent-Length: (\d+)\r\n/i;
    return $head unless defined $len;
    my ($h) = $head =~ /^(.*?\r\n\r\n)/s;
    my $want = length($h) + $len;
    $head .= read_exact($s, $want - length $head, T(5)) if length $head < $want;
    return $head;
}

# the console_open and console_close of the console at local port $cport
sub session_events {
    my ($cport, $timeout) = @_;
    my $who = "127.0.0.1:$cport";
    my $close = sse_wait($sse, sub { $_[0]{event} eq 'console_close'
                                     && ($_[0]{json}{console} // '') eq $who },
                         $timeout // T(5));
    my @open = grep { $_->{event} eq 'console_open'
                      && ($_->{json}{console} // '') eq $who } @{$sse->{events}};
    my @closes = grep { $_->{event} eq 'console_close'
                        && ($_->{json}{console} // '') eq $who } @{$sse->{events}};
    return ($open[0] && $open[0]{json}, $close && $close->{json},
            scalar(@open), scalar(@closes));
}

my %bytes;     # front door => [to device, to console] of the sessions here

# --- SOCKS5: the console closes; both devices, so both paths run -------------

for my $i (1, 2, 1, 2) {
    my $mark = $t->log_mark;
    my ($s, $rep) = socks5_open($px, guid($i), 16992, user => 'admin',
                                pass => 'P@ssw0rd');
    is($rep, 0, "socks5 dev$i: open");
    next unless $s;
    my $cport = $s->sockport;
    my $req = wsman_request(0);
    send_all($s, $req);
    my $answer = read_answer($s);
    like($answer, qr/IdentifyResponse/, "socks5 dev$i: Identify answered");
    sleep(0.3);
    close $s;

    my ($o, $c, $no, $nc) = session_events($cport);
    ok($o, "socks5 dev$i: console_open") or next;
    is($o->{guid}, guid($i), '... the device GUID');
    is($o->{fqdn}, fqdn($i), '... its name');
    is($o->{port}, 16992, '... the port');
    is($o->{front_door}, 'socks5', '... the front door');
    is($o->{user}, 'admin', '... the console user');
    ok($c, "socks5 dev$i: console_close") or next;
    is($c->{reason}, 'console_closed', '... the console closed it');
    is($c->{bytes_to_device}, length $req, '... bytes to the device: the request');
    is($c->{bytes_to_console}, length $answer, '... bytes to the console: the answer');
    cmp_ok($c->{duration_ms}, '>=', 250, '... its duration');
    is($c->{user}, 'admin', '... the user again');
    cmp_ok($c->{id}, '>', $o->{id}, '... after the open');
    sleep(0.3);
    sse_pump($sse, 0.1);
    (undef, undef, $no, $nc) = session_events($cport, 0.1);
    is("$no/$nc", '1/1', '... one open and one close, no more');
    $bytes{socks5}[0] += length $req;
    $bytes{socks5}[1] += length $answer;

    my $g = guid($i);
    ok($t->wait_for_log(qr/\[notice\].*console session opened: device \Q$g\E "\Q${\fqdn($i)}\E" port 16992 via socks5 from 127\.0\.0\.1:$cport, user "admin"/, T(3), $mark),
       '... a notice line at the open');
    ok($t->wait_for_log(qr/\[notice\].*console session closed \(console_closed\): device \Q$g\E .* from 127\.0\.0\.1:$cport, user "admin", ${\length $req} bytes to the device, ${\length $answer} to the console, \d+\.\d{3} s/, T(3), $mark),
       '... and at the close, with the bytes and the duration');
}

# --- CONNECT by name: the device closes (Connection: close) ------------------

for my $i (1, 2) {
    my ($s, $st) = connect_open($px, fqdn($i) . ':16992', auth => 'admin:P@ssw0rd');
    is($st, 200, "connect dev$i: open");
    next unless $s;
    my $cport = $s->sockport;
    my $req = wsman_request(1);
    send_all($s, $req);
    my ($answer, $eof) = read_to_eof($s, T(5), 1 << 20);
    ok($eof == 1, "connect dev$i: the device closed after its answer");
    my ($o, $c) = session_events($cport);
    ok($o && $c, "connect dev$i: console_open and console_close") or next;
    is($o->{front_door}, 'connect', '... front door connect');
    is($o->{guid}, guid($i), '... the GUID of the device named by name');
    is($c->{reason}, 'device_closed', '... the device closed it');
    is($c->{bytes_to_device}, length $req, '... bytes to the device');
    is($c->{bytes_to_console}, length $answer, '... bytes to the console');
    close $s;
    $bytes{connect}[0] += length $req;
    $bytes{connect}[1] += length $answer;
}

# --- idle past fcfh_proxy_idle_timeout ---------------------------------------

{
    my ($s, $rep) = socks5_open($px, fqdn(2), 16992, user => 'admin',
                                pass => 'P@ssw0rd');
    is($rep, 0, 'idle session: open');
    my $cport = $s ? $s->sockport : 0;
    my ($o, $c) = session_events($cport, T(6));
    ok($c, 'idle session: console_close without the console doing anything');
    is($c && $c->{reason}, 'timeout', '... reason timeout');
    is($c && $c->{bytes_to_device}, 0, '... nothing carried');
    cmp_ok($c && $c->{duration_ms}, '>=', 1400, '... after the idle timeout');
    close $s if $s;
}

# --- fcfh_pass: one keep-alive connection, one session, two requests ---------

{
    my $mark = $t->log_mark;
    my $s = tcp_connect($pass);
    my $cport = $s->sockport;
    my $auth = 'Proxy-Authorization: Basic ' . MIME::Base64::encode_base64('admin:P@ssw0rd', '') . "\r\n";
    my $url = 'http://' . guid(1) . ':16992/wsman';
    my $req = "POST $url HTTP/1.1\r\nHost: " . guid(1) . ":16992\r\n$auth"
            . "Content-Type: application/soap+xml;charset=UTF-8\r\n"
            . 'Content-Length: ' . length($identify) . "\r\n\r\n$identify";
    my @answers;
    for (1, 2) {
        send_all($s, $req);
        push @answers, read_answer($s);
    }
    like($answers[1], qr{^HTTP/1\.1 200 .*IdentifyResponse}s, 'pass: two answers on one connection');
    sleep(0.2);
    my ($o) = session_events($cport, 0.5);
    ok($o, 'pass: console_open');
    is($o && $o->{front_door}, 'http', '... front door http');
    is($o && $o->{user}, 'admin', '... the console user');
    close $s;
    my ($o2, $c, $no, $nc) = session_events($cport);
    ok($c, 'pass: console_close when the console connection ends');
    is($c && $c->{reason}, 'console_closed', '... console closed');
    is("$no/$nc", '1/1', '... one session for both requests (the kept channel)');
    # the device's answers as the channel carried them: their bodies at least
    cmp_ok($c && $c->{bytes_to_device}, '>=', 2 * length $identify, '... both requests counted');
    cmp_ok($c && $c->{bytes_to_console}, '>', 2 * 400, '... both answers counted');
    ok($t->wait_for_log(qr/console session closed \(console_closed\): device \Q${\guid(1)}\E "dev0\.example\.test" port 16992 via http from 127\.0\.0\.1:$cport, user "admin"/, T(3), $mark),
       '... and its log line');
    $bytes{http} = [$c->{bytes_to_device}, $c->{bytes_to_console}] if $c;
}

# --- refusals: no session, no event; the log and the counter as before --------

{
    my $n0 = grep { $_->{event} =~ /^console_/ } @{$sse->{events}};
    my $mark = $t->log_mark;
    my (undef, $rep) = socks5_open($px, 'nosuch.example.test', 16992, user => 'admin',
                                   pass => 'P@ssw0rd');
    is($rep, 4, 'unknown device: SOCKS5 REP 04');
    my (undef, $st) = connect_open($px, guid(1) . ':16995', auth => 'admin:P@ssw0rd');
    is($st, 403, 'port the device did not register: 403');
    ok($t->wait_for_log(qr/console request for nosuch\.example\.test:16992 refused: no such device/, T(3), $mark),
       'refusal logged');
    sse_pump($sse, 0.5);
    my $n1 = grep { $_->{event} =~ /^console_/ } @{$sse->{events}};
    is($n1, $n0, 'refusals emit no console event');
}

# --- metrics -------------------------------------------------------------------

my ($st, undef, $m) = http_get($ops, '/metrics');
is($st, 200, 'metrics');
sub metric { my ($re) = @_; $m =~ /^$re (\d+)$/m ? $1 : undef }
is(metric(qr/fcfh_console_sessions_total\{front_door="socks5"\}/), 5, 'sessions: socks5 5');
is(metric(qr/fcfh_console_sessions_total\{front_door="connect"\}/), 2, 'sessions: connect 2');
is(metric(qr/fcfh_console_sessions_total\{front_door="http"\}/), 1, 'sessions: http 1');
is(metric(qr/fcfh_console_sessions_open/), 0, 'none open now');
for my $fd (qw(socks5 connect http)) {
    is(metric(qr/fcfh_console_to_device_bytes_total\{front_door="$fd"\}/), $bytes{$fd}[0],
       "$fd: bytes to the devices as in the events");
    is(metric(qr/fcfh_console_to_console_bytes_total\{front_door="$fd"\}/), $bytes{$fd}[1],
       "$fd: bytes to the consoles as in the events");
}
like($m, qr/^fcfh_console_requests_total\{result="unknown_device"\} 1$/m,
     'the refusals are counted as requests, as before');

# --- the device goes away mid-session ----------------------------------------

{
    my ($s, $rep) = socks5_open($px, guid(1), 16992, user => 'admin',
                                pass => 'P@ssw0rd');
    is($rep, 0, 'last session: open');
    my $cport = $s ? $s->sockport : 0;
    sleep(0.2);
    $t->stop_sim($sim);
    my ($o, $c) = session_events($cport, T(8));
    ok($c, 'the devices gone: the session closes');
    like($c && $c->{reason}, qr/^(tunnel_gone|device_closed)$/,
         '... on the device\'s side (tunnel_gone on a local channel, '
         . 'device_closed through the relay)');
    close $s if $s;
}

$t->done_testing;
