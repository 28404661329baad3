#!/usr/bin/perl
# The console failure table, with raw SOCKS5 / CONNECT clients and scripted
# APF devices: unknown device, port not allowed, port not registered, device
# refused, too many channels, device did not answer (10 s, once), console
# leaving before the device answered, the device closing the channel or the
# whole tunnel mid-transfer, the console hanging up mid-transfer.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '120s', stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }
    server {
        listen 127.0.0.1:%%PORT_5%% ssl;
        ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        fcfh_tunnel;
        fcfh_auth_file %%CERTS%%/devices.htpasswd;
        fcfh_idle_timeout 120s;
        fcfh_max_channels 1;
    }'));
$t->run;
my ($sport, $px) = ($t->port(2), $t->port(3));

my %G = (a => '00000000-0000-4000-8000-000000000a01',     # 16992 only: most cases
         t => '00000000-0000-4000-8000-000000000b01',     # never answers (timeout)
         l => '00000000-0000-4000-8000-000000000c01',     # max_channels 1
         x => '00000000-0000-4000-8000-000000000d01',     # tunnel dies mid-transfer
         sim => '00000000-0000-4000-8000-000000000001');  # simulator (BULK)
my %F = (a => 'a.example.test', t => 't.example.test', l => 'l.example.test',
         x => 'x.example.test');

