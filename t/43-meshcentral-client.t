#!/usr/bin/perl
# An APF device nobody here wrote: MeshCentral's CIRA client
# (agents/modules_meshcmd/amt-apfclient.js from the npm package
# "meshcentral", run by the package's own agents/meshagent_x86-64) against
# the gateway.
#
# How: the package is installed once into build/peer (as bench/peer.sh
# does; reruns reuse it; no npm or no registry: skip).  The client speaks
# APF over a WebSocket, so t/lib/ws-tls-bridge.js (Node.js, with the `ws`
# package the install brings) takes its frames on 127.0.0.1 at /apf.ashx
# and opens a TLS connection to the gateway's device port per WebSocket;
# it hands the gateway's bytes back one whole APF message per frame, the
# only way this client parses them.  A small driver script next to a copy
# of amt-apfclient.js starts the client with a GUID, a name and a
# keepalive period.  On CHANNEL_OPEN the client connects to
# clientaddress:<port> (no port mapping, and it forwards 16992 and 16993
# only), so the test's own HTTP server listens on port 16992 of a random
# 127.x.y.z loopback address (the first one found free) and answers a
# known body with the request line.
#
# Checks: the handshake as shipped completes with std_config's tunnel
# server (the gateway sends nothing the client does not implement); the
# tunnel is listed by fcfh_status and fcfh_api with the client's GUID,
# name and ports; a second client on a tunnel server with a 6 s idle
# timeout is held 15 s by its own keepalives; consoles reach the device
# through SOCKS5, HTTP CONNECT and fcfh_pass, by GUID and by name, and get
# the HTTP server's answer, and 1 MB comes back intact; DELETE on
# fcfh_api ends the client's tunnel (DISCONNECT, which the client does not
# implement either: it closes).
#
# The client ends its connection on any message it does not implement,
# KEEPALIVE_OPTIONS_REQUEST (210) among them: a gateway that sends one to
# a device that never forwarded 5900 fails the first check, and the
# client's log (in the diagnostics) says "CMD: 210 is not implemented".
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Fcntl qw(:flock);
use File::Copy qw(copy);
use JSON::PP;
use FcfhTest qw(:all);

my $MCVER = '1.1.55';       # the version bench/peer.sh compares with

my $repo = repo_dir();
my $peer = "$repo/build/peer";
my $mc = "$peer/node_modules/meshcentral";
my $agent = "$mc/agents/meshagent_x86-64";
my $apfjs = "$mc/agents/modules_meshcmd/amt-apfclient.js";

sub which { my $p = `command -v $_[0] 2>/dev/null`; chomp $p; $p }

plan skip_all => "MeshCentral's agent binary is for x86_64 only"
    unless (POSIX::uname())[4] eq 'x86_64';
my $node = which('node') or plan skip_all => 'no node (Node.js) on PATH';

# --- the package: installed once, under a lock --------------------------------

sub mc_version {
    open my $fh, '<', "$mc/package.json" or return '';
    my $j = eval { JSON::PP->new->decode(do { local $/; <$fh> }) };
    return $j ? $j->{version} // '' : '';
}

sub ws_module {
    for ("$mc/node_modules/ws", "$peer/node_modules/ws") {
        return $_ if -f "$_/package.json";
    }
    return;
}

{
    system('mkdir', '-p', $peer) == 0 or die "mkdir $peer\n";
    open my $lk, '>', "$peer/.install.lock" or die "lock: $!";
    flock($lk, LOCK_EX) or die "flock: $!";
    unless (mc_version() eq $MCVER && -f $agent && -f $apfjs && ws_module()) {
        my $npm = which('npm') or plan skip_all => 'no npm to install meshcentral';
        my $t0 = time;
        system("cd '$peer' && timeout 900 '$npm' install --no-audit --no-fund "
               . "meshcentral\@$MCVER > npm.log 2>&1");
        my $rc = $? >> 8;
        my $tail = `tail -3 '$peer/npm.log'`;
        $tail =~ s/\s+/ /g;
        plan skip_all => "npm install meshcentral\@$MCVER failed (exit $rc): $tail"
            unless $rc == 0 && mc_version() eq $MCVER && -f $agent && -f $apfjs
                   && ws_module();
        diag(sprintf 'installed meshcentral@%s into %s in %.0f s', $MCVER, $peer,
             time - $t0);
    }
    close $lk;
}
my $ws = ws_module();

# --- the device side's HTTP server: port 16992 on a free loopback address ------

