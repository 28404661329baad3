#!/usr/bin/perl
# Workers give freed heap back to the kernel after tunnels came and went
# (ngx_fcfh_module.c, glibc only): not before 256 tunnels did, then once
# the churn calms down; the gateway keeps working across a trim.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);

plan skip_all => 'simulator not built' unless have_sim();

my $glibc = `ldd --version 2>&1` =~ /GNU libc|GLIBC/i;
plan skip_all => 'the heap is trimmed with glibc only' unless $glibc;

my $t = FcfhTest->new;
$t->write_config(std_config(zone => '8m'));
$t->run;

my $gw = '127.0.0.1:' . $t->port(1);
my $guid = 1;

sub trims { my @l = $t->error_log =~ /heap trimmed after (\d+) tunnels came or went, in (\d+) ms/g; @l }

sub devices {
    my ($n) = @_;
    my $sim = $t->run_sim('--connect', $gw, '--devices', $n, '--quiet',
        '--guid', sprintf('00000000-0000-4000-8000-%012x', $guid),
        '--user', 'admin', '--password', 'P@ssw0rd');
    $guid += $n;
    ok(wait_status($t->port(2), sub { @{$_->{tunnels}} >= $n }, T(30)),
       "$n simulated devices up");
    return $sim;
}

sub all_gone {
    ok(wait_status($t->port(2), sub { @{$_->{tunnels}} == 0 }, T(15)),
       'all devices gone');
}

# 100 up and down: 200 tunnels came or went, under the threshold
my $sim = devices(100);
$t->stop_sim($sim);
all_gone();
sleep(T(11));    # two of the worker's 5 s checks
is(scalar(trims()), 0, 'no trim below 256 tunnels coming and going');

# 100 more up and down: 400 in all, the next quiet check trims
$sim = devices(100);
$t->stop_sim($sim);
all_gone();
ok(wait_for(sub { trims() }, T(12), 0.2), 'the heap is trimmed after churn');
my ($churn, $ms) = trims();
cmp_ok($churn, '>=', 256, "after $churn tunnels came or went");
cmp_ok($ms, '<', 1000, "in $ms ms");

# once only: no churn since, no second trim
sleep(T(6));
is(scalar(trims()) / 2, 1, 'no trim without new churn');

# the gateway works as before
$sim = devices(5);
$t->stop_sim($sim);

$t->done_testing;
