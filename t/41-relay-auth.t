#!/usr/bin/perl
# The relay between workers trusts nobody for being the workers' user:
# - a process of another uid cannot reach a device through a worker's
#   relay socket, whatever the directory's mode;
# - a process of the same uid (root here, like the workers) that writes
#   its own preamble -- version 1, or version 2 with a zero or wrong MAC --
#   is refused: no status, no CHANNEL_OPEN to the device, a log line with
#   its pid and uid, relay_errors counted, and the tunnel stays up;
# - the secret survives a reload: a console in a new worker still reaches
#   the old worker's tunnel;
# - the owner refuses a port that no front door of its configuration
#   allows (623 here), even when the front door that relayed allows it;
# - a front door sends nothing to a socket that is not held by the worker
#   the registry names (the file replaced by another process).
use strict;
use warnings;
use Test::More;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use File::Temp qw(tempdir);
use POSIX ();
use JSON::PP;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $t = FcfhTest->new;

# the relay directory in /tmp: a process of another uid can reach it once
# its mode allows, while the test prefix (0700) is out of its way
my $dir = tempdir('fcfh-relay-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub conf {
    my ($ports) = @_;
    my $c = std_config(workers => 1, idle => '120s',
        stream => "server { listen 127.0.0.1:%%PORT_3%%; fcfh_proxy; $ports }",
        http => 'server { listen 127.0.0.1:%%PORT_4%%;
                          location /api/ { fcfh_api; } }');
    $c =~ s{fcfh_relay_dir \S+;}{fcfh_relay_dir $dir;};
    return $c;
}

$t->write_config(conf(''));
$t->run;

my $G = '00000000-0000-4000-8000-0000000000f5';
my $dev = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$dev->handshake($G, 'admin', 'P@ssw0rd', [16992, 623], 'relay.example.test');
ok($dev->{established}, 'device up, forwarding 16992 and 623');

