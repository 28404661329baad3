#!/usr/bin/perl
# Channels the device opens itself ("direct-tcpip" toward an event or alert
# receiver, e.g. WS-Eventing deliveries): connected only to a receiver in
# fcfh_alert_receivers and confirmed once the connection is up; data both
# ways under the same windows as console channels; an unreachable receiver
# is CHANNEL_OPEN_FAILURE 2, an unknown channel type 3; every one is an
# alert event and counted.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $rx = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                               Listen => 8, ReuseAddr => 1)
    or BAIL_OUT("listen: $!");
my $rport = $rx->sockport;

# an allowed receiver nobody listens on
my $gone = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 1) or BAIL_OUT("listen: $!");
my $gport = $gone->sockport;
close $gone;

my $t = FcfhTest->new;
$t->write_config(std_config(idle => '120s',
    server => "fcfh_alert_receivers 127.0.0.1:$rport 127.0.0.1:$gport;",
    http => 'server { listen 127.0.0.1:%%PORT_3%%; '
          . 'location /api/ { fcfh_api; } '
          . 'location = /metrics { fcfh_metrics; } '
          . 'location = /events { fcfh_events; } }'));
$t->run;

my $G = '00000000-0000-4000-8000-0000000000c1';

# an SSE subscriber sees the alert events
my $sse = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port(3))
    or BAIL_OUT("sse: $!");
print $sse "GET /events?type=alert HTTP/1.1\r\nHost: x\r\n\r\n";

my $d = FcfhApf->connect($t->port(1));
$d->handshake($G, 'admin', 'P@ssw0rd', [16992], 'eventing.example.test');
ok($d->{established}, 'device up');

sub accept_receiver {
    return IO::Select->new($rx)->can_read(T(3)) ? scalar $rx->accept : undef;
}

sub read_some {
    my ($s, $want, $timeout) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + $timeout;
    while (length($buf) < $want && time < $deadline) {
        $sel->can_read(0.2) or next;
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    return $buf;
}

# 1. an allowed receiver: connect, confirm, data both ways, close

my $post = "POST /wsman/events HTTP/1.1\r\nHost: 127.0.0.1:$rport\r\n"
         . "Content-Length: 5\r\n\r\nhello";
$d->send(channel_open('direct-tcpip', 7, 32768, '127.0.0.1', $rport,
                      '10.0.0.7', 1025));
my $r = accept_receiver();
ok($r, 'the gateway connected to the receiver');
my $m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_OPEN_CONFIRMATION, 'channel confirmed once connected');
is($m && $m->{recipient}, 7, '... to the device\'s channel id');
is($m && $m->{window}, 32768, '... with the gateway\'s window');
my $ours = $m && $m->{sender};

$d->send(channel_data($ours, $post));
is(read_some($r, length $post, T(3)), $post, 'device bytes reached the receiver');

my $answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
syswrite($r, $answer);
my $got = '';
while (length($got) < length $answer) {
    $m = $d->read_msg(T(3)) or last;
    $got .= $m->{data} if $m->{type} == CHANNEL_DATA && $m->{recipient} == 7;
}
is($got, $answer, 'receiver bytes reached the device on its channel');

my ($st, $h, $body) = http_request($t->port(3), 'GET', "/api/tunnels/$G");
like($body, qr/"channels":1\b/, 'the channel counts on the tunnel');

$d->send(channel_close($ours));
$m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_CLOSE, 'device CLOSE answered with CLOSE');
is($m && $m->{recipient}, 7, '... on its channel');
is(read_some($r, 1, T(3)), '', 'the receiver connection is closed');
close $r;

ok(wait_for(sub {
    my (undef, undef, $b) = http_request($t->port(3), 'GET', "/api/tunnels/$G");
    $b && $b =~ /"channels":0\b/;
}, T(3)), 'channel freed');

# 2. more than the window at once from the receiver: the device gets it in
#    window-sized pieces as it credits; the receiver closes first and the
#    device closes once it has the answer (a receiver's end of file is not
#    a CLOSE: APF has no half close)

$d->send(channel_open('direct-tcpip', 8, 1000, '127.0.0.1', $rport,
                      '10.0.0.7', 1026));
$r = accept_receiver();
$m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_OPEN_CONFIRMATION, 'second channel confirmed');
$ours = $m && $m->{sender};
syswrite($r, 'x' x 2500);
close $r;
my $total = 0;
my $over = 0;
my $window = 1000;
while ($total < 2500) {
    $m = $d->read_msg(T(3)) or last;
    next unless $m->{type} == CHANNEL_DATA;
    $window -= length $m->{data};
    $over = 1 if $window < 0;
    $total += length $m->{data};
    if ($window == 0) { $d->send(channel_window($ours, 1000)); $window = 1000 }
}
is($total, 2500, 'all receiver bytes delivered');
ok(!$over, '... never more than the device\'s window');
$d->send(channel_close($ours));
$m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_CLOSE, 'device CLOSE after the receiver left: CLOSE');
is($m && $m->{recipient}, 8, '... on its channel');

# 3. an allowed receiver that is not listening: OPEN_FAILURE 2

