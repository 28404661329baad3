#!/usr/bin/perl
# Console audit across gateway nodes: a console on node2 reaches a device
# held by node1. node2 records the session with its own front door, the
# device named as the console named it and the node that holds it; node1
# records it as front door "cluster" with the console node2 reported;
# both with the bytes each way and why it ended.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use FcfhTest qw(:all);
use FcfhRedis;
use FcfhConsole qw(:all);

plan skip_all => 'no simulator (make sim)' unless have_sim();

my $redis = FcfhRedis->new;
my ($rport, $rdir) = ($redis->port, $redis->dir);
ok(eval { $redis->start }, 'redis up');

sub node_config {
    my ($n) = @_;
    return std_config(workers => 1, main => "
fcfh_cluster_node node$n;
fcfh_cluster_address 127.0.0.1:%%PORT_10%%;
fcfh_cluster_redis 127.0.0.1:$rport;
fcfh_cluster_ssl_certificate %%CERTS%%/node$n.crt;
fcfh_cluster_ssl_certificate_key %%CERTS%%/node$n.key;
fcfh_cluster_ssl_trusted_certificate %%CERTS%%/cluster-ca.crt;",
        stream => "
    server {
        listen 127.0.0.1:%%PORT_10%% ssl;
        ssl_certificate %%CERTS%%/node$n.crt;
        ssl_certificate_key %%CERTS%%/node$n.key;
        ssl_verify_client on;
        ssl_client_certificate %%CERTS%%/cluster-ca.crt;
        fcfh_cluster_relay;
    }
    server { listen 127.0.0.1:%%PORT_3%%; fcfh_proxy; }",
        http => "
    server {
        listen 127.0.0.1:%%PORT_5%%;
        location = /events { fcfh_events; }
        location = /metrics { fcfh_metrics; }
    }");
}

my @t;
for my $n (1, 2) {
    my $t = FcfhTest->new;
    $t->write_config(node_config($n));
    $t->run;
    push @t, $t;
}
for my $n (1, 2) {
    ok($t[$n - 1]->wait_for_log(qr/directory at 127\.0\.0\.1:$rport, node "node$n"/, T(5)),
       "node$n: directory connected");
}

my $GA = '00000000-0000-4000-8000-0000000000a1';
$t[0]->run_sim('--connect', '127.0.0.1:' . $t[0]->port(1), '--guid', $GA,
               '--fqdn', 'a%d.example.test', '--quiet');
ok(wait_for(sub {
       # node2 sees A through the directory once a console can reach it
       my ($s, $rep) = socks5_open($t[1]->port(3), 'a0.example.test', 16992);
       close $s if $s;
       return defined $rep && $rep == 0;
   }, T(10), 0.3), 'node2 reaches A, held by node1');

my @sse = map { sse_subscribe($_->port(5), '/events') } @t;
ok($sse[0] && $sse[1], 'subscribed on both nodes');

my $identify = do { local $/; open my $f, '<', repo_dir() . '/sim/identify.xml' or die; <$f> };
my $req = "POST /wsman HTTP/1.1\r\nHost: a0:16992\r\n"
        . "Content-Type: application/soap+xml;charset=UTF-8\r\n"
        . 'Content-Length: ' . length($identify) . "\r\n\r\n$identify";

my ($s, $st) = connect_open($t[1]->port(3), 'a0.example.test:16992');
is($st, 200, 'console on node2: CONNECT to A by name');
my $cport = $s->sockport;
send_all($s, $req);
my $answer = '';
my $deadline = time + T(5);
while ($answer !~ /IdentifyResponse.*<\/\S*Envelope>/s && time < $deadline) {
    my $b = read_some($s, 65536, 0.2);
    last unless defined $b;
    $answer .= $b;
}
like($answer, qr/IdentifyResponse/, 'answered through node1');
sleep(0.2);
close $s;

my $who = "127.0.0.1:$cport";
for my $n (2, 1) {
    my $sub = $sse[$n - 1];
    my $close = sse_wait($sub, sub { $_[0]{event} eq 'console_close'
                                     && ($_[0]{json}{console} // '') eq $who }, T(5));
    my ($open) = grep { $_->{event} eq 'console_open'
                        && ($_->{json}{console} // '') eq $who } @{$sub->{events}};
    ok($open && $close, "node$n: console_open and console_close of the console") or next;
    my ($o, $c) = ($open->{json}, $close->{json});
    is($o->{node}, "node$n", "node$n: ... the node that saw it");
    is($o->{port}, 16992, "node$n: ... the port");
    is($c->{bytes_to_device}, length $req, "node$n: ... bytes to the device");
    is($c->{bytes_to_console}, length $answer, "node$n: ... bytes to the console");
    is($c->{reason}, 'console_closed', "node$n: ... the console closed it");
    if ($n == 2) {
        is($o->{front_door}, 'connect', 'node2: front door connect');
        is($o->{device_node}, 'node1', 'node2: ... the device is on node1');
        is($o->{guid}, undef, 'node2: ... its GUID unknown here (named by name)');
        is($o->{fqdn}, 'a0.example.test', 'node2: ... the name the console used');
    } else {
        is($o->{front_door}, 'cluster', 'node1: front door cluster');
        is($o->{device_node}, undef, 'node1: ... the device is here');
        is($o->{guid}, $GA, 'node1: ... the GUID');
        is($o->{fqdn}, 'a0.example.test', 'node1: ... and its name');
    }
}

ok($t[1]->wait_for_log(qr/console session opened: device "a0\.example\.test" port 16992 via connect from \Q$who\E, on node "node1"/, T(3)),
   'node2: the notice line names the node');
my (undef, undef, $m) = http_get($t[0]->port(5), '/metrics');
like($m, qr/^fcfh_console_sessions_total\{front_door="cluster"\} [1-9]/m,
     'node1 counts the sessions other nodes opened');

$t[0]->done_testing;
