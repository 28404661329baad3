#!/usr/bin/perl
# Console access through the fcfh_proxy front door with clients nobody here
# wrote: curl (SOCKS5 and CONNECT, HTTP and TLS end to end with digest),
# ncat (bulk through SOCKS5 and CONNECT), amtterm through proxychains4,
# Python requests; console authentication; 4 workers and 8 simulated
# devices so most routes cross workers through the relay sockets.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhConsole qw(:all);

plan skip_all => 'simulator not built' unless have_sim();

my $repo = repo_dir();
my $t = FcfhTest->new;
$t->write_config(std_config(workers => 4, stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }
    server {
        listen 127.0.0.1:%%PORT_4%%;
        fcfh_proxy;
        fcfh_proxy_auth_file %%CERTS%%/devices.htpasswd;
    }'));
$t->run;
my ($sport, $px, $pxa) = ($t->port(2), $t->port(3), $t->port(4));

my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 8, '--quiet');
my $guid = sub { sprintf '00000000-0000-4000-8000-%012d', $_[0] };   # 1..8
my $fqdn = sub { sprintf 'dev%d.example.test', $_[0] - 1 };           # of device 1..8

my $doc = wait_status($sport, sub { ($_->{total} // 0) == 8 }, T(15));
ok($doc, '8 simulated devices up') or diag(explain $FcfhTest::LAST_STATUS);
my %owner = map { ($_->{guid} => $_->{owner_pid}) } @{ $doc->{tunnels} // [] };
diag("tunnel owners: " . join ', ', map { "dev$_=" . ($owner{$guid->($_)} // '?') } 1 .. 8);
my %owners = map { $_ => 1 } grep { defined } values %owner;
diag(scalar(keys %owners) . " of 4 workers own tunnels");

my $stats0 = $t->sim_stats($sim) // {};
my @devs = (1, 3, 5, 8);           # several devices, spread over the owners

my $ct = "-H 'Content-Type: application/soap+xml;charset=UTF-8'";
sub curl {
    my $out = `curl -s -S -m 15 -w '\\n%{http_code}' @_ 2>&1`;
    my ($body, $code) = $out =~ /^(.*)\n(\d+)$/s;
    return ($code // 0, $body // $out);
}

# --- curl ---------------------------------------------------------------------

for my $i (@devs) {
    my ($g, $f) = ($guid->($i), $fqdn->($i));
    my ($code, $body) = curl("--socks5-hostname 127.0.0.1:$px", $ct,
                             "--data-binary \@$repo/sim/identify.xml", "http://$g:16992/wsman");
    is($code, 200, "dev$i: curl --socks5-hostname Identify over 16992: 200");
    like($body, qr/IdentifyResponse.*Intel Corporation/s, "dev$i: IdentifyResponse")
        or diag($body);

    for my $proxy ("-x socks5h://127.0.0.1:$px", "-p -x http://127.0.0.1:$px") {
        my $how = $proxy =~ /socks/ ? 'socks5h' : 'CONNECT';
        ($code, $body) = curl('-k', $proxy, $ct, "--digest -u 'admin:P\@ssw0rd'",
                              "--data-binary \@$repo/sim/get-general-settings.xml",
                              "https://$f:16993/wsman");
        is($code, 200, "dev$i: curl $how https://$f:16993 digest GeneralSettings Get: 200");
        like($body, qr/AMT_GeneralSettings.*HostName>dev@{[$i-1]}<.*HostOSFQDN>\Q$f\E</s,
             "dev$i: $how GetResponse with this device's HostName") or diag($body);
    }

    # TLS end to end: the certificate is the device's own (CN = fqdn)
    my $v = `curl -s -k -v -o /dev/null -m 15 -x socks5h://127.0.0.1:$px $ct --data-binary \@$repo/sim/identify.xml https://$f:16993/wsman 2>&1`;
    like($v, qr/subject:.*CN\s*=\s*\Q$f\E/, "dev$i: TLS terminates at the device (CN=$f)")
        or diag($v);
}

# by name in another case, by GUID in upper case
{
    my ($code, $body) = curl("--socks5-hostname 127.0.0.1:$px", $ct,
        "--data-binary \@$repo/sim/identify.xml", 'http://' . uc($fqdn->(2)) . ':16992/wsman');
    is($code, 200, 'FQDN in upper case routes to the device');
    ($code, $body) = curl("-p -x http://127.0.0.1:$px", $ct,
        "--data-binary \@$repo/sim/identify.xml", 'http://' . uc($guid->(2)) . ':16992/wsman');
    is($code, 200, 'GUID in upper case routes to the device (CONNECT)');
}

# which worker served each console, vs which owns the tunnel
{
    my (%cross, %local);
    for (split /\n/, $t->error_log) {
        next unless /\[info\] (\d+)#\d+: .*channel to (\S+):\d+ open/;
        my ($pid, $target) = ($1, lc $2);
        my ($g) = $target =~ /^dev(\d+)\./ ? ($guid->($1 + 1)) : ($target);
        next unless $owner{$g};
        ($pid == $owner{$g} ? $local{"$pid"} : $cross{"$pid->$owner{$g}"})++;
    }
    my $nc = 0; $nc += $_ for values %cross;
    my $nl = 0; $nl += $_ for values %local;
    diag("console routes: $nl in the owner worker, $nc across workers ("
         . join(', ', map { "$_ x$cross{$_}" } sort keys %cross) . ')');
    ok($nc > 0, 'some console routes crossed workers (relay sockets used)');
}

# --- ncat: bulk through SOCKS5 and CONNECT ---------------------------------------

SKIP: {
    skip 'ncat not installed', 8 unless -x '/usr/bin/ncat';
    my $N = 5000000;
    my $want = bulk_pattern($N);
    for my $c ([socks5 => $guid->(4), '--proxy-dns remote'], [http => $fqdn->(6), ''],
               [socks5 => $fqdn->(7), '--proxy-dns remote'], [http => $guid->(2), '']) {
        my ($type, $host, $extra) = @$c;
        my $out = "$t->{prefix}/ncat-$type-$host.out";
        my $start = time;
        system("printf 'BULK $N\\n' | timeout 30 ncat --proxy 127.0.0.1:$px --proxy-type $type "
               . "$extra $host 16992 >$out 2>$out.err");
        my $rc = $? >> 8;
        my $got = $t->read_file($out);
        is(length $got, $N, sprintf("ncat %s %s: exactly %d bytes (exit %d, %.1fs)",
                                    $type, $host, $N, $rc, time - $start))
            or diag($t->read_file("$out.err"));
        ok($got eq $want, "ncat $type $host: BULK pattern intact");
        unlink $out;
    }
}

# --- amtterm through proxychains4 --------------------------------------------------

SKIP: {
    skip 'amtterm or proxychains4 not installed', 2
        unless -x '/usr/bin/amtterm' && -x '/usr/bin/proxychains4';
    my $pc = $t->write_file('proxychains.conf', <<"PC");
strict_chain
proxy_dns
quiet_mode
tcp_read_time_out 15000
tcp_connect_time_out 8000
[ProxyList]
socks5 127.0.0.1 $px
PC
    for my $host ($fqdn->(3), $fqdn->(8)) {
        my $out = `/usr/bin/python3 $repo/t/lib/amtterm_echo.py proxychains4 -q -f $pc amtterm -u admin -p 'P\@ssw0rd' $host 16994 2>&1`;
        is($? >> 8, 0, "amtterm via proxychains4 to $host:16994: SOL echo") or diag($out);
    }
}

# --- Python requests -----------------------------------------------------------------

SKIP: {
    skip 'no /usr/bin/python3', 2 unless -x '/usr/bin/python3';
    my $py = <<'PY';
import sys, requests, urllib3
from requests.auth import HTTPDigestAuth
urllib3.disable_warnings()
proxy, url, body = sys.argv[1], sys.argv[2], open(sys.argv[3], 'rb').read()
r = requests.post(url, data=body, auth=HTTPDigestAuth('admin', 'P@ssw0rd'),
                  headers={'Content-Type': 'application/soap+xml;charset=UTF-8'},
                  proxies={'http': proxy, 'https': proxy}, verify=False, timeout=15)
print(r.status_code)
print(r.text)
PY
    my $pyf = $t->write_file('req.py', $py);
    for my $c (["http://" . $guid->(5) . ":16992/wsman", 5],
               ["https://" . $fqdn->(1) . ":16993/wsman", 1]) {
        my ($url, $i) = @$c;
        my ($f, $h) = ($fqdn->($i), 'dev' . ($i - 1));
        my $out = `/usr/bin/python3 $pyf socks5h://127.0.0.1:$px $url $repo/sim/get-general-settings.xml 2>&1`;
        like($out, qr/\A200\n.*AMT_GeneralSettings.*HostName>$h<.*HostOSFQDN>\Q$f\E</s,
             "python requests socks5h + HTTPDigestAuth $url: 200 GetResponse") or diag($out);
    }
}

# --- console authentication ---------------------------------------------------------

{
    my $g = $guid->(7);
    my ($code, $body) = curl("--socks5-hostname 127.0.0.1:$pxa -U 'admin:P\@ssw0rd'", $ct,
                             "--data-binary \@$repo/sim/identify.xml", "http://$g:16992/wsman");
    is($code, 200, 'auth: curl --socks5-hostname -U admin: 200');
    like($body, qr/IdentifyResponse/, 'auth: IdentifyResponse');
    ($code, $body) = curl("--socks5-hostname 127.0.0.1:$pxa --proxy-user 'admin:P\@ssw0rd'", $ct,
                          "--data-binary \@$repo/sim/identify.xml", "http://" . $fqdn->(4) . ":16992/wsman");
    is($code, 200, 'auth: curl --socks5-hostname --proxy-user admin (by FQDN): 200');

    ($code, $body) = curl("--socks5-hostname 127.0.0.1:$pxa -U 'admin:wrong'", $ct,
                          "--data-binary \@$repo/sim/identify.xml", "http://$g:16992/wsman");
    isnt($code, 200, "auth: curl with a wrong password refused ($code)");
    ($code, $body) = curl("--socks5-hostname 127.0.0.1:$pxa", $ct,
                          "--data-binary \@$repo/sim/identify.xml", "http://$g:16992/wsman");
    isnt($code, 200, "auth: curl without credentials refused ($code)");

    # raw: wrong password is answered 01 01 and closed
    my $w = tcp_connect($pxa);
    send_all($w, "\x05\x01\x02");
    my $r = read_exact($w, 2, T(5));
    send_all($w, pack('C C/a* C/a*', 1, 'admin', 'wrong'));
    my ($rest, $eof) = read_to_eof($w, T(5));
    is(hexs($r . $rest), '05 02 01 01', 'auth: SOCKS5 wrong password: 05 02, then 01 01');
    ok($eof, 'auth: ... and closed');
    close $w;
    my ($s, $rep, $all) = socks5_open($pxa, $g, 16992, user => 'admin', pass => 'P@ssw0rd');
    is($rep, 0, 'auth: raw SOCKS5 RFC 1929 admin: success');
    if ($s) {
        send_all($s, "BULK 100000\n");
        my ($data, $eof) = read_to_eof($s, T(10));
        ok(length($data) == 100000 && $eof && pattern_ok(0, $data), 'auth: BULK 100000 through it');
        close $s;
    }

    ($code, $body) = curl("-p -x http://127.0.0.1:$pxa --proxy-user 'admin:P\@ssw0rd'", $ct,
                          "--data-binary \@$repo/sim/identify.xml", "http://$g:16992/wsman");
    is($code, 200, 'auth: curl CONNECT with --proxy-user: 200');
    ($code, $body) = curl("-k -p -x http://127.0.0.1:$pxa --proxy-user 'admin:P\@ssw0rd'", $ct,
                          "--digest -u 'admin:P\@ssw0rd' --data-binary \@$repo/sim/get-general-settings.xml",
                          "https://" . $fqdn->(7) . ":16993/wsman");
    is($code, 200, 'auth: curl CONNECT with --proxy-user, TLS end to end: 200');

    my (undef, $st, $head, $b) = connect_open($pxa, "$g:16992");
    is($st, 407, 'auth: CONNECT without Proxy-Authorization: 407');
    like($head, qr/^Proxy-Authenticate: Basic realm="fcfh"\r?$/mi, 'auth: 407 has Proxy-Authenticate Basic realm="fcfh"');
    (undef, $st) = connect_open($pxa, "$g:16992", auth => 'admin:wrong');
    is($st, 407, 'auth: CONNECT with a wrong password: 407');
    ($s, $st) = connect_open($pxa, "$g:16992", auth => 'admin:P@ssw0rd');
    is($st, 200, 'auth: raw CONNECT with Basic admin: 200');
    if ($s) {
        send_all($s, "BULK 65536\n");
        my ($data, $eof) = read_to_eof($s, T(10));
        ok(length($data) == 65536 && $eof, 'auth: BULK 65536 through CONNECT');
        close $s;
    }
    # the open front door does not ask
    ($s, $st) = connect_open($px, "$g:16992");
    is($st, 200, 'no auth file: CONNECT without credentials: 200');
    close $s if $s;
}

# --- pipelining and half close ---------------------------------------------------------

{
    # greeting and request in one segment (RFC 1928 allows it; the parser
    # is documented to keep the bytes after a message)
    my $s = tcp_connect($px);
    send_all($s, "\x05\x01\x00" . socks5_request_bytes($guid->(6), 16992));
    my $r = read_exact($s, 12, T(5));
    is(hexs($r), '05 00 05 00 00 01 00 00 00 00 00 00',
       'pipelined greeting + request: 05 00, then the success reply (no further console bytes needed)');
    close $s;

    # half close after the request: the device's answer still arrives
    for my $i (6, 7, 8) {
        my ($c, $rep) = socks5_open($px, $guid->($i), 16992);
        is($rep, 0, "dev$i: SOCKS5 open for the half-close case");
        next unless $c;
        send_all($c, "BULK 1000\n");
        shutdown($c, 1);
        my ($data, $eof) = read_to_eof($c, T(10));
        is(length $data, 1000, "dev$i: after a half close the 1000 bytes arrive");
        ok($eof, "dev$i: ... then EOF");
        close $c;
    }
}

# --- simulator counters -----------------------------------------------------------------

my $stats = $t->sim_stats($sim) // {};
cmp_ok(($stats->{channels_opened} // 0) - ($stats0->{channels_opened} // 0), '>=', 30,
       'simulator: channels_opened increased (' . ($stats->{channels_opened} // 0) . ')');
cmp_ok($stats->{bulk_transfers} // 0, '>=', 6, 'simulator: bulk transfers counted');
cmp_ok($stats->{sol_sessions} // 0, '>=', 2, 'simulator: SOL sessions counted');
is($stats->{window_violations}, 0, 'simulator: window_violations 0');
is($stats->{protocol_errors}, 0, 'simulator: protocol_errors 0');
is($stats->{established}, 8, 'simulator: all 8 tunnels still established');

my @err = grep { /\[error\]/ } split /\n/, $t->error_log;
ok(!@err, 'no [error] lines') or diag(join "\n", @err[0 .. ($#err < 9 ? $#err : 9)]);

$t->done_testing;