my $token = sprintf 'fcfh-mesh-%08x', int(rand(0xffffffff));
my ($haddr, $hsock);
for (1 .. 20) {
    my $a = join '.', 127, map { 1 + int rand 254 } 1 .. 3;
    $hsock = IO::Socket::INET->new(LocalAddr => $a, LocalPort => 16992,
                                   Proto => 'tcp', Listen => 16, ReuseAddr => 1)
        and do { $haddr = $a; last };
}
plan skip_all => "port 16992 is taken on every loopback address tried (the client"
    . " connects to clientaddress:16992, no other port)" unless $hsock;

my @kids;           # [pid, name] of every process this test started

my $t = FcfhTest->new;
my $p = $t->prefix;

# the package ships the agent without its execute bit: run a copy
copy($agent, "$p/meshagent") && chmod(0755, "$p/meshagent") or die "copy agent: $!";

sub spawn {
    my ($name, $dir, $log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        # no END blocks in the child: they would stop the parent's nginx
        chdir $dir or POSIX::_exit(126);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec @cmd; }
        POSIX::_exit(127);
    }
    push @kids, [$pid, $name];
    return $pid;
}

sub stop_pid {
    my ($pid) = @_;
    return unless $pid && waitpid($pid, WNOHANG) == 0;
    kill 'TERM', $pid;
    unless (FcfhTest::wait_for(sub { waitpid($pid, WNOHANG) != 0 }, 3)) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
}

sub exited { my ($pid) = @_; waitpid($pid, WNOHANG) != 0 || !kill(0, $pid) }

END { stop_pid($_->[0]) for reverse @kids; }

# HTTP server: answers each request with "<token> <request line>\n", or
# GET /big/N with N bytes of a pattern
sub big { substr('0123456789abcdef' x ($_[0] / 16 + 1), 0, $_[0]) }
my $hpid = fork // die "fork: $!";
if (!$hpid) {
    $SIG{TERM} = sub { POSIX::_exit(0) };
    $SIG{INT} = 'DEFAULT';
    eval {
        while (my $c = $hsock->accept) {
            my $req = '';
            my $deadline = time + 5;
            while ($req !~ /\r\n\r\n/ && time < $deadline) {
                my $rin = ''; vec($rin, fileno($c), 1) = 1;
                select($rin, undef, undef, 0.2) or next;
                sysread($c, $req, 4096, length $req) or last;
            }
            my ($line) = $req =~ /^([^\r\n]*)/;
            my $body = $line =~ m{^GET /big/(\d+) } ? big($1) : "$token $line\n";
            syswrite($c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         . 'Content-Length: ' . length($body)
                         . "\r\nConnection: close\r\n\r\n$body");
            close $c;
            if (open my $l, '>>', "$p/http.log") { print $l "$line\n"; close $l }
        }
    };
    POSIX::_exit(0);
}
push @kids, [$hpid, 'http'];
close $hsock;
diag("device HTTP server on $haddr:16992");

# --- gateway ---------------------------------------------------------------------

