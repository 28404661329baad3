#!/usr/bin/perl
# A device's mistakes about one channel cost that channel, not the tunnel:
#   1. CHANNEL_OPEN_FAILURE after the CONFIRMATION (seen from MeshCentral's
#      APF client), a second CONFIRMATION, data before the CONFIRMATION:
#      the gateway closes that channel (its CHANNEL_CLOSE once, never a
#      second), logs a notice naming the device, the channel and its state,
#      counts it (fcfh_channel_errors_total, API stats); the tunnel and
#      the other channels on it carry on
#   2. opens the device leaves unanswered past the open timeout no longer
#      count against fcfh_max_channels: a console gets through; the late
#      CONFIRMATIONs are each closed once and freed, a late FAILURE frees
#   3. the id space (2 x fcfh_max_channels) full of opens the device never
#      answered (their consoles gone): refused with a line saying so; the
#      device's late answers free the ids
# A channel closed for a contradiction whose CLOSE the device never sends
# is freed after 30 s (checked last, after 2 and 3).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(idle => '120s',
    server => 'fcfh_max_channels 4;',
    stream => 'server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }',
    http => 'server {
        listen 127.0.0.1:%%PORT_4%%;
        location /api/ { fcfh_api; }
        location = /metrics { fcfh_metrics; }
    }'));
$t->run;
my ($dport, $sport, $px, $api) = map { $t->port($_) } 1 .. 4;

sub device {
    my ($g, $fqdn) = @_;
    my $d = FcfhApf->connect($dport) or return;
    $d->handshake($g, 'admin', 'P@ssw0rd', [16992], $fqdn);
    return $d->{established} ? $d : undef;
}