my $doc = wait_status($t->port(2), sub { find_tunnel($_, $G) }, T(3));
my $owner = (find_tunnel($doc, $G) // {})->{owner_pid} // 0;
my $sock = "$dir/$owner.sock";
ok(-S $sock, "worker $owner listens on its relay socket");

sub stats {
    my ($st, $h, $body) = http_request($t->port(4), 'GET', '/api/stats');
    return eval { JSON::PP->new->decode($body // '') } // {};
}

# CHANNEL_OPENs the device got within $secs (each refused at once)
sub opens_within {
    my ($secs) = @_;
    my @open;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $m = $dev->read_msg($deadline - time) or last;
        next unless $m->{type} == CHANNEL_OPEN;
        push @open, $m;
        $dev->send(channel_failure($m->{sender}, 2));
    }
    return @open;
}

sub pad { my ($s, $n) = @_; $s . ("\0" x ($n - length $s)) }

# the preamble as the module sent it before the MAC (version 1, 96 bytes),
# serial 0 (any tunnel of that device), a console address of our choice
sub preamble_v1 {
    my ($port) = @_;
    return "FCFH\x01\x01" . pack('n', $port) . guid_to_wire($G) . "\0" x 8
         . pack('n', 4444) . "\0\0" . pad('203.0.113.66', 60);
}

sub preamble_v2 {
    my ($port, $mac) = @_;
    return "FCFH\x02\x01" . pack('n', $port) . guid_to_wire($G) . "\0" x 8
         . pack('n', 4444) . "\0\0" . pad('203.0.113.66', 60) . $mac;
}

# writes a preamble to the socket (and half-closes it when asked):
# 'denied: ...' (no connection), 'closed' (EOF without a status),
# 'no answer' (neither within 3 s) or 'answered <hex>'
sub try_preamble {
    my ($path, $pre, $shut) = @_;
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path)
        or return "denied: $!";
    syswrite($s, $pre);
    shutdown($s, 1) if $shut;
    my ($got, $eof) = read_to_eof($s, T(3), 16);
    close $s;
    return 'answered ' . unpack('H*', $got) if length $got;
    return $eof ? 'closed' : 'no answer';
}

# runs $code in a child with uid and gid 65534 and no groups
sub as_nobody {
    my ($code) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        $) = '65534 65534';
        POSIX::setgid(65534);
        POSIX::setuid(65534);
        my $res = ($< == 65534 && $> == 65534 && $( == 65534)
                  ? $code->() : 'still privileged';
        print $w $res;
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    my $res = do { local $/; <$r> } // '';
    waitpid($pid, 0);
    return $res;
}

# --- (a) another uid ---------------------------------------------------------

{
    my $before = stats()->{relay_errors} // 0;

    my $res = as_nobody(sub { try_preamble($sock, preamble_v2(16992, "\0" x 32)) });
    like($res, qr/^(denied|closed)/, "uid 65534, private directory: refused ($res)");

    # a directory and socket others may use: the worker's uid check
    my $mark = $t->log_mark;
    chmod 0711, $dir;
    chmod 0777, $sock;
    $res = as_nobody(sub { try_preamble($sock, preamble_v2(16992, "\0" x 32)) });
    chmod 0700, $dir;
    is($res, 'closed', 'uid 65534, open directory: closed without a status');
    ok($t->wait_for_log(qr/\[warn\].*relay connection from pid \d+ uid 65534 refused/,
                        T(3), $mark),
       '... logged at warn with its pid and uid');
    is(scalar opens_within(T(1)), 0, '... and the device saw no CHANNEL_OPEN');
    is((stats()->{relay_errors} // 0) - $before, 1, '... counted in relay_errors');
}

# --- (b) the same uid, hand-made preambles ------------------------------------

{
    my $before = stats()->{relay_errors} // 0;
    my $mark = $t->log_mark;
    my @cases = (
        [ 'version 1 (no MAC)',            preamble_v1(16992) ],
        [ 'version 1 to port 623',         preamble_v1(623) ],
        [ 'version 2, zero MAC',           preamble_v2(16992, "\0" x 32) ],
        [ 'version 2, made-up MAC',        preamble_v2(16992, join '', map { chr int rand 256 } 1 .. 32) ],
        [ 'version 2 to port 623, made-up MAC', preamble_v2(623, "\xa5" x 32) ],
        [ 'version 2 without its MAC',     preamble_v2(16992, '') ],
    );
    for my $c (@cases) {
        my ($name, $pre) = @$c;
        # one stops short: the worker waits, then sees our EOF
        my $res = try_preamble($sock, $pre, length $pre < 128);
        is($res, 'closed', "$name: closed without a status");
        my @o = opens_within(T(1));
        is(scalar @o, 0, "$name: no CHANNEL_OPEN reached the device")
            or diag(explain($o[0]));
    }
    my $log = substr($t->error_log, $mark);
    my $n = () = $log =~ /\[error\].*relay preamble from pid $$ uid 0 refused/g;
    is($n, scalar @cases, 'each refusal logged at error with our pid and uid');
    like($log, qr/refused: another preamble version/, '... version 1 named');
    like($log, qr/refused: wrong MAC/, '... a wrong MAC named');
    is((stats()->{relay_errors} // 0) - $before, scalar @cases,
       '... and counted in relay_errors');
    ok($dev->ping(11, T(3)), 'the tunnel is still up');
}

# --- (c) a reload: new front door, old owner -----------------------------------

# the new configuration's front door allows 623; the old worker's did not
$t->write_config(conf('fcfh_proxy_ports 16992 623;'));
ok($t->reload, 'reload (fcfh_proxy_ports 16992 623)');
ok(FcfhTest::pid_alive($owner), "worker $owner keeps the tunnel");
my ($new) = $t->worker_pids;
isnt($new, $owner, "a new worker $new takes the consoles");

# SOCKS5 to the device: (console socket, REP, the CHANNEL_OPEN the device
# got and confirmed, if any)
sub socks_through {
    my ($port) = @_;
    my $s = socks5_begin($t->port(3), $G, $port) or return;
    my $m;
    my $deadline = time + T(2);
    while (my $x = $dev->read_msg($deadline - time)) {
        if ($x->{type} == CHANNEL_OPEN) { $m = $x; last }
    }
    $dev->send(channel_confirm($m->{sender}, 77, 65536)) if $m;
    my ($rep) = socks5_finish($s, T(5));
    return ($s, $rep, $m);
}

{
    my $mark = $t->log_mark;
    my ($s, $rep, $m) = socks_through(16992);
    ok($m && $m->{type} == CHANNEL_OPEN && $m->{connected_port} == 16992,
       'console in the new worker: the old worker opened the channel (same secret)');
    is($rep, 0, '... SOCKS5 REP 00');
    send_all($s, 'ping') if $s;
    my $data = '';
    while (my $x = $dev->read_msg(T(3))) {
        if ($x->{type} == CHANNEL_DATA) { $data .= $x->{data}; last if length $data >= 4 }
    }
    is($data, 'ping', '... and carries data');
    close $s if $s;
    unlike(substr($t->error_log, $mark), qr/relay preamble .* refused/,
           '... no refusal logged');
}

{
    my $mark = $t->log_mark;
    my ($s, $rep, $m) = socks_through(623);
    is($m, undef, 'port 623 allowed by the new front door: no CHANNEL_OPEN')
        or diag(explain($m));
    is($rep, 2, '... the old owner refused it: SOCKS5 REP 02');
    close $s if $s;
    ok($t->wait_for_log(qr/\[warn\].*relay from pid $new for port 623 refused: port not allowed/,
                        T(3), $mark), '... with a log line naming the port');
}

# --- (d) the socket file replaced by another process ----------------------------

{
    my $mark = $t->log_mark;
    my $before = stats()->{relay_errors} // 0;
    rename $sock, "$sock.real" or die "rename: $!";
    my $fake = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $sock, Listen => 5)
        or die "fake listener: $!";
    my $s = socks5_begin($t->port(3), $G, 16992);
    my ($rep) = $s ? socks5_finish($s, T(5)) : ();
    my $got = '';
    my $rin = '';
    vec($rin, fileno($fake), 1) = 1;
    if (select($rin, undef, undef, T(3))) {
        my $c = $fake->accept;
        ($got) = read_to_eof($c, T(3), 4096) if $c;
    }
    close $fake;
    unlink $sock;
    rename "$sock.real", $sock or die "rename back: $!";
    is(length($got // ''), 0, 'a socket held by another pid gets no preamble');
    ok(defined $rep && $rep != 0, "... the console is refused (REP " . ($rep // 'none') . ')');
    ok($t->wait_for_log(qr/\[error\].*relay socket "\Q$sock\E" is held by pid $$ uid 0, not by worker $owner/,
                        T(3), $mark), '... logged at error');
    is((stats()->{relay_errors} // 0) - $before, 1, '... counted in relay_errors');
    is(scalar opens_within(T(0.5)), 0, '... no CHANNEL_OPEN');
    close $s if $s;

    my ($s2, $rep2, $m2) = socks_through(16992);
    is($rep2, 0, 'the real socket back: the tunnel is reachable again');
    close $s2 if $s2;
}

# the old worker exits once its device left
$dev->close;
ok(wait_for(sub { !FcfhTest::pid_alive($owner) }, T(10)), "worker $owner exits after its device left");
ok(!-e $sock, '... unlinking its relay socket');

$t->done_testing;
