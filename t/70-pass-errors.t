#!/usr/bin/perl
# Every error fcfh_pass gives is one of its own, as its table in
# docs/directives.md says: text/plain, a one-line text, never nginx's HTML
# page.  The worker that owns the device's tunnel killed while a request
# waits for the answer (the console in the other worker), the device
# closing the channel before answering: 502 "channel closed before the
# device answered", and the console connection stays usable.  No answer
# within fcfh_pass_timeout: 504 "device did not answer in time".  A body
# over client_max_body_size, an allow/deny refusal: 413, 403 in the same
# format.  After the answer head: the console connection is closed short of
# the body.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '120s',
    http => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        location / { fcfh_pass; }
    }
    server {
        listen 127.0.0.1:%%PORT_4%%;
        location / { fcfh_pass_timeout 1s; fcfh_pass; }
    }
    server {
        listen 127.0.0.1:%%PORT_5%%;
        location / { client_max_body_size 16; fcfh_pass; }
    }
    server {
        listen 127.0.0.1:%%PORT_6%%;
        location / { deny all; fcfh_pass; }
    }'));
$t->allow_log(qr/worker process \d+ exited on signal 9/);
$t->run;

my $sport = $t->port(2);
my $CLOSED = 'channel closed before the device answered';

sub guid { sprintf '00000000-0000-4000-8000-0000000007%02x', $_[0] }

my $ndev = 0;

# a scripted device forwarding 16992; returns (device, guid, owner pid)
sub device {
    my $g = guid(++$ndev);
    my $d = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
    $d->handshake($g, 'admin', 'P@ssw0rd', [16992], "err$ndev.example.test");
    my $doc = wait_status($sport, sub { find_tunnel($_, $g) }, T(5));
    my $tun = find_tunnel($doc, $g);
    return ($d, $g, $tun ? $tun->{owner_pid} : 0);
}

# the worker holding the server side of a console connection to $port
sub conn_worker {
    my ($port, $s) = @_;
    my $want = sprintf '0100007F:%04X 0100007F:%04X', $port, $s->sockport;
    my $inode;
    for (1 .. 20) {
        open my $fh, '<', '/proc/net/tcp' or return 0;
        while (<$fh>) {
            my @f = split;
            $inode = $f[9] if "$f[1] $f[2]" eq $want;
        }
        last if $inode;
        sleep 0.05;
    }
    return 0 unless $inode;
    for my $pid ($t->worker_pids) {
        opendir my $d, "/proc/$pid/fd" or next;
        for (readdir $d) {
            my $l = readlink "/proc/$pid/fd/$_" // next;
            return $pid if $l eq "socket:[$inode]";
        }
    }
    return 0;
}

# a console connection to $port accepted by a worker other than $pid
sub console_elsewhere {
    my ($port, $pid) = @_;
    my @kept;
    for (1 .. 40) {
        my $s = IO::Socket::INET->new("127.0.0.1:$port") or next;
        my $w = conn_worker($port, $s);
        return $s if $w && $w != $pid;
        push @kept, $s;        # held, so that the next one may land elsewhere
    }
    return;
}

my $next_id = 700;

# the device confirms the next channel open and reads the request on it;
# returns (the gateway's channel id, the request)
sub take_request {
    my ($d) = @_;
    my ($ch, $mine, $req) = (undef, 0, '');
    while (my $m = $d->read_msg(T(5))) {
        if ($m->{type} == CHANNEL_OPEN && !defined $ch) {
            $ch = $m->{sender};
            $mine = ++$next_id;
            $d->send(channel_confirm($ch, $mine, 65536));
        } elsif ($m->{type} == CHANNEL_DATA && $m->{recipient} == $mine) {
            $req .= $m->{data};
            last if $req =~ /\r\n\r\n(.*)/s && length($1) >= 4;
        }
    }
    return ($ch, $req);
}