$t->write_config(std_config(
    stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }
    server {
        listen 127.0.0.1:%%PORT_5%% ssl;
        ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        fcfh_tunnel;
        fcfh_auth_file %%CERTS%%/devices.htpasswd;
        fcfh_idle_timeout 6s;
        fcfh_keepalive 5s;
    }',
    http => '
    server {
        listen 127.0.0.1:%%PORT_4%%;
        location / { fcfh_pass; }
    }
    server {
        listen 127.0.0.1:%%PORT_6%%;
        location /api/ { fcfh_api; }
    }'));
$t->run;
my ($sport, $px, $pass, $api) = map { $t->port($_) } 2, 3, 4, 6;

# --- bridges and clients -----------------------------------------------------------

# A: std_config's tunnel server; B: the one with a 6 s idle timeout
my %dev = (
    A => { gw => $t->port(1), guid => '6d0f4c1e-1b2a-4c3d-8e4f-5a6b7c8d9e01',
           name => 'mesh-a.example.test', keepalive => 20000 },
    B => { gw => $t->port(5), guid => '6d0f4c1e-1b2a-4c3d-8e4f-5a6b7c8d9e02',
           name => 'mesh-b.example.test', keepalive => 2000 },
);

for my $k (sort keys %dev) {
    my $d = $dev{$k};
    my $dir = "$p/client-$k";
    mkdir $dir or die "$dir: $!";
    $d->{blog} = "$p/bridge-$k.log";
    $d->{bpid} = spawn("bridge $k", $p, $d->{blog}, $node, "$repo/t/lib/ws-tls-bridge.js",
                       $ws, 0, $d->{gw}, "$p/bridge-$k.port");
    my $port;
    FcfhTest::wait_for(sub { ($port) = $t->read_file("bridge-$k.port") =~ /(\d+)/ }, T(10))
        or die "bridge $k did not start: " . $t->read_file($d->{blog});

    # the agent resolves require('amt-apfclient') next to the script only
    copy($apfjs, "$dir/amt-apfclient.js") or die "copy: $!";
    my $args = JSON::PP->new->canonical->encode({
        mpsurl => "ws://127.0.0.1:$port/apf.ashx", mpsuser => 'admin',
        mpspass => 'P@ssw0rd', mpskeepalive => $d->{keepalive},
        clientname => $d->{name}, clientaddress => $haddr,
        clientuuid => $d->{guid}, conntype => 0 });
    $t->write_file("$dir/driver.js", <<"JS");
var client = require('amt-apfclient')({ debug: true }, $args);
client.onChannelClosed = function () {
    console.log('DRIVER: connection closed');
    process.exit(0);
};
setTimeout(function () { console.log('DRIVER: time limit'); process.exit(3); }, 180000);
client.connect();
JS
    $d->{clog} = "$dir/client.log";
    $d->{cpid} = spawn("client $k", $dir, $d->{clog}, "$p/meshagent", 'driver.js');
}

sub clog { $t->read_file($dev{$_[0]}{clog}) }
sub blog { $t->read_file($dev{$_[0]}{blog}) }
sub tail_of { my @l = split /\n/, $_[0]; join "\n", @l > 25 ? @l[-25 .. -1] : @l }
sub why {
    my ($k) = @_;
    diag("client $k log:\n" . tail_of(clog($k)) . "\nbridge $k log:\n" . tail_of(blog($k)));
}

# --- handshake -------------------------------------------------------------------

my %up;
for my $k (sort keys %dev) {
    my $d = $dev{$k};
    my $ready = FcfhTest::wait_for(sub {
        clog($k) =~ /Start keep alive|not implemented|Connection is closing|DRIVER/
    }, T(20));
    # a moment more: a gateway message the client does not implement would
    # end the connection right after the forwards
    sleep 1 if $ready;
    my $log = clog($k);
    my $ok = ok($log =~ /Request to port forward 16993 successful/
                && $log =~ /Start keep alive/
                && $log !~ /not implemented|Connection is closing|DRIVER/
                && !exited($d->{cpid}),
                "client $k ($d->{name}): handshake as shipped completes and the connection stays");
    unless ($ok) {
        my @ni = $log =~ /(CMD: \d+ is not implemented)/g;
        diag("client $k: @ni") if @ni;
        why($k);
    }
    $up{$k} = $ok;
    my @from_gw = blog($k) =~ /gw->dev (\S+)/g;
    ok(!grep({ !/^(SERVICE_ACCEPT|USERAUTH_SUCCESS|REQUEST_SUCCESS|KEEPALIVE_REPLY)$/ }
             @from_gw), "client $k: the gateway sent only messages the client implements")
        or diag("gateway to client $k: @from_gw");
}
my $hs = blog('A');
my $seq = join '.*', map { quotemeta }
    'dev->gw text PROTOCOLVERSION 93', 'gw->dev SERVICE_ACCEPT 23',
    'dev->gw text USERAUTH_REQUEST', 'gw->dev USERAUTH_SUCCESS 1',
    'gw->dev SERVICE_ACCEPT 23', 'dev->gw text GLOBAL_REQUEST',
    'gw->dev REQUEST_SUCCESS 5', 'dev->gw text GLOBAL_REQUEST', 'gw->dev REQUEST_SUCCESS 5';
like($hs, qr/$seq/s,
     'client A: PROTOCOLVERSION, auth, pfwd, two forwards (text frames), both answered');

# --- listed with its GUID and name ---------------------------------------------------

my @upk = grep { $up{$_} } sort keys %dev;
my $doc = @upk ? wait_status($sport, sub { my $d = $_; !grep { !find_tunnel($d, $dev{$_}{guid}) } @upk },
                             T(5)) : undef;
for my $k (sort keys %dev) {
    SKIP: {
        skip "client $k is not connected", 3 unless $up{$k};
        my $e = find_tunnel($doc // $FcfhTest::LAST_STATUS, $dev{$k}{guid}) // {};
        is($e->{fqdn}, $dev{$k}{name},
           "fcfh_status: client $k listed under its clientuuid with its clientname")
            or diag(explain $FcfhTest::LAST_STATUS);
        is_deeply([sort @{ $e->{ports} // [] }], [16992, 16993],
                  "fcfh_status: client $k forwards 16992, 16993");
        my ($st, undef, $body) = http_get($api, "/api/tunnels/$dev{$k}{name}");
        my $j = eval { JSON::PP->new->decode($body // '') } // {};
        is(($st // 0) . ' ' . ($j->{guid} // ''), "200 $dev{$k}{guid}",
           "fcfh_api finds client $k by name, with its GUID");
    }
}

my $t_keep = time;      # B's hold starts here; the consoles run meanwhile

# --- consoles: SOCKS5, CONNECT, fcfh_pass, by GUID and by name -----------------------

sub curl {
    my $out = `curl -s -S -m 15 -w '\\n%{http_code}' @_ 2>&1`;
    my ($body, $code) = $out =~ /^(.*)\n(\d+)$/s;
    return ($code // 0, $body // $out);
}

SKIP: {
    skip 'client A is not connected', 14 unless $up{A};
    my %door = (socks5 => "--socks5-hostname 127.0.0.1:$px",
                connect => "-p -x http://127.0.0.1:$px",
                pass => "-x http://127.0.0.1:$pass");
    for my $how (qw(socks5 connect pass)) {
        for my $by (qw(guid name)) {
            my $host = $by eq 'guid' ? uc $dev{A}{guid} : $dev{A}{name};
            my $path = "/$how-by-$by";
            my ($code, $body) = curl($door{$how}, "http://$host:16992$path");
            is($code, 200, "$how by $by: 200");
            is($body, "$token GET $path HTTP/1.1\n",
               "$how by $by: the device's HTTP server answered this request") or why('A');
        }
    }
    # the client sends what it reads (4 KiB pieces) without looking at
    # the channel window: 1 MB through the 32 KiB window
    my $n = 1000000;
    my ($code, $body) = curl($door{socks5}, "http://$dev{A}{guid}:16992/big/$n");
    ok($code == 200 && $body eq big($n), "1 MB from the device through SOCKS5, intact")
        or diag("$code, " . length($body) . ' bytes');
    ok(find_tunnel(status_json($sport), $dev{A}{guid}), 'client A still up after it');
}

# --- keepalives hold B past a 6 s idle timeout ------------------------------------------

SKIP: {
    skip 'client B is not connected', 4 unless $up{B};
    my $hold = 15;
    sleep($t_keep + $hold - time) if time < $t_keep + $hold;
    my $e = find_tunnel(status_json($sport), $dev{B}{guid});
    ok($e && !exited($dev{B}{cpid}) && clog('B') !~ /Connection is closing|DRIVER/,
       "client B held ${hold} s on a 6 s idle timeout") or why('B');
    my $n = () = blog('B') =~ /dev->gw text KEEPALIVE_REQUEST/g;
    my $r = () = blog('B') =~ /gw->dev KEEPALIVE_REPLY/g;
    my $nws = () = blog('B') =~ /websocket from/g;
    is($nws, 1, 'client B connected once (no reconnection)');
    cmp_ok($n, '>=', 5, "client B sent keepalives ($n)");
    ok($r == $n || $r == $n - 1, "the gateway answered each ($r)");
}

# --- DELETE on fcfh_api ends the client's tunnel ------------------------------------------

for my $k (sort keys %dev) {
    SKIP: {
        skip "client $k is not connected", 5 unless $up{$k};
        my $d = $dev{$k};
        my $id = $k eq 'A' ? $d->{guid} : $d->{name};
        my ($st, undef, $body) = http_request($api, 'DELETE', "/api/tunnels/$id");
        is($st, 200, "DELETE /api/tunnels/$id: 200") or diag($body);
        ok(FcfhTest::wait_for(sub { exited($d->{cpid}) }, T(10)),
           "client $k: its connection ended (the driver exits)") or why($k);
        like(blog($k), qr/gw->dev DISCONNECT 7 reason 11/, "client $k got DISCONNECT by application");
        like(clog($k), qr/Connection is closing/, "client $k saw its connection close");
        ok(wait_status($sport, sub { !find_tunnel($_, $d->{guid}) }, T(5)),
           "client $k no longer listed");
    }
}

my @served = split /\n/, $t->read_file('http.log');
diag(scalar(@served) . ' requests reached the device HTTP server');

$t->done_testing;
