#!/usr/bin/perl
# The cluster in network namespaces (t/lib/FcfhCluster.pm): three gateway
# nodes, each in its own namespace, behind a keepalived virtual address,
# sharing a device directory in Redis (its own namespace) and reaching
# each other over mutual TLS; simulated devices and consoles in theirs.
# - consoles reach devices on every node from every node;
# - nginx on the VIP holder crashes: keepalived moves the VIP, the
#   devices reconnect there and are reachable from every node again
#   (measured), the dead node's devices of its own go unknown within the
#   liveness bound (measured);
# - keepalived on the holder stops while its nginx lives: the VIP moves,
#   devices reconnect to the new holder before their old tunnels timed
#   out, and the old node closes them (newest wins across nodes).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhCluster;

my $why = FcfhCluster::skip_reason();
plan skip_all => $why if $why;

my @gone = FcfhCluster::cleanup_stale();
note("removed stale namespaces: @gone") if @gone;

my $lab = FcfhCluster->new(
    workers => 2,
    server => 'fcfh_keepalive 2s;',
    main => '
fcfh_cluster_node %%NODE%%;
fcfh_cluster_address %%NODE_ADDR%%:4434;
fcfh_cluster_redis %%REDIS_ADDR%%:%%REDIS_PORT%%;
fcfh_cluster_ssl_certificate %%NODE_CERT%%;
fcfh_cluster_ssl_certificate_key %%NODE_KEY%%;
fcfh_cluster_ssl_trusted_certificate %%CLUSTER_CA%%;',
    stream => '
    server {
        listen %%NODE_ADDR%%:4434 ssl;
        ssl_certificate %%NODE_CERT%%;
        ssl_certificate_key %%NODE_KEY%%;
        ssl_verify_client on;
        ssl_client_certificate %%CLUSTER_CA%%;
        fcfh_cluster_relay;
    }');
$lab->up;
note(sprintf 'lab %s: subnet %s, VIP %s, dir %s', $lab->pfx, $lab->subnet,
     $lab->vip, $lab->dir);

is($lab->wait_vip_holder(T(10)), 'n1', 'VIP on n1 (highest priority)');
is(scalar $lab->redis_cli('PING'), "PONG\n", 'redis answers PING');
for my $n ($lab->nodes) {
    ok($lab->node_t($n)->wait_for_log(qr/directory at .*node "$n"/, T(5)),
       "$n: directory connected");
}

# three devices through the VIP (on n1), one straight to n2, one to n3
my @vip = map { $lab->sim_guid($_) } 0 .. 2;
my $X2 = '00000000-0000-4000-8000-0000000000e2';
my $X3 = '00000000-0000-4000-8000-0000000000e3';
$lab->start_sim(devices => 3, reconnect => 300, args => ['--quiet']);
$lab->start_sim(connect => 'n2', reconnect => 300,
                args => ['--guid', $X2, '--fqdn', 'x2.example.test', '--quiet']);
$lab->start_sim(connect => 'n3', reconnect => 300,
                args => ['--guid', $X3, '--fqdn', 'x3.example.test', '--quiet']);

my %home = ((map { $_ => 'n1' } @vip), $X2 => 'n2', $X3 => 'n3');
sub dir_node { my $v = $lab->redis_cli('HGET', "fcfh:d:$_[0]", 'node'); chomp $v; $v }
ok(wait_for(sub { !grep { dir_node($_) ne $home{$_} } keys %home }, T(15)),
   'directory: three devices on n1, one on n2, one on n3')
    or diag(explain { map { $_ => dir_node($_) } keys %home });

sub reaches {
    my ($how, $n, $g) = @_;
    my ($rc, $body, $code) = $how eq 'socks' ? $lab->console_socks($n, $g)
                           : $how eq 'connect' ? $lab->console_connect($n, $g)
                           : $lab->console_pass($n, $g);
    return ($code // 0) == 200 && ($body // '') =~ /IdentifyResponse/;
}

# --- every node reaches every device ------------------------------------------

for my $n ($lab->nodes) {
    my @miss = grep { !reaches('socks', $n, $_) } sort keys %home;
    is("@miss", '', "$n: SOCKS5 reaches all five devices (local and remote)");
    ok(reaches('connect', $n, $X3), "$n: CONNECT reaches x3 (on n3)");
    ok(reaches('pass', $n, $X2), "$n: HTTP proxy reaches x2 (on n2)");
}

# --- nginx on the VIP holder crashes --------------------------------------------

my $t0 = time;
$lab->kill_node('n1', 'KILL');
is($lab->wait_vip_holder(T(10), 'n2'), 'n2', 'nginx on n1 killed: VIP moves to n2');
my $t_vip = time - $t0;
my $back = wait_for(sub { !grep { !reaches('socks', 'n3', $_) } @vip }, T(20), 0.1);
my $t_reach = time - $t0;
ok($back, 'the VIP devices are reachable from n3 again (through n2)');
diag(sprintf 'node crash: VIP on n2 after %.2f s, devices reachable from '
             . 'another node after %.2f s', $t_vip, $t_reach);
cmp_ok($t_reach, '<', T(20), 'failover within 20 s');
is(dir_node($vip[0]), 'n2', 'directory: the VIP devices on n2');
ok(wait_for(sub { my $v = $lab->redis_cli('EXISTS', 'fcfh:n:n1'); $v =~ /^0/ },
            T(8)), 'the dead node\'s liveness key expired');
ok(reaches('socks', 'n2', $X3),
   'n2 still reaches x3 on n3');

# --- keepalived on the holder stops while its nginx lives ----------------------

my $mark = $lab->node_t('n2')->log_mark;
$t0 = time;
$lab->kill_keepalived('n2', 'TERM');
is($lab->wait_vip_holder(T(10), 'n3'), 'n3', 'keepalived on n2 stopped: VIP moves to n3');
$back = wait_for(sub { !grep { !reaches('socks', 'n2', $_) } @vip }, T(20), 0.1);
$t_reach = time - $t0;
ok($back, 'the VIP devices are reachable from n2 again (through n3)');
diag(sprintf 'VIP moved off a live node: devices reachable again after %.2f s',
             $t_reach);
ok(wait_for(sub { !grep { dir_node($_) ne 'n3' } @vip }, T(5)),
   'directory: the VIP devices on n3');
ok($lab->node_t('n2')->wait_for_log(qr/closed, it connected to another node/,
                                    T(5), $mark),
   'n2 closed its older tunnels of them at n3\'s request (newest wins)');
my $stale = wait_for(sub {
    my $d = $lab->node_status('n2') or return 0;
    !grep { my $g = $_->{guid}; grep { $_ eq $g } @vip } @{ $d->{tunnels} };
}, T(5));
ok($stale, 'n2 no longer lists them');

$lab->done_testing;
