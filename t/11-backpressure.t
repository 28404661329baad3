#!/usr/bin/perl
# A device that pipelines requests without reading the replies: the gateway
# must stop reading from it (bounded memory) instead of buffering or
# closing it, other devices must be unaffected, and once the device reads
# again every request must be answered in order.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::SSL qw($SSL_ERROR SSL_WANT_READ SSL_WANT_WRITE);
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 1));
$t->run;
my $sport = $t->port(2);

my $GUID = '00000000-0000-4000-8000-0000000000b1';
my $c = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$c->handshake($GUID, 'admin', 'P@ssw0rd', [16992], 'bp.example.test');
ok($c->{established}, 'device established');

sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

my ($worker) = $t->worker_pids;
my $rss0 = rss_kb($worker);

# 13107 keepalive requests per 64 KiB chunk, cookies 0..13106
my $chunk = join '', map { keepalive_request($_) } 0 .. 13106;
my $limit = 256 * 1024 * 1024;          # never write more than this
my $s = $c->sock;
$s->blocking(0);

# A TLS write that could not complete must be retried with the same
# arguments, so every write goes through this one call.
my ($written, $blocked) = (0, 0);
sub write_more {
    my $off = $written % length $chunk;
    my $n = syswrite($s, $chunk, length($chunk) - $off, $off);
    if ($n) { $written += $n; $blocked = 0; return 1 }
    $blocked = 1;
    return 0;
}

my $last_progress = time;
while ($written < $limit && time - $last_progress < T(2)) {
    if (write_more()) { $last_progress = time; next }
    my $win = ''; vec($win, fileno($s), 1) = 1;
    select(undef, $win, undef, 0.05);
}
ok($written < $limit, "gateway stopped reading after $written bytes");

# meanwhile the gateway serves others and its memory stays bounded
my $d = FcfhApf->connect($t->port(1));
$d->handshake('00000000-0000-4000-8000-0000000000b2', 'admin', 'P@ssw0rd',
              [16992], 'other.example.test');
ok($d->{established}, 'another device connects while one is paused');
ok($d->ping(7, T(3)), 'and gets its keepalives answered');
my $doc = status_json($sport);
ok(find_tunnel($doc, $GUID), 'paused device still listed');
my $grow = rss_kb($worker) - $rss0;
cmp_ok($grow, '<', rss_bound_kb(16 * 1024), "worker RSS grew ${grow} KiB (< 16 MiB)");

# now read everything, finishing a blocked write and the last partial
# message (the chunk holds whole messages only)
my ($got, $bad, $in, $next) = (0, 0, '', 0);
my $deadline = time + T(60);
while (($blocked || $written % 5 || $got < $written / 5) && time < $deadline) {
    write_more() if $blocked || $written % 5;
    my $n = sysread($s, $in, 1 << 20, length $in);
    if (!$n) {
        last if defined $n;             # EOF
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        select($rin, undef, undef, 0.05) unless $s->pending;
        next;
    }
    my $k = int(length($in) / 5);
    for my $i (0 .. $k - 1) {
        my ($type, $cookie) = unpack 'C N', substr($in, $i * 5, 5);
        $bad++ unless $type == KEEPALIVE_REPLY && $cookie == $next;
        $next = ($next + 1) % 13107;
    }
    $got += $k;
    substr($in, 0, $k * 5, '');
}
is($got, $written / 5, 'every keepalive answered');
is($bad, 0, 'replies in order with the right cookies');
$s->blocking(1);
my $pong = $c->ping(99, T(3));
ok($pong, "the device is still served afterwards")
    or diag("eof=" . ($c->eof // 0) . " err=" . ($c->{error} // "") . " buf=" . length($c->{buf}));

$t->done_testing;
