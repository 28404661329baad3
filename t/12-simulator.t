#!/usr/bin/perl
# The simulator's device services, checked with clients nobody here wrote:
# curl (HTTP Digest, WS-Management Identify and AMT_GeneralSettings Get)
# and amtterm (serial-over-LAN echo), in the simulator's selftest mode;
# and simulated devices through the gateway: --split, TLS 1.0 pinning,
# client certificates, reconnect after a drop.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use FcfhTest qw(:all);

plan skip_all => 'simulator not built' unless have_sim();
my $repo = FcfhTest::repo_dir();
my $sim = "$repo/build/fcfh-sim";

sub selftest {
    my ($service) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "listen: $!";
    my $port = $l->sockport;
    close $l;
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', '/dev/null'; open STDERR, '>&', \*STDOUT;
        exec $sim, '--selftest-port', $port, '--selftest-service', $service,
             '--quiet';
    }
    wait_for(sub { IO::Socket::INET->new("127.0.0.1:$port") }, T(5));
    return ($pid, $port);
}

sub curl { my $out = `curl -s -m 10 -w '\\n%{http_code}' @_ 2>&1`; my ($body, $code) = $out =~ /^(.*)\n(\d+)$/s; ($code // 0, $body // '') }

my $identify = "$repo/sim/identify.xml";
my $get = "$repo/sim/get-general-settings.xml";

# --- WS-Management with digest (16992) and over TLS (16993) ---------------

for my $svc (16992, 16993) {
    my ($pid, $port) = selftest($svc);
    my $scheme = $svc == 16993 ? 'https' : 'http';
    my $url = "$scheme://127.0.0.1:$port/wsman";
    my @k = $svc == 16993 ? ('-k') : ();
    my $h = "-H 'Content-Type: application/soap+xml;charset=UTF-8'";

    my ($code, $body) = curl(@k, $h, '--data-binary', "\@$identify", $url);
    is($code, 200, "$svc: Identify answered without auth");
    like($body, qr/IdentifyResponse.*Intel Corporation/s, "$svc: IdentifyResponse");

    ($code, $body) = curl(@k, $h, '--data-binary', "\@$get", $url);
    is($code, 401, "$svc: Get without credentials: 401");

    ($code, $body) = curl(@k, $h, '--digest', '-u', "'admin:wrong'",
                          '--data-binary', "\@$get", $url);
    is($code, 401, "$svc: Get with a wrong password: 401");

    ($code, $body) = curl(@k, $h, '--digest', '-u', "'admin:P\@ssw0rd'",
                          '--data-binary', "\@$get", $url);
    is($code, 200, "$svc: Get with digest: 200");
    like($body, qr/AMT_GeneralSettings.*HostName/s, "$svc: GeneralSettings body");

    kill 'TERM', $pid; waitpid $pid, 0;
}

# --- serial-over-LAN with amtterm (16994) -----------------------------------

SKIP: {
    skip 'amtterm not installed', 2 unless -x '/usr/bin/amtterm';
    my ($pid, $port) = selftest(16994);
    my $out = `/usr/bin/python3 $repo/t/lib/amtterm_echo.py amtterm -u admin -p 'P\@ssw0rd' 127.0.0.1 $port 2>&1`;
    is($? >> 8, 0, 'amtterm: SOL session opened and typed text echoed')
        or diag($out);
    $out = `/usr/bin/python3 $repo/t/lib/amtterm_echo.py amtterm -u admin -p wrong 127.0.0.1 $port 2>&1`;
    isnt($? >> 8, 0, 'amtterm: wrong password refused');
    kill 'TERM', $pid; waitpid $pid, 0;
}

# --- simulated devices through the gateway -----------------------------------

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '5s', keepalive => '1s',
    protocols => 'TLSv1 TLSv1.1 TLSv1.2 TLSv1.3',
    server => 'ssl_ciphers DEFAULT:@SECLEVEL=0;
        ssl_verify_client optional;
        ssl_client_certificate %%CERTS%%/ca.crt;
        fcfh_cert_identity $fcfh_cn;
        fcfh_device_guids *;',
    stream => 'map $ssl_client_s_dn $fcfh_cn {
        ~CN=(?<cn>amt-device-[0-9]+) $cn; default ""; }'));
$t->run;
my $sport = $t->port(2);
my $gw = '127.0.0.1:' . $t->port(1);
my $certs = $t->certs;

my $split = $t->run_sim('--connect', $gw, '--devices', 3, '--split', '--quiet',
            '--guid', '00000000-0000-4000-8000-000000000a01');
$t->run_sim('--connect', $gw, '--tls', '1.0', '--quiet',
            '--guid', '00000000-0000-4000-8000-000000000b01');
$t->run_sim('--connect', $gw, '--cert', "$certs/device1.crt",
            '--key', "$certs/device1.key", '--auth', 'none', '--quiet',
            '--guid', '00000000-0000-4000-8000-000000000c01');

my $doc = wait_status($sport, sub { $_->{total} == 5 }, T(10));
is($doc && $doc->{total}, 5, 'split, TLS 1.0 and certificate devices all up');
my $v1 = find_tunnel($doc, '00000000-0000-4000-8000-000000000b01') // {};
is($v1->{tls_protocol}, 'TLSv1', 'pinned TLS 1.0 device is on TLSv1');
my $cd = find_tunnel($doc, '00000000-0000-4000-8000-000000000c01') // {};
is($cd->{auth}, 'certificate', 'certificate device authenticated by certificate');
is($cd->{identity}, 'amt-device-1', 'identity from the certificate subject');

# keepalives flow at the asked interval
$doc = wait_status($sport, sub {
    my $e = find_tunnel($_, '00000000-0000-4000-8000-000000000a01');
    $e && $e->{last_keepalive} }, T(5));
ok($doc, 'simulated device sends keepalives at the interval asked (1s)');

# a dropped device reconnects by itself: kill the worker that owns it
my $owner = (find_tunnel($doc, '00000000-0000-4000-8000-000000000a01') // {})->{owner_pid};
$t->allow_log(qr/exited on signal 9/);
kill 'KILL', $owner if $owner;
$doc = wait_status($sport, sub {
    my $e = find_tunnel($_, '00000000-0000-4000-8000-000000000a01');
    $_->{total} == 5 && $e && $e->{owner_pid} != $owner }, T(15));
ok($doc, 'devices reconnect after their worker was killed');

my $st = $t->sim_stats($split);
cmp_ok($st->{reconnects} // 0, '>=', 1, 'simulator counted the reconnects');
cmp_ok($st->{keepalive_replies} // 0, '>=', 1, 'simulator got keepalive replies');

$t->done_testing;
