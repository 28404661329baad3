#!/usr/bin/perl
# fcfh_alert_limit: past the limit a device's alerts (datagrams and the
# channels it opens) are counted and dropped, with one log line per
# period, so one device can neither flood the log nor push other events
# out of the ring; other devices keep their own budget.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $rx = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1',
                               LocalPort => 0) or BAIL_OUT("udp: $!");
my $rport = $rx->sockport;

my $t = FcfhTest->new;
$t->write_config(std_config(idle => '120s',
    server => "fcfh_alert_receivers 127.0.0.1:$rport;
               fcfh_alert_limit 5 " . T(3) . "s;",
    http => 'server {
        listen 127.0.0.1:%%PORT_3%%;
        location /api/ { fcfh_api; }
        location = /metrics { fcfh_metrics; }
    }'));
$t->run;
my $api = $t->port(3);

sub device {
    my ($n) = @_;
    my $d = FcfhApf->connect($t->port(1));
    $d->handshake(sprintf('00000000-0000-4000-8000-0000000aa%03d', $n), 'admin', 'P@ssw0rd',
                  [16992], "alerts$n.example.test");
    return $d;
}

sub datagrams {
    my ($d, $n) = @_;
    $d->send(map { global_udp('127.0.0.1', $rport, '10.0.0.7', 5555, "trap $_", 1) } 1 .. $n);
    my ($ok, $failed) = (0, 0);
    for (1 .. $n) {
        my $m = $d->read_msg(T(3)) or last;
        $ok++ if $m->{type} == REQUEST_SUCCESS;
        $failed++ if $m->{type} == REQUEST_FAILURE;
    }
    return ($ok, $failed);
}

sub received {
    my $n = 0;
    while (IO::Select->new($rx)->can_read(0.5)) { $rx->recv(my $b, 65536); $n++ }
    return $n;
}

sub metric {
    my ($st, $h, $body) = http_request($api, 'GET', '/metrics');
    return ($body // '') =~ /^fcfh_alerts_total\{result="$_[0]"\} (\d+)$/m ? $1 : undef;
}

my $mark = $t->log_mark;
my $d = device(1);
ok($d->{established}, 'device up');
my ($ok, $failed) = datagrams($d, 20);
is($ok, 5, 'the first 5 datagrams of the period are relayed');
is($failed, 15, 'the other 15 are refused');
is(received(), 5, 'the receiver got 5');
is(metric('limited'), 15, 'fcfh_alerts_total{result="limited"} counts the 15');
is(metric('relayed'), 5, '... and relayed counts 5');

$d->send(channel_open('direct-tcpip', 3, 4096, '127.0.0.1', $rport, '10.0.0.7', 1));
my $m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_OPEN_FAILURE, 'a channel the device opens past the limit is refused');
is($m && $m->{reason}, 4, '... as a resource shortage');

my @lines = grep { /alerts/ } split /\n/, substr($t->error_log, $mark);
is(scalar(grep { /sends more than 5 alerts/ } @lines), 1, 'one log line, not one per alert');
is(scalar(grep { /alert datagram \(\d+ bytes\) relayed/ } @lines), 5,
   'relayed alerts are logged one by one');

# another device has its own budget
my $d2 = device(2);
($ok, $failed) = datagrams($d2, 3);
is($ok, 3, 'another device is not limited by the first');
is(received(), 3, '... its datagrams arrive');

# the next period: the first device may alert again, the drops are summed
sleep(T(3) + 0.2);
($ok, $failed) = datagrams($d, 2);
is($ok, 2, 'a new period: the device alerts again');
ok($t->wait_for_log(qr/device alerts over fcfh_alert_limit: 16 dropped/, T(3), $mark),
   'the drops of the last period are summed up in one line');
ok($d->ping(1, T(3)), 'the device is still served');

# nginx -t: the directive's values
my $t2 = FcfhTest->new;
$t2->write_config(std_config(server => 'fcfh_alert_limit 0;'));
my ($out, $rc) = $t2->nginx_t;
like($out, qr/invalid alert limit "0"/, 'nginx -t refuses a limit of 0 ("off" turns it off)');
$t2->write_config(std_config(server => 'fcfh_alert_limit off;'));
($out, $rc) = $t2->nginx_t;
is($rc, 0, '"off" is accepted') or diag($out);

$t->done_testing;