# the next message of a type (keepalives answered on the way)
sub next_msg {
    my ($d, $type, $timeout) = @_;
    my $deadline = time + ($timeout // T(5));
    while (my $m = $d->read_msg($deadline - time)) {
        return $m if $m->{type} == $type;
        $d->send(keepalive_reply($m->{cookie})) if $m->{type} == KEEPALIVE_REQUEST;
    }
    return;
}

# a SOCKS5 console's request, and the CHANNEL_OPEN it makes the gateway send
sub begin_open {
    my ($d, $g) = @_;
    my $s = socks5_begin($px, $g, 16992, timeout => T(5)) or return;
    my $o = next_msg($d, CHANNEL_OPEN, T(5)) or return;
    return ($s, $o->{sender});
}

# a console channel the device confirms with its id $mine
sub open_channel {
    my ($d, $g, $mine) = @_;
    my ($s, $gw) = begin_open($d, $g) or return;
    $d->send(channel_confirm($gw, $mine, 32768));
    my ($rep) = socks5_finish($s, T(5));
    return unless defined $rep && $rep == 0;
    return ($s, $gw);
}

# what the gateway sent the device up to the echo of a keepalive
sub sent_until_ping {
    my ($d, $cookie) = @_;
    my $from = @{$d->{seen}};
    my $ok = $d->ping($cookie, T(3));
    my @m = grep { $_->{type} != KEEPALIVE_REPLY } @{$d->{seen}}[$from .. $#{$d->{seen}}];
    return ($ok, @m);
}

sub closes_to { my $id = shift; scalar grep { $_->{type} == CHANNEL_CLOSE && $_->{recipient} == $id } @_ }

# both ways through an open channel
sub carries {
    my ($d, $s, $gw, $mine, $label) = @_;
    send_all($s, "to-device $label");
    my $m = next_msg($d, CHANNEL_DATA, T(5));
    my $up = $m && $m->{recipient} == $mine && $m->{data} eq "to-device $label";
    $d->send(channel_data($gw, "to-console $label"));
    my $down = read_exact($s, length("to-console $label"), T(5)) eq "to-console $label";
    return $up && $down;
}

# --- 1. contradictions close the one channel ------------------------------------

my $G = '00000000-0000-4000-8000-0000000043a1';
my $D = device($G, 'errors.example.test');
ok($D, 'device up') or BAIL_OUT('no tunnel');

my ($s1, $gw1) = open_channel($D, $G, 10);
ok($s1 && carries($D, $s1, $gw1, 10, 'one'), 'a first console channel carries data both ways');

# (a) FAILURE 10 ms after the CONFIRMATION
{
    my ($s2, $gw2) = open_channel($D, $G, 11);
    ok($s2, 'failure after confirmation: the console got its channel');
    my $mark = $t->log_mark;
    $D->send(channel_failure($gw2, 2));
    my ($ok, @m) = sent_until_ping($D, 1);
    ok($ok, '... the tunnel stays up');
    is(closes_to(11, @m), 1, '... the gateway closes that channel, once');
    is(scalar(@m), 1, '... and sends nothing else (no DISCONNECT)') or diag(explain \@m);
    ok(wait_eof($s2, T(5)), "... that channel's console sees its end");
    ok($t->wait_for_log(qr/\[notice\].*device sent CHANNEL_OPEN_FAILURE for channel $gw2 \(open\), closing the channel.*device: $G/,
                        T(3), $mark), '... a notice names the device, the channel and its state');
    ok(carries($D, $s1, $gw1, 10, 'two'), '... the other channel carries on');
    $D->send(channel_close($gw2));
    ($ok, @m) = sent_until_ping($D, 2);
    ok($ok && !@m, "... the device's CLOSE frees it without a second CLOSE") or diag(explain \@m);
    close $s2;
}

# (b) a second CONFIRMATION, then a third before the device's CLOSE
{
    my ($s3, $gw3) = open_channel($D, $G, 12);
    ok($s3, 'confirmation twice: the console got its channel');
    my $mark = $t->log_mark;
    $D->send(channel_confirm($gw3, 12, 32768));
    my ($ok, @m) = sent_until_ping($D, 3);
    ok($ok && closes_to(12, @m) == 1 && @m == 1, '... the gateway closes that channel, once, the tunnel stays')
        or diag(explain \@m);
    ok(wait_eof($s3, T(5)), '... its console sees its end');
    ok($t->wait_for_log(qr/\[notice\].*device sent CHANNEL_OPEN_CONFIRMATION for channel $gw3 \(open\), closing the channel/,
                        T(3), $mark), '... notice logged');
    $mark = $t->log_mark;
    $D->send(channel_confirm($gw3, 12, 32768));
    ($ok, @m) = sent_until_ping($D, 4);
    ok($ok && !@m, '... a third CONFIRMATION: no second CLOSE, the tunnel stays') or diag(explain \@m);
    ok($t->wait_for_log(qr/\[info\].*device sent CHANNEL_OPEN_CONFIRMATION for no open channel \($gw3\), dropped/,
                        T(3), $mark), '... it counts as a message for no open channel');
    $D->send(channel_close($gw3));
    ($ok, @m) = sent_until_ping($D, 5);
    ok($ok && !@m, "... the device's CLOSE frees it") or diag(explain \@m);
    close $s3;
}

# (c) data before the CONFIRMATION, then the CONFIRMATION
{
    my ($s4, $gw4) = begin_open($D, $G);
    ok($s4, 'data before confirmation: a console asks for a channel');
    my $mark = $t->log_mark;
    $D->send(channel_data($gw4, 'early'));
    my ($rep) = socks5_finish($s4, T(5));
    is($rep, 5, '... the console is refused (SOCKS5 REP 05)');
    ok($t->wait_for_log(qr/\[notice\].*device sent CHANNEL_DATA for channel $gw4 \(not yet confirmed\), closing the channel/,
                        T(3), $mark), '... notice logged');
    $D->send(channel_confirm($gw4, 14, 32768));
    my ($ok, @m) = sent_until_ping($D, 6);
    ok($ok && closes_to(14, @m) == 1 && @m == 1,
       '... its late CONFIRMATION is answered with one CLOSE, the tunnel stays') or diag(explain \@m);
    $D->send(channel_close($gw4));
    ($ok, @m) = sent_until_ping($D, 7);
    ok($ok && !@m, "... the device's CLOSE frees it") or diag(explain \@m);
    close $s4;
}

ok(carries($D, $s1, $gw1, 10, 'three'), 'the first channel still carries data both ways');
my ($s5, $gw5) = open_channel($D, $G, 15);
ok($s5 && carries($D, $s5, $gw5, 15, 'four'), 'a new console channel works on the same tunnel');
for ([$s1, $gw1, 10], [$s5, $gw5, 15]) {
    my ($s, $gw, $mine) = @$_;
    $D->send(channel_close($gw));
    my $m = next_msg($D, CHANNEL_CLOSE, T(5));
    is($m && $m->{recipient}, $mine, "channel $gw closes cleanly");
    close $s;
}
ok(wait_status($sport, sub { ((find_tunnel($_, $G) // {})->{channels} // -1) == 0 }, T(5)),
   'the tunnel has no channel left');

# (d) a contradiction the device never follows with its CLOSE: the id is
#     freed after 30 s all the same (checked at the end)
my ($s8, $gw8) = open_channel($D, $G, 16);
ok($s8, 'a channel the device will not close');
$D->send(channel_failure($gw8, 2));
my $m8 = next_msg($D, CHANNEL_CLOSE, T(5));
is($m8 && $m8->{recipient}, 16, '... its FAILURE after the CONFIRMATION: the gateway closes it');
my $t8 = time;
ok(wait_eof($s8, T(5)), '... its console sees its end');
close $s8;

my ($st, $h, $body) = http_request($api, 'GET', '/metrics');
like($body, qr/^fcfh_channel_errors_total\{kind="state"\} 4$/m,
     'metrics: four channels closed for a contradiction');
like($body, qr/^fcfh_channel_errors_total\{kind="no_channel"\} 1$/m,
     'metrics: one message for no open channel');
($st, $h, $body) = http_request($api, 'GET', '/api/stats');
my $stats = eval { decode_json($body) } // {};
is($stats->{channel_errors}, 4, 'API stats: channel_errors');
is($stats->{channel_strays}, 1, 'API stats: channel_strays');

# --- 2. opens the device never answered free their slot -------------------------

my $GE = '00000000-0000-4000-8000-0000000043e2';
my $E = device($GE, 'busy.example.test');
ok($E, 'busy device up');

my (@stalled, %mine);
for my $i (1 .. 4) {
    my ($s, $gw) = begin_open($E, $GE);
    push @stalled, [$s, $gw] if $s;
}
is(scalar @stalled, 4, 'fcfh_max_channels (4) consoles wait for channels the device ignores');
my $t0 = time;
my @reps = map { (socks5_finish($_->[0], T(15)))[0] // -1 } @stalled;
is_deeply(\@reps, [6, 6, 6, 6], sprintf('... after the open timeout (%.1f s) each gets REP 06', time - $t0));
close $_->[0] for @stalled;

my $mark = $t->log_mark;
my ($s6, $gw6) = open_channel($E, $GE, 100);
ok($s6, 'a new console gets through: the ignored opens do not count as channels in use')
    or diag(substr($t->error_log, $mark));
ok(!grep({ $_->[1] == $gw6 } @stalled), '... on an id none of them holds');
ok($s6 && carries($E, $s6, $gw6, 100, 'busy'), '... and carries data both ways');

# the late answers: three CONFIRMATIONs, one FAILURE
$mark = $t->log_mark;
my $id = 200;
$E->send(channel_confirm($_->[1], $id++, 32768)) for @stalled[0 .. 2];
$E->send(channel_failure($stalled[3][1], 4));
my ($ok, @m) = sent_until_ping($E, 8);
ok($ok, 'late answers: the tunnel stays up');
is_deeply([ sort map { $_->{recipient} } grep { $_->{type} == CHANNEL_CLOSE } @m ], [200, 201, 202],
          '... each late CONFIRMATION is answered with one CLOSE');
is(scalar @m, 3, '... and nothing else') or diag(explain \@m);
is(scalar(() = substr($t->error_log, $mark) =~ /device confirmed channel \d+ after its open was given up, closing it/g),
   3, '... logged');
ok(wait_status($sport, sub { ((find_tunnel($_, $GE) // {})->{channels} // -1) == 4 }, T(3)),
   '... the refused one is freed (4 channels: 1 open, 3 closing)');
$E->send(channel_close($_->[1])) for @stalled[0 .. 2];
($ok, @m) = sent_until_ping($E, 9);
ok($ok && !@m, "... the device's CLOSEs free them, no second CLOSE") or diag(explain \@m);
ok(wait_status($sport, sub { ((find_tunnel($_, $GE) // {})->{channels} // -1) == 1 }, T(3)),
   '... only the open channel is left');
ok(carries($E, $s6, $gw6, 100, 'still'), 'the open channel carried on through all this');

# --- 3. the id space full of unanswered opens --------------------------------------

# consoles that leave before the device answers: 7 such and the open
# channel take all 8 ids
my @gone;
for my $i (1 .. 7) {
    my $m0 = $t->log_mark;
    my ($s, $gw) = begin_open($E, $GE);
    last unless $s;
    close $s;
    push @gone, $gw;
    $t->wait_for_log(qr/console left before the device answered/, T(3), $m0);
}
is(scalar @gone, 7, 'seven consoles asked for a channel and left before the answer');
$mark = $t->log_mark;
my (undef, $rep) = socks5_open($px, $GE, 16992, timeout => T(5));
is($rep, 1, 'with every channel id taken, the next console is refused (REP 01)');
ok($t->wait_for_log(qr/\[warn\].*device has no free channel id \(1 channels open, 7 opens it never answered, 0 closing\), refusing another/,
                    T(3), $mark), '... with a line saying why');
$E->send(map { channel_failure($_, 2) } @gone);
($ok, @m) = sent_until_ping($E, 10);
ok($ok && !@m, 'the late FAILUREs free the ids, the tunnel stays') or diag(explain \@m);
my ($s7, $gw7) = open_channel($E, $GE, 101);
ok($s7 && carries($E, $s7, $gw7, 101, 'again'), 'the next console gets a channel');
close $s7 if $s7;
close $s6 if $s6;
$E->send(disconnect(11));
$E->close;

# --- 1 (d), continued: the channel the device never closed -----------------------

$mark = $t->log_mark;
my $freed = $t->wait_for_log(qr/\[info\].*device did not close channel $gw8, freeing it.*device: $G/,
                             T(35) - (time - $t8), $mark);
ok($freed, sprintf('the channel the device never closed is freed (%.1f s after its CLOSE)', time - $t8));
cmp_ok(time - $t8, '>=', 29, '... after 30 s, not before');
ok(wait_status($sport, sub { ((find_tunnel($_, $G) // {})->{channels} // -1) == 0 }, T(3)),
   '... the tunnel has no channel left');
$mark = $t->log_mark;
$D->send(channel_close($gw8));
($ok, @m) = sent_until_ping($D, 11);
ok($ok && !@m, "... the device's CLOSE that late is dropped, no second CLOSE, the tunnel stays")
    or diag(explain \@m);
ok($t->wait_for_log(qr/device sent CHANNEL_CLOSE for no open channel \($gw8\), dropped/, T(3), $mark),
   '... logged');
$D->send(disconnect(11));
$D->close;

$t->done_testing;
