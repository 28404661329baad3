#!/usr/bin/perl
# Device names: a name reaches the device that owns it or nothing.  Names
# a credentials line lists are that user's; a name held by another
# device's live tunnel is refused (fqdn_conflict event), in both orders;
# the same device reconnecting keeps its name; names must be DNS names or
# IP literals; fcfh_device_names binds names per identity (exact, suffix,
# regex, the client certificate).
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $t = FcfhTest->new;
my $C = $t->certs;

my %G = map { $_ => sprintf('00000000-0000-4000-8000-0000000f%04x', $_) } 1 .. 40;
my $hash = sub { my $h = `openssl passwd -apr1 '$_[0]'`; chomp $h; $h };
$t->write_file('devices.htpasswd', join '',
    "admin:" . $hash->('P@ssw0rd') . "\n",
    "dev1:" . $hash->('dev1-secret') . ":$G{1}:dev1.example.test\n",
    "dev2:" . $hash->('dev2-secret') . ":$G{2}\n",
    "lab:" . $hash->('lab-secret') . ":*:*.lab.example.test,~^rx[0-9]+\\.example\\.test\$\n");

$t->write_config(std_config(auth => '%%PREFIX%%/devices.htpasswd', stream => '
    map $ssl_client_s_dn $dev_identity {
        "~CN=(?<cn>amt-device-[0-9]+)"  $cn;
        default                          "";
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }
    server {
        listen 127.0.0.1:%%PORT_5%% ssl;
        ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        ssl_verify_client on;
        ssl_client_certificate %%CERTS%%/ca.crt;
        fcfh_tunnel;
        fcfh_cert_identity $dev_identity;
        fcfh_device_guids *;
        fcfh_device_names certificate;
    }',
    http => 'server {
        listen 127.0.0.1:%%PORT_4%%;
        location = /events { fcfh_events; }
    }'));
$t->run;
my ($port, $sport, $px) = ($t->port(1), $t->port(2), $t->port(3));
my $events = sse_subscribe($t->port(4), '/events');

sub device {
    my ($guid, $user, $pass, $fqdn, %o) = @_;
    my $d = FcfhApf->connect($o{port} // $port, %{$o{connect} // {}}) or return;
    $d->handshake($guid, $user, $pass, [16992], $fqdn, %o);
    return $d;
}

sub name_of { (find_tunnel(status_json($sport), $_[0]) // {})->{fqdn} }

# which device a console naming $host reaches: the one that gets the open
sub reached {
    my ($host, @devs) = @_;
    my $s = socks5_begin($px, $host, 16992) or return 'none';
    my $who = 'none';
    for my $i (0 .. $#devs) {
        my $m = $devs[$i]->read_msg(T(1)) or next;
        next unless $m->{type} == CHANNEL_OPEN;
        $devs[$i]->send(channel_failure($m->{sender}, 2));
        $who = $i;
        last;
    }
    my ($rep) = socks5_finish($s, T(3));
    close $s;
    return wantarray ? ($who, $rep) : $who;
}

# --- a name a credentials line lists is its user's, in both orders --------

my $mark = $t->log_mark;
my $sq = device($G{2}, 'dev2', 'dev2-secret', 'dev1.example.test');
ok($sq->{established}, 'dev2 connects, naming itself as dev1');
is(name_of($G{2}), undef, "dev1's name is not registered for dev2");
ok($t->wait_for_log(qr/device name "dev1\.example\.test" not registered: bound to another identity/,
                    T(3), $mark), 'the refusal is logged');
my ($who, $rep) = reached('dev1.example.test', $sq);
is($who, 'none', 'a console naming dev1 does not reach dev2');
is($rep, 4, '... it gets "host unreachable"');

my $d1 = device($G{1}, 'dev1', 'dev1-secret', 'dev1.example.test');
ok($d1->{established}, 'dev1 connects with its name');
is(name_of($G{1}), 'dev1.example.test', 'dev1 holds its name');
is(scalar(grep { reached('dev1.example.test', $d1, $sq) eq '0' } 1 .. 5), 5,
   'consoles naming dev1 reach dev1, 5 of 5');

my $sq2 = device($G{3}, 'admin', 'P@ssw0rd', 'DEV1.example.test');
ok($sq2->{established}, 'another device connects after dev1, naming itself as dev1');
is(name_of($G{3}), undef, '... the name stays with dev1');
is(scalar(grep { reached('dev1.example.test', $d1, $sq2) eq '0' } 1 .. 5), 5,
   'consoles still reach dev1, 5 of 5');

# --- without a binding: the live holder keeps the name -----------------------

$mark = $t->log_mark;
my $a = device($G{4}, 'admin', 'P@ssw0rd', 'shared.example.test');
my $b = device($G{5}, 'admin', 'P@ssw0rd', 'shared.example.test');
ok($a->{established} && $b->{established}, 'two devices claim one name');
is(name_of($G{4}), 'shared.example.test', 'the first holds it');
is(name_of($G{5}), undef, 'the second is not registered by it');
my $line = $t->wait_for_log(qr/device name "shared\.example\.test" is held by device/, T(3), $mark);
my $holder = $G{4};
like($line // '', qr/\Q$holder\E/, 'the refusal names the holder');
my $ev = sse_wait($events, sub { $_[0]{event} eq 'fqdn_conflict' }, T(3));
ok($ev, 'an fqdn_conflict event');
is_deeply([@{$ev->{json} // {}}{qw(guid holder fqdn)}], [$G{5}, $G{4}, 'shared.example.test'],
          '... naming both devices and the name');
is(reached('shared.example.test', $a, $b), 0, 'consoles reach the holder');

# the holder reconnecting (newest wins) keeps its name
my $a2 = device($G{4}, 'admin', 'P@ssw0rd', 'shared.example.test');
ok($a2->{established}, 'the holder reconnects');
ok(wait_for(sub { my $e = find_tunnel(status_json($sport), $G{4});
                  $e && $e->{fqdn} && $e->{fqdn} eq 'shared.example.test'
                  && $e->{peer} =~ /:\Q@{[$a2->sock->sockport]}\E$/ }, T(3)),
   'the same device reconnecting keeps its name');
is(reached('shared.example.test', $a2, $b), 0, 'consoles reach its new tunnel');
$a->close;

# --- names must be names -------------------------------------------------------

$mark = $t->log_mark;
my @bad = ("bad\r\nname.example.test", "\e[31mred", "x\x00y", "\xff\xfe\xc3", 'a..b',
           'trailing-.example.test', $G{9}, 'x' x 64 . '.example.test', 'sp ace', '"quoted"');
my $i = 10;
for my $n (@bad) {
    my $d = device($G{$i}, 'admin', 'P@ssw0rd', $n);
    (my $show = $n) =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    ok($d->{established}, "forward with name \"$show\" still succeeds");
    is(name_of($G{$i}), undef, "... but \"$show\" is not registered");
    $i++;
}
ok($t->wait_for_log(qr/device name "\\x1b\[31mred" not registered: not a DNS name or IP address/,
                    T(3), $mark), 'a refused name is logged escaped');
ok($t->wait_for_log(qr/not registered: a GUID is not a name/, T(3), $mark),
   'a GUID as a name is refused');
my $log = substr($t->error_log, $mark);
ok($log !~ /[\x00-\x08\x0b-\x1f\x7f]/, 'no raw control byte reached the error log');
is(scalar(() = $log =~ /\n/g), scalar(() = $log =~ /^\d{4}\/\d\d\/\d\d /mg),
   'every log line is a line nginx wrote');

for my $n ('10.1.2.3', '[fd00::1]') {
    my $d = device($G{$i++}, 'admin', 'P@ssw0rd', $n);
    (my $want = $n) =~ tr/[]//d;
    is(name_of($G{$i - 1}), $want, "an IP literal ($n) is a name");
}

# --- bindings: the fourth field ------------------------------------------------

my $l1 = device($G{30}, 'lab', 'lab-secret', 'bench3.LAB.example.test');
is(name_of($G{30}), 'bench3.lab.example.test', 'suffix binding allows a name under it');
my $l2 = device($G{31}, 'lab', 'lab-secret', 'rx42.example.test');
is(name_of($G{31}), 'rx42.example.test', 'regex binding allows a matching name');
$mark = $t->log_mark;
my $l3 = device($G{32}, 'lab', 'lab-secret', 'lab.example.test');
is(name_of($G{32}), undef, 'the suffix itself is not under it');
my $l4 = device($G{33}, 'lab', 'lab-secret', 'rx4x.example.test');
is(name_of($G{33}), undef, 'a name outside every pattern is refused');
ok($t->wait_for_log(qr/"rx4x\.example\.test" not registered: not in the names/, T(3), $mark),
   '... with a notice');

# --- renaming is bounded ----------------------------------------------------------

my $r = device($G{34}, 'admin', 'P@ssw0rd', 'r0.example.test');
$r->send(map { global_forward("r$_.example.test", 16992, 1) } 1 .. 24);
my $ok = 0;
for (1 .. 24) { my $m = $r->read_msg(T(3)) or last; $ok++ if $m->{type} == REQUEST_SUCCESS }
is($ok, 24, 'every forward is answered');
is(name_of($G{34}), 'r15.example.test', 'a tunnel claims at most 16 names');
ok($r->ping(1, T(3)), 'the renaming device is still served');

# --- the client certificate names the device ---------------------------------------

my %tls1 = (cert => "$C/device1.crt", key => "$C/device1.key");
my $c1 = device($G{35}, 'amt', undef, 'amt-device-1', port => $t->port(5),
                method => 'none', connect => \%tls1);
ok($c1->{established}, 'a certificate device connects');
is(name_of($G{35}), 'amt-device-1', 'the name its certificate holds is registered');
my $c2 = device($G{36}, 'amt', undef, 'amt-device-2', port => $t->port(5),
                method => 'none', connect => \%tls1);
ok($c2->{established}, 'the same certificate on another GUID connects');
is(name_of($G{36}), undef, 'a name its certificate does not hold is refused');

# --- nginx -t checks a literal list ------------------------------------------------

my $t2 = FcfhTest->new;
$t2->write_config(std_config(server => 'fcfh_device_names "dev1.example.test bad..name";'));
my ($out, $rc) = $t2->nginx_t;
isnt($rc, 0, 'nginx -t refuses an invalid name list');
like($out, qr/invalid "fcfh_device_names" list/, '... and says which');

close $events->{sock};
$t->done_testing;
