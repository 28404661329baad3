#!/usr/bin/perl
# AMT-initiated datagrams (udp-send-to@amt.intel.com, e.g. SNMP traps):
# relayed only to receivers in fcfh_alert_receivers, refused otherwise;
# each is an "alert" event, and an alert right after connecting is the
# evidence of an alert-triggered connection.
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
    server => "fcfh_alert_receivers 127.0.0.1:$rport;",
    http => 'server { listen 127.0.0.1:%%PORT_3%%; location /api/ { fcfh_api; } }'));
$t->run;

my $G = '00000000-0000-4000-8000-0000000000f1';
my $d = FcfhApf->connect($t->port(1));
$d->handshake($G, 'admin', 'P@ssw0rd', [16992], 'alerting.example.test', trigger => 2);
ok($d->{established}, 'device up');

my $trap = "\x30\x26\x02\x01\x01fake-snmp-trap";
$d->send(global_udp('127.0.0.1', $rport, '10.0.0.7', 5555, $trap, 1));
my $m = $d->read_msg(T(3));
is($m && $m->{type}, REQUEST_SUCCESS, 'allowed receiver: REQUEST_SUCCESS');

my $got = '';
if (IO::Select->new($rx)->can_read(T(3))) { $rx->recv($got, 65536) }
is($got, $trap, 'the datagram reached the receiver unchanged');

$d->send(global_udp('192.0.2.55', 162, '10.0.0.7', 5555, $trap, 1));
$m = $d->read_msg(T(3));
is($m && $m->{type}, REQUEST_FAILURE, 'receiver not allowed: REQUEST_FAILURE');
ok($t->wait_for_log(qr/alert datagram to 192\.0\.2\.55:162 refused/, T(3)),
   'refusal logged with the target');

$d->send(global_udp('192.0.2.55', 162, '10.0.0.7', 5555, $trap, 0));
ok($d->ping(1, T(3)), 'without want_reply nothing is answered, tunnel fine');

# a TCP channel the device opens toward a receiver not allowed is refused
# (administratively prohibited), logged with a printable target, and the
# tunnel carries on (allowed receivers: t/26-device-channels.t)
$d->send(channel_open('direct-tcpip', 3, 4096, "198.51.100.9\nforged", 16997,
                      '10.0.0.7', 5556));
$m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_OPEN_FAILURE, 'device-opened channel: OPEN_FAILURE');
is($m && $m->{recipient}, 3, '... to the device\'s channel');
is($m && $m->{reason}, 1, '... reason 1 (administratively prohibited)');
ok($t->wait_for_log(qr/device channel open "direct-tcpip" to 198\.51\.100\.9\\x0aforged:16997 refused: not in fcfh_alert_receivers/, T(3)),
   '... logged with the target, control bytes shown as \\xHH');
ok($d->ping(2, T(3)), '... and the tunnel is fine');

my ($st, $h, $body) = http_request($t->port(3), 'GET', "/api/tunnels/$G");
like($body, qr/"alerts":4/, "alerts counted on the tunnel (3 datagrams, 1 channel)");
like($body, qr/"trigger_evidence":"alert_after_connect"/,
     'an alert right after connecting is the trigger evidence');

$t->done_testing;