$d->send(channel_open('direct-tcpip', 9, 32768, '127.0.0.1', $gport,
                      '10.0.0.7', 1027));
$m = $d->read_msg(T(5));
is($m && $m->{type}, CHANNEL_OPEN_FAILURE, 'unreachable receiver: OPEN_FAILURE');
is($m && $m->{recipient}, 9, '... on the device\'s channel');
is($m && $m->{reason}, 2, '... reason 2 (connect failed)');
ok($t->wait_for_log(qr/connect\(\) to alert receiver 127\.0\.0\.1:$gport failed/, T(3)),
   '... logged with the receiver');

# 4. a receiver not allowed: 1; a type the gateway does not relay: 3

$d->send(channel_open('direct-tcpip', 10, 32768, '127.0.0.1', $rport + 1 == $gport ? $rport + 2 : $rport + 1,
                      '10.0.0.7', 1028));
$m = $d->read_msg(T(3));
is($m && $m->{reason}, 1, 'receiver port not allowed: reason 1');
$d->send(channel_open('direct-tcpip', 10, 32768, 'receiver.example.test', $rport,
                      '10.0.0.7', 1028));
$m = $d->read_msg(T(3));
is($m && $m->{reason}, 1, 'a host name is never resolved: reason 1');
$d->send(channel_open('session', 11, 32768, '127.0.0.1', $rport, '', 0));
$m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_OPEN_FAILURE, 'other channel type: OPEN_FAILURE');
is($m && $m->{reason}, 3, '... reason 3 (unknown channel type)');
ok($t->wait_for_log(qr/device channel open "session" to 127\.0\.0\.1:$rport refused: unknown channel type/, T(3)),
   '... logged');
ok($d->ping(3, T(3)), 'the tunnel is fine after every refusal');

# 5. a CONFIRMATION for a channel the device opened itself contradicts the
#    channel: that channel is closed (one CLOSE, the receiver connection
#    closed), the device's tunnel stays, the other device is untouched.
#    The tunnel closing while a receiver channel is open closes the
#    receiver connection.

my $d2 = FcfhApf->connect($t->port(1));
$d2->handshake('00000000-0000-4000-8000-0000000000c2', 'admin', 'P@ssw0rd',
               [16992], 'confused.example.test');
$d2->send(channel_open('direct-tcpip', 1, 32768, '127.0.0.1', $rport,
                       '10.0.0.8', 1030));
my $r2 = accept_receiver();
$m = $d2->read_msg(T(3));
is($m && $m->{type}, CHANNEL_OPEN_CONFIRMATION, 'other device: channel confirmed');
my $mark = $t->log_mark;
my $gw2 = $m && $m->{sender};
$d2->send(channel_confirm($gw2, 1, 32768));
$m = $d2->read_msg(T(3));
ok($m && $m->{type} == CHANNEL_CLOSE && $m->{recipient} == 1,
   'its CONFIRMATION of that channel: the gateway closes that channel')
    or diag(explain $m);
is(read_some($r2, 1, T(3)), '', '... and its receiver connection is closed');
close $r2;
ok($t->wait_for_log(qr/\[notice\].*device sent CHANNEL_OPEN_CONFIRMATION for channel $gw2 \(open\), closing the channel.*device: 00000000-0000-4000-8000-0000000000c2/,
                    T(3), $mark), '... a notice names the device, the channel and its state');
my $from = @{$d2->{seen}};
$d2->send(channel_close($gw2));
ok($d2->ping(41, T(3)), '... its tunnel stays up');
is_deeply([ map { $_->{type} } @{$d2->{seen}}[$from .. $#{$d2->{seen}}] ], [KEEPALIVE_REPLY],
          '... nothing else after its CLOSE (no second CLOSE, no DISCONNECT)');
ok($d->ping(4, T(3)), 'the first device is unaffected');
$d2->send(disconnect(11));
$d2->close;

$d->send(channel_open('direct-tcpip', 12, 32768, '127.0.0.1', $rport,
                      '10.0.0.7', 1029));
$r = accept_receiver();
$m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_OPEN_CONFIRMATION, 'third channel confirmed');
$d->send(disconnect(11));
$d->close;
is(read_some($r, 1, T(5)), '', 'tunnel gone: the receiver connection is closed');
close $r;

# events and counters

my $events = read_some($sse, 1 << 20, 1);
my @alerts = ($events =~ /^event: alert$/mg);
is(scalar @alerts, 8, 'every device channel open is an alert event');
like($events, qr/"receiver":"127\.0\.0\.1:$rport"[^}]*"relayed":true/,
     '... relayed ones say so');
like($events, qr/"receiver":"receiver\.example\.test:$rport"[^}]*"relayed":false/,
     '... refused ones too');

($st, $h, $body) = http_request($t->port(3), 'GET', '/metrics');
like($body, qr/^fcfh_alerts_total\{result="relayed"\} 4$/m,
     'metrics: relayed alerts (connect attempted)');
like($body, qr/^fcfh_alerts_total\{result="refused"\} 4$/m,
     'metrics: refused alerts');
like($body, qr/^fcfh_channel_errors_total\{kind="state"\} 1$/m,
     'metrics: the channel the device contradicted');

$t->done_testing;
