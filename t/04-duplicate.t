#!/usr/bin/perl
# Duplicate GUIDs: the same identity replaces its old tunnel; another
# identity cannot take over a GUID that is held.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config());
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
is($doc && $doc->{tunnels_total}, 1, 'one tunnel for the GUID');
is(scalar(grep { $_->{guid} eq $G } @{$doc->{tunnels} // []}), 1, 'listed once');
my $byfqdn = status_json($sport, '?device=old.example.test');
is($byfqdn && $byfqdn->{_http_status}, 404, 'old fqdn no longer resolves');
ok($new->ping(1, T(3)), 'new tunnel answers keepalives');

# --- same GUID, different identity: the newcomer is refused ---------------------

my $G1 = '00000000-0000-4000-8000-000000000001';     # bound to dev1 in htpasswd
my $h = tunnel($G1, 'admin', 'P@ssw0rd', 'holder.example.test');   # admin may use any GUID
ok($h && $h->{established}, 'admin holds the GUID of dev1');
$doc = wait_status($sport, sub { find_tunnel($_, $G1) }, T(3));
my $held = find_tunnel($doc, $G1) // {};

my $x = FcfhApf->connect($port);
my $got = $x->handshake($G1, 'dev1', 'dev1-secret', [16992], 'intruder.example.test');
ok(!$x->{established}, 'newcomer with another identity not established');
is($x->expect_disconnect(T(3)), 1, 'newcomer gets DISCONNECT(1)');
ok(!grep({ $_->{type} == USERAUTH_SUCCESS } @$got, @{$x->{before_disconnect}}),
   'newcomer never saw USERAUTH_SUCCESS');
ok($x->wait_closed(T(3)), 'newcomer closed');

ok($h->ping(2, T(3)), 'holder untouched: answers keepalives');
$doc = status_json($sport);
my $now = find_tunnel($doc, $G1) // {};
is($now->{serial}, $held->{serial}, 'holder keeps its serial');
is($now->{peer}, $held->{peer}, 'holder keeps its peer');
is($now->{identity}, 'admin', 'holder keeps its identity');
is($doc->{tunnels_total}, 2, 'two tunnels in total');

$new->close;
$h->close;
ok(wait_status($sport, sub { $_->{tunnels_total} == 0 }, T(3)), 'all gone after close');

$t->done_testing;
