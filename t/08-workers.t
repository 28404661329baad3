#!/usr/bin/perl
# Several workers share the registry: tunnels spread over workers, a killed
# worker's entries are swept, a reload keeps old tunnels and registers new
# ones in the new workers.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $N = 40;
my $t = FcfhTest->new;
# reuseport: the kernel spreads connections over the workers' sockets, so
# the test does not depend on which worker epoll wakes first.
$t->write_config(std_config(workers => 4, listen => 'ssl reuseport', zone => '8m'));
$t->allow_log(qr/worker process \d+ exited on signal 9/);
$t->run;
my ($port, $sport) = ($t->port(1), $t->port(2));

sub guid { sprintf '00000000-0000-4000-8000-%012x', 0x80000 + $_[0] }

my %dev;
for my $i (1 .. $N) {
    my $c = FcfhApf->connect($port) or do { fail("connect $i: $FcfhApf::ERROR"); next };
    $c->handshake(guid($i), 'admin', 'P@ssw0rd', [16992, 16993], "w$i.example.test");
    $dev{$i} = $c if $c->{established};
}
is(scalar(keys %dev), $N, "$N tunnels established");

my $doc = wait_status($sport, sub { $_->{total} == $N }, T(5));
ok($doc, "all $N in status") or diag(explain $FcfhTest::LAST_STATUS);
my %owner;    # pid -> [i...]
my %workers = map { $_ => 1 } $t->worker_pids;
for my $i (1 .. $N) {
    my $e = find_tunnel($doc, guid($i)) or next;
    push @{$owner{$e->{owner_pid}}}, $i;
}
ok(!grep({ !$workers{$_} } keys %owner), 'every owner_pid is a current worker');
ok(keys(%owner) > 1, 'tunnels spread over ' . scalar(keys %owner) . ' workers')
    or diag(explain { map { $_ => scalar @{$owner{$_}} } keys %owner });

# --- kill -9 one owner ---------------------------------------------------------

SKIP: {
    skip 'all tunnels in one worker', 6 unless keys(%owner) > 1;
    my ($victim) = sort { @{$owner{$b}} <=> @{$owner{$a}} } keys %owner;
    my @lost = @{$owner{$victim}};
    my %lost = map { $_ => 1 } @lost;
    my @kept = grep { !$lost{$_} } 1 .. $N;
    ok(kill('KILL', $victim), "kill -9 worker $victim owning " . scalar(@lost) . ' tunnels');

    ok(wait_for(sub { scalar($t->worker_pids) == 4 && !grep { $_ == $victim } $t->worker_pids },
                T(5)), 'master respawned the worker');
    $doc = wait_status($sport, sub {
        my $d = $_;
        !grep({ find_tunnel($d, guid($_)) } @lost) && $d->{total} == @kept;
    }, T(10));
    ok($doc, 'entries of the dead worker swept from status')
        or diag(explain [ map { $_->{owner_pid} } @{$FcfhTest::LAST_STATUS->{tunnels} // []} ]);
    is(scalar(grep { find_tunnel($doc, guid($_)) } @kept), scalar(@kept), 'other tunnels still listed');
    ok(!grep({ ($_->{owner_pid} // 0) == $victim } @{$doc->{tunnels} // []}), 'no entry owned by the dead pid');
    my @alive = grep { $dev{$_}->ping($_, T(3)) } @kept[0 .. 4];
    is(scalar(@alive), 5, 'tunnels of other workers still answer');
    delete @dev{@lost};

    # the GUID of a lost tunnel can register again at once
    my $c = FcfhApf->connect($port);
    $c->handshake(guid($lost[0]), 'admin', 'P@ssw0rd', [16992], 'back.example.test');
    ok($c->{established}, 'a swept GUID registers again');
    $dev{$lost[0]} = $c;
}

# --- reload ------------------------------------------------------------------------

my $before = status_json($sport);
my @old_workers = $t->worker_pids;
ok($t->reload, 'reload');
my %new = map { $_ => 1 } $t->worker_pids;
ok(!grep({ $new{$_} } @old_workers), 'a new set of workers');
$doc = status_json($sport);
is($doc->{total}, $before->{total}, 'tunnels still listed after reload');
my %old = map { $_ => 1 } @old_workers;
ok(!grep({ !$old{$_->{owner_pid}} } @{$doc->{tunnels}}), 'old tunnels still owned by old workers');
ok(scalar($t->old_worker_pids) > 0, 'old workers stay while their tunnels are open');
my ($some) = (sort { $a <=> $b } keys %dev)[0];
ok($dev{$some}->ping(9, T(3)), 'an old tunnel still answers after reload');

my @fresh;
for my $i (101 .. 105) {
    my $c = FcfhApf->connect($port);
    $c->handshake(guid($i), 'admin', 'P@ssw0rd', [16992], "n$i.example.test");
    push @fresh, $i if $c->{established};
    $dev{$i} = $c;
}
is(scalar(@fresh), 5, 'new tunnels established after reload');
$doc = wait_status($sport, sub { my $d = $_; !grep { !find_tunnel($d, guid($_)) } 101 .. 105 }, T(3));
ok($doc, 'new tunnels listed');
ok(!grep({ !$new{(find_tunnel($doc, guid($_)) // {})->{owner_pid} // 0} } 101 .. 105),
   'new tunnels owned by new workers');
is($doc && $doc->{total}, $before->{total} + 5, 'old and new tunnels counted together');

# closing the old tunnels lets the old workers exit
$dev{$_}->close for grep { $_ <= $N } keys %dev;
ok(wait_for(sub { scalar($t->old_worker_pids) == 0 }, T(10)), 'old workers exit once their tunnels close');
ok(wait_status($sport, sub { $_->{total} == 5 }, T(5)), 'only the new tunnels remain');
$dev{$_}->close for keys %dev;

$t->done_testing;
