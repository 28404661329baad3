#!/usr/bin/perl
# A full zone refuses only the newcomer.  With the registry zone full, a
# registered device reconnecting (AMT does, before its old connection
# times out) is refused with DISCONNECT 12, and its old tunnel stays
# registered, listed and serving consoles: never a tunnel that is up but
# unreachable.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

plan skip_all => 'simulator not built' unless have_sim();

my $t = FcfhTest->new;
$t->write_config(std_config(zone => '512k', idle => '120s', stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }'));
$t->run;
$t->allow_log(qr/fcfh zone is full|ngx_slab_alloc\(\) failed: no memory/);
my ($sport, $px) = ($t->port(2), $t->port(3));

# fill the zone: more simulated devices than it holds, none retrying
my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 1200,
                      '--reconnect', 0, '--rate', 400, '--quiet');
my $n = 0;
wait_for(sub {
    my $d = status_json($sport, '?limit=1') or return 0;
    my $now = $d->{total} // 0;
    my $settled = $now == $n && $now > 0;
    $n = $now;
    $settled && $t->error_log =~ /fcfh zone is full, device refused/;
}, T(30), 1);
# the device history (fcfh_device_history) takes up to a quarter of the zone
ok($n > 50 && $n < 1200, "the zone holds $n of 1200 devices");
ok($t->error_log =~ /fcfh zone is full, device refused/, 'the rest were refused: zone full');

# a registered device (simulator device 0, identity admin) reconnects
my $G = '00000000-0000-4000-8000-000000000001';
my $before = find_tunnel(status_json($sport), $G);
ok($before, 'device 0 is registered');

my $again = FcfhApf->connect($t->port(1));
$again->handshake($G, 'admin', 'P@ssw0rd', [16992], 'dev0.example.test');
ok(!$again->{established}, 'its reconnect finds the zone full');
is($again->expect_disconnect(T(5)), 12, '... and gets DISCONNECT 12 (too many connections)');

my $after = find_tunnel(status_json($sport), $G);
ok($after, 'the old tunnel is still registered');
is($after && $after->{serial}, $before && $before->{serial}, '... the same one');

my ($s, $rep) = socks5_open($px, $G, 16992);
is($rep, 0, 'a console still reaches the device through its old tunnel');
if ($s) {
    my $req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all($s, $req);
    my ($got) = read_to_eof($s, T(5), 65536);
    like($got // '', qr{^HTTP/1\.1 }, '... and the device answers');
}

$t->done_testing;
