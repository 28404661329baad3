#!/usr/bin/perl
# Duplicate GUIDs: the same identity replaces its old tunnel; another
# identity cannot take over a GUID that is held.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
my $htpasswd = $t->read_file($t->certs . '/devices.htpasswd');
$htpasswd =~ s/^(dev1:[^:\n]+):[^\n]*$/$1:00000000-0000-4000-8000-000000000001,00000000-0000-4000-8000-00000000b003 00000000-0000-4000-8000-00000000b004/m;
$htpasswd .= 'ops:' . `openssl passwd -apr1 'ops-secret'`;
$t->write_file('devices.htpasswd', $htpasswd);
$t->write_config(std_config(auth => '%%PREFIX%%/devices.htpasswd'));
$t->run;
my ($port, $sport) = ($t->port(1), $t->port(2));

sub tunnel {
    my ($guid, $user, $pass, $fqdn) = @_;
    my $c = FcfhApf->connect($port) or return;
    my $got = $c->handshake($guid, $user, $pass, [16992, 16993], $fqdn);
    $c->{got} = $got;
    return $c;
}

# --- same GUID, same identity: the newcomer wins -----------------------------

my $G = '00000000-0000-4000-8000-00000000b001';
my $old = tunnel($G, 'admin', 'P@ssw0rd', 'old.example.test');
ok($old && $old->{established}, 'first tunnel established');
my $doc = wait_status($sport, sub { find_tunnel($_, $G) }, T(3));
my $first = find_tunnel($doc, $G) // {};
is($first->{peer}, '127.0.0.1:' . $old->sock->sockport, 'status shows the first peer');

my $new = tunnel($G, 'admin', 'P@ssw0rd', 'new.example.test');
ok($new && $new->{established}, 'second tunnel with the same GUID and identity established')
    or diag(explain $new && $new->{got});
is($old->expect_disconnect(T(3)), 11, 'old tunnel gets DISCONNECT(11)');
ok($old->wait_closed(T(3)), 'old tunnel closed');

