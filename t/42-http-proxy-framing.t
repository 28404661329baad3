#!/usr/bin/perl
# fcfh_pass frames a device's answer strictly (RFC 9112 sections 5 and 6.3):
# conflicting or invalid Content-Length, Content-Length with
# Transfer-Encoding, a coding other than chunked, obs-fold, a bare CR and
# control bytes give the console a 502 "invalid answer from device", an
# [error] line naming the device and the reason, and a closed channel; the
# next request on the same console connection opens a fresh one.  Answers
# framed by length, chunked or by close still pass.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use IO::Socket::INET;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2,
    http => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        location / { fcfh_pass; }
        location /gateway-secret { internal; return 200 "gateway secret\n"; }
    }'));
$t->run;

my $sport = $t->port(2);
my $G = '00000000-0000-4000-8000-0000000000f1';

my $dev = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$dev->handshake($G, 'admin', 'P@ssw0rd', [16992], 'framing.example.test');
ok($dev->{established}, 'scripted device up');
ok(wait_status($sport, sub { find_tunnel($_, $G) }, T(5)), 'device registered');

my $next_id = 500;

# the console's next request on $s
sub ask {
    my ($s, $path) = @_;
    print $s "GET http://$G:16992$path HTTP/1.1\r\nHost: x\r\n\r\n";
}

# the device confirms the channel open, if one comes, and reads the request
# on the channel $ch (or the new one); returns ([gateway's channel id,
# ours], whether a channel was opened, the request)
sub take_request {
    my ($ch) = @_;
    my ($req, $opened) = ('', 0);
    while (my $m = $dev->read_msg(T(5))) {
        if ($m->{type} == CHANNEL_OPEN) {
            $ch = [$m->{sender}, ++$next_id];
            $opened = 1;
            $dev->send(channel_confirm($m->{sender}, $next_id, 65536));
        } elsif ($m->{type} == CHANNEL_DATA && $ch && $m->{recipient} == $ch->[1]) {
            $req .= $m->{data};
            last if $req =~ /\r\n\r\n/;
        }
    }
    return ($ch, $opened, $req);
}