sub device {
    my ($k, $port) = @_;
    my $c = FcfhApf->connect($port // $t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
    my $got = $c->handshake($G{$k}, 'admin', 'P@ssw0rd', [16992], $F{$k});
    ok($c->{established}, "device $k: handshake") or diag(explain $got);
    return $c;
}

# next message of a type (keepalives etc. skipped)
sub next_msg {
    my ($c, $type, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (my $m = $c->read_msg($deadline - time)) {
        return $m if $m->{type} == $type;
        $c->send(keepalive_reply($m->{cookie})) if $m->{type} == KEEPALIVE_REQUEST;
    }
    return;
}

# the path a console took: "local" or "relay" (from the "channel ... open" / refusal lines)
sub worker_of { my ($line) = @_; $line && $line =~ /\] (\d+)#/ ? $1 : 0 }

my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--quiet');
my $A = device('a');
my $T = device('t');
my $L = device('l', $t->port(5));
my $X = device('x');
ok(wait_status($sport, sub { ($_->{total} // 0) == 5 }, T(10)), 'five tunnels up')
    or diag(explain $FcfhTest::LAST_STATUS);

# every refusal: an info line naming the console and the target
sub refusal_logged {
    my ($mark, $target, $port, $name) = @_;
    my $line = $t->wait_for_log(qr/\[info\].*client: 127\.0\.0\.1\b.*\Q$target\E:$port|\[info\].*\Q$target\E:$port.*client: 127\.0\.0\.1\b/i,
                                T(3), $mark);
    ok($line, "$name: info line naming the console and $target:$port") or diag(substr($t->error_log, $mark));
    return $line;
}

sub socks_case {
    my ($name, $host, $port, $want_rep, %o) = @_;
    my $mark = $t->log_mark;
    my ($s, $rep, $all, $raw) = socks5_open($px, $host, $port);
    is($rep, $want_rep, "$name: SOCKS5 REP " . sprintf('%02x', $want_rep))
        or diag(hexs($all) . " $FcfhConsole::ERROR");
    is(hexs(substr($all, 2)), sprintf('05 %02x 00 01 00 00 00 00 00 00', $want_rep),
       "$name: reply is 05 REP 00 01 0.0.0.0:0");
    ok($raw && wait_eof($raw, T(3)), "$name: closed after the reply");
    refusal_logged($mark, $host, $port, "$name (SOCKS5)");
}

sub connect_case {
    my ($name, $host, $port, $want, $text) = @_;
    my $mark = $t->log_mark;
    my (undef, $st, $head, $body) = connect_open($px, "$host:$port");
    is($st, $want, "$name: CONNECT $want") or diag($head . $body);
    is($body, "$text\n", "$name: body is the line \"$text\"");
    refusal_logged($mark, $host, $port, "$name (CONNECT)");
}

# --- device did not answer: started first, checked at the end (10 s) -----------

my $t0 = time;
# three of each at once (no extra time), so that with 2 workers some go
# through the relay and some not
my $tmark = $t->log_mark;
my @ts = map { socks5_begin($px, $G{t}, 16992) } 1 .. 3;
my @tc = map { connect_begin($px, "$F{t}:16992") } 1 .. 3;
my @topen = grep { defined } map { next_msg($T, CHANNEL_OPEN, T(5)) } 1 .. 6;
is(scalar @topen, 6, 'timeout device: all six channel opens arrived (and stay unanswered)');
is(scalar(grep { defined } @ts, @tc), 6, 'timeout consoles: all six requests sent');

# --- unknown device, port not allowed, port not registered -----------------------

socks_case('unknown device', '00000000-0000-4000-8000-0000000000ff', 16992, 4);
socks_case('unknown device by name', 'nosuch.example.test', 16992, 4);
connect_case('unknown device', '00000000-0000-4000-8000-0000000000ff', 16992, 404, 'unknown device');
connect_case('unknown device by name', 'nosuch.example.test', 16993, 404, 'unknown device');
socks_case('port not allowed', $G{a}, 8080, 2);
connect_case('port not allowed', $F{a}, 22, 403, 'port not allowed');
# a device registering its ports (AMT sends one forward at a time) is not
# there yet for a port it has not forwarded: "unreachable", not "refused"
my $late = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$late->handshake('00000000-0000-4000-8000-000000000b7e', 'admin', 'P@ssw0rd', [16992],
                 'late.example.test');
socks_case('port not registered yet', '00000000-0000-4000-8000-000000000b7e', 16993, 4);
connect_case('port not registered yet', 'late.example.test', 16993, 404, 'unknown device');
# once its forwards have settled (2 s), the same is a refusal
sleep 2.2;
socks_case('port not registered', $G{a}, 16993, 2);
connect_case('port not registered', $F{a}, 16993, 403, 'port not registered by the device');
socks_case('port not registered after the forwards settled',
           '00000000-0000-4000-8000-000000000b7e', 16993, 2);
$late->close;

# none of these reached the device
$A->send(keepalive_request(1));
my $m = $A->read_msg(T(3));
is($m && $m->{type}, KEEPALIVE_REPLY, 'device a saw no channel open for those (next message is the keepalive reply)')
    or diag(explain $m);

# --- device refused ---------------------------------------------------------------

for my $proto (qw(socks connect socks connect)) {
    my $mark = $t->log_mark;
    my $s = $proto eq 'socks' ? socks5_begin($px, $G{a}, 16992) : connect_begin($px, "$F{a}:16992");
    my $o = next_msg($A, CHANNEL_OPEN, T(5));
    ok($o, "refused/$proto: device got CHANNEL_OPEN");
    next unless $o;
    is($o->{channel_type}, 'forwarded-tcpip', "refused/$proto: type forwarded-tcpip");
    is($o->{connected_port}, 16992, "refused/$proto: connected_port 16992");
    is($o->{originator_addr}, '127.0.0.1', "refused/$proto: originator is the console address");
    is($o->{originator_port}, $s->sockport, "refused/$proto: originator port is the console's");
    $A->send(channel_failure($o->{sender}, 2));
    if ($proto eq 'socks') {
        my ($rep, $got) = socks5_finish($s, T(5));
        is($rep, 5, 'refused/socks: REP 05') or diag(hexs($got));
        ok(wait_eof($s, T(3)), 'refused/socks: closed');
    } else {
        my ($st, $head, $body) = connect_finish($s, T(5));
        is($st, 502, 'refused/connect: 502') or diag($head);
        is($body, "device refused the channel\n", 'refused/connect: body');
    }
    my $line = refusal_logged($mark, $proto eq 'socks' ? $G{a} : $F{a}, 16992, "refused/$proto");
    diag("refused/$proto: served by worker " . worker_of($line));
}

# --- too many channels (fcfh_max_channels 1) ------------------------------------------

{
    my $s1 = socks5_begin($px, $G{l}, 16992);
    my $o = next_msg($L, CHANNEL_OPEN, T(5));
    ok($o, 'limit: first channel open reached the device');
    $L->send(channel_confirm($o->{sender}, 7, 32768)) if $o;
    my ($rep) = socks5_finish($s1, T(5));
    is($rep, 0, 'limit: first channel confirmed: success');

    socks_case('too many channels', $G{l}, 16992, 1);
    connect_case('too many channels', $F{l}, 16992, 503, 'too many channels to the device');
    $L->send(keepalive_request(2));
    $m = $L->read_msg(T(3));
    is($m && $m->{type}, KEEPALIVE_REPLY, 'limit: the refused opens never reached the device');

    # the first one still works both ways
    send_all($s1, 'ping');
    my $d = next_msg($L, CHANNEL_DATA, T(5));
    is($d && $d->{data}, 'ping', 'limit: first channel carries console data');
    is($d && $d->{recipient}, 7, 'limit: ... to the device channel id');
    $L->send(channel_data($o->{sender}, 'pong'));
    is(read_exact($s1, 4, T(5)), 'pong', 'limit: ... and device data');

    # closing it frees the slot. A console FIN may be a half close (the
    # device's answer must still reach it), so the gateway can only learn
    # that the console is gone once the device writes to it.
    close $s1;
    my $cl;
    for my $try (1 .. 6) {
        $L->send(channel_data($o->{sender}, "late $try"));
        last if $cl = next_msg($L, CHANNEL_CLOSE, T(1));
    }
    is($cl && $cl->{recipient}, 7, 'limit: console closed, device writes -> CHANNEL_CLOSE to the device');
    $L->send(channel_close($o->{sender}));
    my $s2 = socks5_begin($px, $G{l}, 16992);
    my $o2 = next_msg($L, CHANNEL_OPEN, T(5));
    ok($o2, 'limit: after the close a new channel may open');
    $L->send(channel_confirm($o2->{sender}, 8, 32768)) if $o2;
    ($rep) = socks5_finish($s2, T(5));
    is($rep, 0, 'limit: ... and is confirmed');
    close $s2;
    $cl = next_msg($L, CHANNEL_CLOSE, T(5));
    $L->send(channel_close($o2->{sender})) if $o2;
}

# --- console closes before the device answered ---------------------------------------

for my $proto (qw(socks connect socks connect)) {
    my $mark = $t->log_mark;
    my $s = $proto eq 'socks' ? socks5_begin($px, $G{a}, 16992) : connect_begin($px, "$F{a}:16992");
    my $o = next_msg($A, CHANNEL_OPEN, T(5));
    ok($o, "early close/$proto: device got CHANNEL_OPEN");
    next unless $o;
    close $s;
    # sync point: the front door noticed (the line is not what is tested)
    my $left = $t->wait_for_log(qr/console left before the device answered/, T(3), $mark);
    diag("early close/$proto: " . ($left ? 'noticed by worker ' . worker_of($left) : 'no "console left" line seen'));
    my $myid = 20;
    $A->send(channel_confirm($o->{sender}, $myid, 32768));
    my $cl = next_msg($A, CHANNEL_CLOSE, T(5));
    ok($cl, "early close/$proto: device gets CHANNEL_CLOSE after it confirmed");
    is($cl && $cl->{recipient}, $myid, "early close/$proto: ... for its channel id");
    # exactly once: nothing more for this channel
    $A->send(channel_close($o->{sender}));
    $A->send(keepalive_request(3));
    my @more;
    while (my $x = $A->read_msg(T(3))) { last if $x->{type} == KEEPALIVE_REPLY; push @more, $x }
    ok(!grep({ $_->{type} == CHANNEL_CLOSE || $_->{type} == CHANNEL_DATA } @more),
       "early close/$proto: no second CHANNEL_CLOSE or data") or diag(explain \@more);
    ok($A->ping(undef, T(3)), "early close/$proto: tunnel still answers keepalives");
}

# --- device closes the channel mid-transfer -------------------------------------------

for my $proto (qw(socks connect)) {
    my $s = $proto eq 'socks' ? socks5_begin($px, $G{a}, 16992) : connect_begin($px, "$F{a}:16992");
    my $o = next_msg($A, CHANNEL_OPEN, T(5));
    ok($o, "device close/$proto: open");
    next unless $o;
    $A->send(channel_confirm($o->{sender}, 30, 32768));
    my $ok = $proto eq 'socks' ? (socks5_finish($s, T(5)))[0] : (connect_finish($s, T(5)))[0];
    is($ok, $proto eq 'socks' ? 0 : 200, "device close/$proto: success reply");
    send_all($s, "hello");
    my $d = next_msg($A, CHANNEL_DATA, T(5));
    is($d && $d->{data}, 'hello', "device close/$proto: console bytes reach the device");
    my $chunk = join '', map { chr(65 + $_ % 26) } 0 .. 7999;
    $A->send(channel_data($o->{sender}, $chunk)) for 1 .. 3;
    is(read_exact($s, 8000, T(5)), $chunk, "device close/$proto: console reads the first 8000");
    $A->send(channel_close($o->{sender}));
    my ($rest, $eof) = read_to_eof($s, T(5));
    is(length $rest, 16000, "device close/$proto: the other 16000 bytes still arrive");
    ok($eof == 1, "device close/$proto: then EOF (not a reset)");
    my $cl = next_msg($A, CHANNEL_CLOSE, T(5));
    is($cl && $cl->{recipient}, 30, "device close/$proto: gateway answers CHANNEL_CLOSE once");
    close $s;
    ok($A->ping(undef, T(3)), "device close/$proto: tunnel still up");
}

# --- console hangs up mid-transfer (simulator, BULK 50000000) --------------------------

{
    my $st0 = $t->sim_stats($sim) // {};
    my ($s, $rep) = socks5_open($px, $G{sim}, 16992);
    is($rep, 0, 'hang-up: SOCKS5 to the simulated device');
    if ($s) {
        send_all($s, "BULK 50000000\n");
        my $got = read_exact($s, 1 << 20, T(10));
        is(length $got, 1 << 20, 'hang-up: first MiB arrived');
        ok(pattern_ok(0, $got), 'hang-up: pattern intact');
        close $s;
    }
    my $st = {};
    ok(wait_for(sub {
        $st = $t->sim_stats($sim) // {};
        ($st->{channels_closed} // 0) >= ($st->{channels_opened} // 0)
            && ($st->{channels_opened} // 0) > ($st0->{channels_opened} // 0) }, T(10), 0.2),
       'hang-up: the device saw its channel closed') or diag(explain $st);
    cmp_ok($st->{bytes_out} // 0, '<', ($st0->{bytes_out} // 0) + 20_000_000,
           'hang-up: the device stopped sending long before 50 MB');
    is($st->{established}, 1, 'hang-up: simulated tunnel still established');
    ($s, $rep) = socks5_open($px, $F{sim} // 'dev0.example.test', 16992);
    is($rep, 0, 'hang-up: a new console reaches the device');
    if ($s) {
        send_all($s, "BULK 100000\n");
        my ($data, $eof) = read_to_eof($s, T(10));
        ok(length($data) == 100000 && $eof && pattern_ok(0, $data), 'hang-up: BULK 100000 complete');
    }
    is($st->{window_violations}, 0, 'hang-up: no window violations');
}

# --- device did not answer: the 10 s case ----------------------------------------------

{
    my @reps;
    for my $s (@ts) { my ($rep, $got) = socks5_finish($s, T(14) - (time - $t0)); push @reps, $rep // 'none' }
    my $el = time - $t0;
    is("@reps", '6 6 6', sprintf('no answer: SOCKS5 REP 06 for each (after %.1fs)', $el));
    cmp_ok($el, '>=', 9, 'no answer: not before about 10 s');
    my (@st, @heads);
    for my $s (@tc) { my ($st, $head) = connect_finish($s, T(14) - (time - $t0)); push @st, $st // 'none'; push @heads, $head }
    is("@st", '504 504 504', 'no answer: CONNECT 504 for each') or diag(join "\n", @heads);
    ok(!grep({ !/^HTTP\/1\.1 504 / } @heads), 'no answer: status lines HTTP/1.1 504');
    refusal_logged($tmark, $G{t}, 16992, 'no answer (SOCKS5)');
    refusal_logged($tmark, $F{t}, 16992, 'no answer (CONNECT)');
    my %path;
    for (split /\n/, substr($t->error_log, $tmark)) {
        $path{$1}++ if /\] (\d+)#.*refused: device did not answer/;
    }
    my $owner = (find_tunnel(status_json($sport), $G{t}) // {})->{owner_pid} // 0;
    diag('no answer: refusals by worker ' . join(', ', map { "$_ x$path{$_}" . ($_ == $owner ? ' (owner)' : ' (relay)') } sort keys %path));
    # confirmations that come too late are closed again (and nothing breaks
    # when the tunnel later ends with those channels)
    my $id = 40;
    $T->send(channel_confirm($_->{sender}, $id++, 32768)) for @topen;
    my %closed;
    for (1 .. @topen) { my $cl = next_msg($T, CHANNEL_CLOSE, T(5)) or last; $closed{$cl->{recipient}}++ }
    is(join(' ', sort keys %closed), join(' ', 40 .. 39 + @topen),
       'no answer: each late confirmation is answered with one CHANNEL_CLOSE');
    ok($T->ping(undef, T(3)), 'no answer: tunnel still up');
    # end the tunnel while the device has not closed its side of those channels
    $T->close;
    ok(wait_status($sport, sub { !find_tunnel($_, $G{t}) }, T(5)), 'no answer: tunnel gone after the device left');
    my $w = $t->worker_pids;
    is($w, 2, 'no answer: both workers still running (no crash at tunnel end)');
}

# --- the device tunnel dies mid-transfer -------------------------------------------------

for my $proto (qw(socks connect)) {
    my $X2 = $proto eq 'socks' ? $X : device('x');
    wait_status($sport, sub { find_tunnel($_, $G{x}) }, T(5)) if $proto ne 'socks';
    my $s = $proto eq 'socks' ? socks5_begin($px, $G{x}, 16992) : connect_begin($px, "$F{x}:16992");
    my $o = next_msg($X2, CHANNEL_OPEN, T(5));
    ok($o, "tunnel dies/$proto: open");
    next unless $o;
    $X2->send(channel_confirm($o->{sender}, 1, 32768));
    my $ok = $proto eq 'socks' ? (socks5_finish($s, T(5)))[0] : (connect_finish($s, T(5)))[0];
    is($ok, $proto eq 'socks' ? 0 : 200, "tunnel dies/$proto: success reply");
    $X2->send(channel_data($o->{sender}, 'x' x 8000));
    is(length read_exact($s, 8000, T(5)), 8000, "tunnel dies/$proto: data flows");
    $X2->close;
    my ($rest, $eof) = read_to_eof($s, T(5));
    ok($eof, "tunnel dies/$proto: console gets EOF") or diag("eof=$eof, " . length($rest) . " more bytes");
    ok(wait_status($sport, sub { !find_tunnel($_, $G{x}) }, T(5)), "tunnel dies/$proto: tunnel gone");
    close $s;
}

ok($A->ping(undef, T(3)), 'device a still up at the end');

my @err = grep { /\[(error|crit|alert|emerg)\]/ } split /\n/, $t->error_log;
ok(!@err, 'no [error] or worse in the error log') or diag(join "\n", @err[0 .. ($#err < 19 ? $#err : 19)]);

$t->done_testing;