my $bpeer = '127.0.0.1:' . $new->sock->sockport;
$doc = wait_status($sport, sub { my $e = find_tunnel($_, $G); $e && $e->{peer} eq $bpeer }, T(3));
ok($doc, 'status shows the new peer') or diag(explain $FcfhTest::LAST_STATUS);
my $second = find_tunnel($doc, $G) // {};
ok(($second->{serial} // 0) > ($first->{serial} // 0), 'status shows a newer serial');
is($second->{fqdn}, 'new.example.test', 'status shows the new fqdn');
is($doc && $doc->{total}, 1, 'one tunnel for the GUID');
is(scalar(grep { $_->{guid} eq $G } @{$doc->{tunnels} // []}), 1, 'listed once');
my $byfqdn = status_json($sport, '?device=old.example.test');
is($byfqdn && $byfqdn->{_http_status}, 404, 'old fqdn no longer resolves');
ok($new->ping(1, T(3)), 'new tunnel answers keepalives');

# --- same GUID, different identity: the newcomer is refused ---------------------

# admin and ops may register any GUID not bound to another user; dev1's
# line names ...0001 and ...b003 (see the copy of the credentials file)
my $G2 = '00000000-0000-4000-8000-00000000b002';
my $h = tunnel($G2, 'admin', 'P@ssw0rd', 'holder.example.test');
ok($h && $h->{established}, 'admin holds an unbound GUID');
$doc = wait_status($sport, sub { find_tunnel($_, $G2) }, T(3));
my $held = find_tunnel($doc, $G2) // {};

my $x = FcfhApf->connect($port);
my $got = $x->handshake($G2, 'ops', 'ops-secret', [16992], 'intruder.example.test');
ok(!$x->{established}, 'newcomer with another identity not established');
is($x->expect_disconnect(T(3)), 1, 'newcomer gets DISCONNECT(1)');
ok(!grep({ $_->{type} == USERAUTH_SUCCESS } @$got, @{$x->{before_disconnect}}),
   'newcomer never saw USERAUTH_SUCCESS');
ok($x->wait_closed(T(3)), 'newcomer closed');

ok($h->ping(2, T(3)), 'holder untouched: answers keepalives');
$doc = status_json($sport);
my $now = find_tunnel($doc, $G2) // {};
is($now->{serial}, $held->{serial}, 'holder keeps its serial');
is($now->{peer}, $held->{peer}, 'holder keeps its peer');
is($now->{identity}, 'admin', 'holder keeps its identity');
is($doc->{total}, 2, 'two tunnels in total');

# --- a GUID bound to a user is reserved for it ----------------------------------

# admin may register any GUID, but not one dev1's line names, even while
# dev1 is not connected: a squatter would get dev1's consoles
my $G1 = '00000000-0000-4000-8000-000000000001';
my $mark = $t->log_mark;
my $sq = FcfhApf->connect($port);
$got = $sq->handshake($G1, 'admin', 'P@ssw0rd', [16992], 'squat.example.test');
ok(!$sq->{established}, 'unbound identity cannot register a bound GUID');
is($sq->expect_disconnect(T(3)), 1, 'squatter gets DISCONNECT(1), as for a wrong GUID');
ok(!grep({ $_->{type} == USERAUTH_SUCCESS } @$got, @{$sq->{before_disconnect}}),
   'squatter never saw USERAUTH_SUCCESS');
ok($t->wait_for_log(qr/device identity "admin" may not register GUID \Q$G1\E/, T(3), $mark),
   'the refusal is logged like a wrong GUID');
ok(!find_tunnel(status_json($sport), $G1), 'the bound GUID is not registered');

my $d1 = tunnel($G1, 'dev1', 'dev1-secret', 'dev1.example.test');
ok($d1 && $d1->{established}, 'its owner registers it');

# a GUID named by the owner's line is the owner's even among several
my $G3 = '00000000-0000-4000-8000-00000000b003';
my $sq2 = FcfhApf->connect($port);
$sq2->handshake($G3, 'ops', 'ops-secret', [16992]);
ok(!$sq2->{established}, "a GUID in the middle of the owner's list is reserved too");
$sq2->close;

$new->close;
$h->close;
$d1->close;
ok(wait_status($sport, sub { $_->{total} == 0 }, T(3)), 'all gone after close');

# --- a binding that names the GUID takes it back from "any GUID" ----------------

# with fcfh_device_guids from a map, the gateway cannot know every bound
# GUID in advance: the identity whose binding names it displaces one
# that was merely allowed any GUID, the moment it connects
my $t2 = FcfhTest->new;
$t2->write_file('devices.htpasswd', $htpasswd);
$t2->write_config(std_config(auth => '%%PREFIX%%/devices.htpasswd', stream => <<'S',
    map $fcfh_identity $dev_guids {
        dev2     "00000000-0000-4000-8000-00000000c001";
        default  "*";
    }
S
    server => 'fcfh_device_guids $dev_guids;'));
$t2->run;
my $GC = '00000000-0000-4000-8000-00000000c001';
my $any = FcfhApf->connect($t2->port(1));
$any->handshake($GC, 'admin', 'P@ssw0rd', [16992]);
ok($any->{established}, 'an identity allowed any GUID registers an unclaimed one');
my $own = FcfhApf->connect($t2->port(1));
$own->handshake($GC, 'dev2', 'dev2-secret', [16992]);
ok($own->{established}, 'the identity whose binding names it takes it');
ok(defined $any->expect_disconnect(T(3)), 'the other tunnel is told to go');
my $e = find_tunnel(wait_status($t2->port(2), sub {
    my $x = find_tunnel($_, $GC); $x && $x->{identity} eq 'dev2' }, T(3)), $GC) // {};
is($e->{identity}, 'dev2', 'consoles now reach the owner');

# ... and once held by its owner, "any GUID" cannot take it back
my $back = FcfhApf->connect($t2->port(1));
$back->handshake($GC, 'admin', 'P@ssw0rd', [16992]);
ok(!$back->{established}, 'the owner keeps it against "any GUID"');
ok($own->ping(1, T(3)), 'the owner is untouched');
$own->close;

$t2->done_testing;