# one HTTP/1.1 response from the console connection: by Content-Length,
# chunked, or until close
sub read_response {
    my ($s, $timeout) = @_;
    my $buf = '';
    my $deadline = time + ($timeout // T(5));
    while (time < $deadline) {
        if ($buf =~ /^(.*?\r\n\r\n)/s) {
            my $hlen = length $1;
            my $head = $1;
            last if $head =~ m{^HTTP/1\.\d (204|304) };
            if ($head =~ /\r\nContent-Length: (\d+)\r\n/i) {
                last if length($buf) >= $hlen + $1;
            } elsif ($head =~ /\r\nTransfer-Encoding: chunked\r\n/i) {
                last if $buf =~ /\r\n0\r\n\r\n\z/;
            }
        }
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        select($rin, undef, undef, 0.1) or next;
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    my ($st) = $buf =~ m{^HTTP/1\.\d (\d+)};
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    return ($st // 0, $head // '', $body // '');
}

sub dechunk {
    my ($b) = @_;
    my $out = '';
    while ($b =~ s/^([0-9a-f]+)\r\n//i) {
        my $n = hex $1;
        last unless $n;
        $out .= substr($b, 0, $n, '');
        $b =~ s/^\r\n//;
    }
    return $out;
}

# the gateway closes the channel toward the device: CHANNEL_CLOSE to ours
sub channel_closed {
    my ($ch) = @_;
    while (my $m = $dev->read_msg(T(5))) {
        next unless $m->{type} == CHANNEL_CLOSE && $m->{recipient} == $ch->[1];
        $dev->send(channel_close($ch->[0]));
        return 1;
    }
    return 0;
}

my $s = IO::Socket::INET->new('127.0.0.1:' . $t->port(3))
    or BAIL_OUT("console: $!");
my ($ch, $opened, $req, $st, $head, $body);

# --- answers that frame well ------------------------------------------------

ask($s, '/length');
($ch, $opened, $req) = take_request();
ok($opened, 'first request opens a channel');
like($req, qr{^GET /length HTTP/1\.1\r\n}, 'device gets the request');
$dev->send(channel_data($ch->[0], "HTTP/1.1 200 OK\r\nContent-Length:  005 \r\n"
                                  . "Content-Type: text/plain\r\n\r\nhello"));
($st, $head, $body) = read_response($s);
is($st, 200, 'Content-Length answer: 200');
is($body, 'hello', '... body relayed');
like($head, qr/\r\nContent-Length: 5(\r\n|$)/, '... length re-issued as nginx prints it');
is(() = $head =~ /Content-Length/gi, 1, '... once');

ask($s, '/chunked');
($ch, $opened, $req) = take_request($ch);
ok(!$opened, 'keep-alive: the next request reuses the channel');
$dev->send(channel_data($ch->[0], "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
                                  . "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
($st, $head, $body) = read_response($s);
is($st, 200, 'chunked answer: 200');
is(dechunk($body), 'hello world', '... de-chunked and re-framed');

ask($s, '/trickle');
($ch, $opened, $req) = take_request($ch);
ok(!$opened, 'the channel is kept after a chunked answer');
$dev->send(map { channel_data($ch->[0], $_) }
           split //, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
($st, $head, $body) = read_response($s);
ok($st == 200 && $body eq 'ok', 'an answer sent a byte per message: 200');

ask($s, '/close');
($ch, $opened, $req) = take_request($ch);
ok(!$opened, '... its channel kept too');
$dev->send(channel_data($ch->[0], "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbye"),
           channel_close($ch->[0]));
($st, $head, $body) = read_response($s);
is($st, 200, 'answer ended by close: 200');
is(dechunk($body), 'bye', '... body relayed');
ask($s, '/next');
($ch, $opened, $req) = take_request($ch);
ok($opened, '... the next request gets a fresh channel');
$dev->send(channel_data($ch->[0], "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold"));
($st, $head, $body) = read_response($s);
ok($st == 200 && $body eq 'old', 'HTTP/1.0 answer with a length: 200');
ok(channel_closed($ch), '... its channel not kept');

# a device is no trusted backend: nginx's X-Accel-* are neither obeyed nor
# passed on (X-Accel-Redirect would reach the gateway's internal locations)
ask($s, '/xaccel');
($ch, $opened, $req) = take_request($ch);
$dev->send(channel_data($ch->[0], "HTTP/1.1 200 OK\r\nX-Accel-Redirect: /gateway-secret\r\n"
                                  . "X-Accel-Limit-Rate: 1\r\nX-Accel-Buffering: yes\r\n"
                                  . "Content-Length: 6\r\n\r\ndevice"));
($st, $head, $body) = read_response($s);
is($st, 200, 'an answer with X-Accel headers: 200');
is($body, 'device', "... the device's body, not an internal location's");
unlike($head, qr/X-Accel/i, '... no X-Accel header passed on');
close $s;

# --- answers refused --------------------------------------------------------

my @bad = (
    ['two different Content-Length headers',
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 10\r\n\r\nhello",
     'more than one Content-Length'],
    ['two equal Content-Length headers',
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
     'more than one Content-Length'],
    ['a Content-Length list',
     "HTTP/1.1 200 OK\r\nContent-Length: 5, 10\r\n\r\nhello",
     'more than one Content-Length'],
    ['Content-Length: -1',
     "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello",
     'invalid Content-Length'],
    ['Content-Length not digits',
     "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
     'invalid Content-Length'],
    ['an empty Content-Length',
     "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nhello",
     'invalid Content-Length'],
    ['a Content-Length over 2^63 - 1',
     "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nhello",
     'invalid Content-Length'],
    ['Content-Length with Transfer-Encoding',
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     . "5\r\nhello\r\n0\r\n\r\n",
     'Content-Length with Transfer-Encoding'],
    ['Transfer-Encoding: gzip, chunked',
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     'Transfer-Encoding other than chunked'],
    ['Transfer-Encoding: identity',
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nhello",
     'Transfer-Encoding other than chunked'],
    ['obs-fold',
     "HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\nContent-Length: 2\r\n\r\nok",
     'obsolete header line folding'],
    ['a bare CR inside a value',
     "HTTP/1.1 200 OK\r\nX-A: b\rc\r\nContent-Length: 2\r\n\r\nok",
     'CR not followed by LF'],
    ['CR CR LF after a value',
     "HTTP/1.1 200 OK\r\nX-A: b\r\r\nContent-Length: 2\r\n\r\nok",
     'CR not followed by LF'],
    ['a bare CR in the status line',
     "HTTP/1.1 200 O\rK\r\nContent-Length: 2\r\n\r\nok",
     'CR not followed by LF'],
    ['a control byte in a value',
     "HTTP/1.1 200 OK\r\nX-A: \x1b[2J\r\nContent-Length: 2\r\n\r\nok",
     'malformed header line'],
    ['a head larger than fcfh_pass_buffer_size',
     "HTTP/1.1 200 OK\r\nX-Pad: " . ('a' x 9000) . "\r\nContent-Length: 2\r\n\r\nok",
     'head too large'],
    ['a NUL in a header name',
     "HTTP/1.1 200 OK\r\nX\0A: b\r\nContent-Length: 2\r\n\r\nok",
     'malformed header line'],
);

# each on a console connection of its own: a request, the refused answer,
# then a second request that must get a fresh channel and a good answer
for my $i (0 .. $#bad) {
    my ($name, $answer, $reason) = @{$bad[$i]};
    my $mark = $t->log_mark;

    $s = IO::Socket::INET->new('127.0.0.1:' . $t->port(3))
        or BAIL_OUT("console: $!");
    ask($s, "/bad$i");
    ($ch, $opened, $req) = take_request();
    ok($opened, "$name: channel opened");
    $dev->send(channel_data($ch->[0], $answer));

    ($st, $head, $body) = read_response($s, T(3));
    is($st, 502, "$name: 502");
    is($body, 'invalid answer from device', "$name: ... saying so");
    like($head, qr{\r\nContent-Type: text/plain}i, "$name: ... as text/plain");
    unlike($head, qr/\r\nConnection: close/i, "$name: ... console kept alive");
    ok($t->wait_for_log(qr/\[error\].*fcfh: invalid answer from device "\Q$G\E": \Q$reason\E/,
                        T(3), $mark),
       "$name: error log names the device and \"$reason\"");
    ok(channel_closed($ch), "$name: the channel is closed toward the device");

    ask($s, "/after$i");
    ($ch, $opened, $req) = take_request($ch);
    ok($opened, "$name: the next request on the connection opens a fresh channel");
    $dev->send(channel_data($ch->[0], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    ($st, $head, $body) = read_response($s, T(3));
    ok($st == 200 && $body eq 'ok', "$name: ... and gets the device's answer");

    close $s;
    channel_closed($ch);
}

# a kept channel survives the refusals: good answers on one connection
$s = IO::Socket::INET->new('127.0.0.1:' . $t->port(3)) or BAIL_OUT("console: $!");
ask($s, '/after');
($ch, $opened, $req) = take_request();
$dev->send(channel_data($ch->[0], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
($st, $head, $body) = read_response($s);
is($st, 200, 'a good answer after the refused ones: 200');
ask($s, '/again');
($ch, $opened, $req) = take_request($ch);
ok(!$opened, '... its channel kept');
$dev->send(channel_data($ch->[0], "HTTP/1.1 204 No Content\r\n\r\n"));
($st) = read_response($s);
is($st, 204, '... 204 on it');
close $s;
channel_closed($ch);

unlike($t->error_log, qr/invalid answer from device[^\n]*(hello|folded|2J)/,
       'no device bytes in the log lines');

$dev->close;

$t->done_testing;