# one response: (status, lowercased headers, body, whether the connection
# was closed)
sub read_response {
    my ($s, $timeout) = @_;
    my ($buf, $eof) = ('', 0);
    my $deadline = time + ($timeout // T(10));
    while (time < $deadline) {
        if ($buf =~ /^(.*?\r\n\r\n)/s) {
            my ($head, $hlen) = ($1, length $1);
            last if $head =~ /\r\nContent-Length: (\d+)\r\n/i
                    && length($buf) >= $hlen + $1;
        }
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        select($rin, undef, undef, 0.1) or next;
        my $n = sysread($s, $buf, 65536, length $buf);
        unless ($n) { $eof = 1; last }
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($st) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my %h;
    for (split /\r\n/, $head // '') { $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
    return ($st // 0, \%h, $body // '', $eof);
}

# the answer is the module's: status, text/plain, exactly the text
sub is_ours {
    my ($what, $st, $h, $body, $want_st, $want_text) = @_;
    is($st, $want_st, "$what: $want_st");
    like($h->{'content-type'} // '', qr{^text/plain\b}, "$what: text/plain");
    is($body, $want_text, "$what: \"$want_text\", not nginx's page");
    is($h->{'content-length'}, length $want_text, "$what: its length");
}

my $post = sub {
    my ($g) = @_;
    "POST http://$g:16992/wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd";
};

# --- the worker owning the tunnel dies while the request waits ---------------

my ($d1, $g1, $owner1) = device();
ok($owner1, "device 1 up, its tunnel owned by worker $owner1");
my $c1 = console_elsewhere($t->port(3), $owner1);
ok($c1, 'a console connection in the other worker');
print $c1 $post->($g1);
my ($ch1, $req1) = take_request($d1);
like($req1, qr{^POST /wsman HTTP/1\.1\r\n.*\r\n\r\nabcd$}s,
     'the request reached the device');
ok(kill('KILL', $owner1), "owner worker $owner1 killed mid-request");
my @r = read_response($c1);
is_ours('owner worker killed before the answer', @r[0 .. 2], 502, $CLOSED);
ok(!$r[3], '... and the console connection stays open');

# the same connection's next request is answered as usual: the device's
# tunnel went with its worker (the relay to the dead worker is refused)
print $c1 "GET http://$g1:16992/wsman HTTP/1.1\r\nHost: x\r\n\r\n";
@r = read_response($c1);
is_ours('next request on that connection, for the same device', @r[0 .. 2],
        404, 'unknown device');
close $c1;
ok(wait_for(sub { $t->worker_pids == 2 }, T(10)), 'the killed worker respawned');

# --- the device closes the channel before answering ---------------------------

my ($d2, $g2) = device();
my $c2 = IO::Socket::INET->new('127.0.0.1:' . $t->port(3));
print $c2 $post->($g2);
my ($ch2, $req2) = take_request($d2);
ok(defined $ch2, 'channel open confirmed');
$d2->send(channel_close($ch2));
@r = read_response($c2);
is_ours('device closed the channel before answering', @r[0 .. 2], 502, $CLOSED);
ok(!$r[3], '... and the console connection stays open');
close $c2;

# --- no answer within fcfh_pass_timeout --------------------------------------

my $c3 = IO::Socket::INET->new('127.0.0.1:' . $t->port(4));
print $c3 $post->($g2);
my ($ch3) = take_request($d2);
ok(defined $ch3, 'channel open confirmed, no answer follows');
@r = read_response($c3, T(10));
is_ours('no answer in fcfh_pass_timeout', @r[0 .. 2], 504,
        'device did not answer in time');
close $c3;

# --- refusals of other modules in the location -------------------------------

my $c4 = IO::Socket::INET->new('127.0.0.1:' . $t->port(5));
print $c4 "POST http://$g2:16992/wsman HTTP/1.1\r\nHost: x\r\n"
          . "Content-Length: 64\r\n\r\n" . ('x' x 64);
@r = read_response($c4);
is_ours('body over client_max_body_size', @r[0 .. 2], 413,
        'request body too large');
close $c4;

my $c5 = IO::Socket::INET->new('127.0.0.1:' . $t->port(6));
print $c5 "GET http://$g2:16992/wsman HTTP/1.1\r\nHost: x\r\n\r\n";
@r = read_response($c5);
is_ours('deny all', @r[0 .. 2], 403, 'forbidden');
close $c5;

# HEAD: the same head, no body
my $c6 = IO::Socket::INET->new('127.0.0.1:' . $t->port(6));
print $c6 "HEAD http://$g2:16992/wsman HTTP/1.1\r\nHost: x\r\n\r\n";
my $raw = '';
my $deadline = time + T(5);
while (time < $deadline && $raw !~ /\r\n\r\n/) {
    my $rin = ''; vec($rin, fileno($c6), 1) = 1;
    select($rin, undef, undef, 0.1) or next;
    sysread($c6, $raw, 65536, length $raw) or last;
}
like($raw, qr{^HTTP/1\.1 403 .*\r\nContent-Type: text/plain\r\n}s,
     'HEAD refused: 403, text/plain');
like($raw, qr{\r\nContent-Length: 9\r\n}, '... with the length of "forbidden"');
close $c6;

# --- after the answer head: the console connection is closed ------------------

# the device closes the channel after 10 of 100 bytes
my $c7 = IO::Socket::INET->new('127.0.0.1:' . $t->port(3));
print $c7 $post->($g2);
my ($ch7) = take_request($d2);
$d2->send(channel_data($ch7, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                             . '0123456789'));
sleep 0.3;
$d2->send(channel_close($ch7));
@r = read_response($c7);
is($r[0], 200, 'channel closed after the head: the device\'s 200 went out');
is($r[2], '0123456789', '... the 10 bytes that came');
ok($r[3], '... then the console connection is closed, short of its length');
close $c7;

# the owner worker dies after the head (chunked to the console)
my ($d8, $g8, $owner8) = device();
my $c8 = console_elsewhere($t->port(3), $owner8);
ok($c8, "a console connection outside worker $owner8");
print $c8 $post->($g8);
my ($ch8) = take_request($d8);
$d8->send(channel_data($ch8, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             . "5\r\nhello\r\n"));
sleep 0.3;
ok(kill('KILL', $owner8), "owner worker $owner8 killed after the head");
@r = read_response($c8);
is($r[0], 200, 'owner killed after the head: the device\'s 200 went out');
ok($r[3], '... then the console connection is closed');
unlike($r[2], qr/\r\n0\r\n\r\n\z/, '... without a last chunk');

$t->done_testing;
