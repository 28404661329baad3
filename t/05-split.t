#!/usr/bin/perl
# Message framing across TLS records: one byte per record, several
# messages per record.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(handshake => '20s'));
$t->run;
my ($port, $sport) = ($t->port(1), $t->port(2));

# --- one byte per TLS record, step by step ------------------------------------

my $G1 = '00000000-0000-4000-8000-00000000c001';
my $c = FcfhApf->connect($port);
my $got = $c->handshake($G1, 'admin', 'P@ssw0rd', [16992, 16993, 16994, 16995],
                        'split.example.test', split => 0.001, timeout => T(10));
ok($c->{established}, 'handshake one byte per record') or diag(explain $got);
is(scalar(grep { $_->{type} == REQUEST_SUCCESS } @$got), 4, 'all four forwards answered');

$c->send_split(keepalive_request(77), 0.01);
my $m = $c->read_msg(T(3));
ok($m && $m->{type} == KEEPALIVE_REPLY && $m->{cookie} == 77, 'split keepalive answered');
my $doc = wait_status($sport, sub { find_tunnel($_, $G1) }, T(3));
is_deeply((find_tunnel($doc, $G1) // {})->{ports}, [16992, 16993, 16994, 16995],
          'split tunnel registered all ports');

# --- whole handshake pipelined, one byte per record ---------------------------------

my $G2 = '00000000-0000-4000-8000-00000000c002';
my $c2 = FcfhApf->connect($port);
$got = $c2->handshake($G2, 'admin', 'P@ssw0rd', [16992, 16993], 'split2.example.test',
                      split => 0.0005, pipeline => 1, timeout => T(10));
ok($c2->{established}, 'pipelined handshake one byte per record') or diag(explain $got);

# --- several messages in one record -------------------------------------------------

my $G3 = '00000000-0000-4000-8000-00000000c003';
my $c3 = FcfhApf->connect($port);
$got = $c3->handshake($G3, 'admin', 'P@ssw0rd', [16992, 16993, 16994], 'one.example.test',
                      pipeline => 1);
ok($c3->{established}, 'whole handshake in one record') or diag(explain $got);

$c3->send(keepalive_request(1) . keepalive_request(2) . keepalive_request(3));
my @r = map { $c3->read_msg(T(3)) } 1 .. 3;
is_deeply([ map { $_ ? $_->{cookie} : undef } @r ], [1, 2, 3], 'three keepalives in one record');

# one record holding a message and a half, the rest in the next record
my $two = keepalive_request(10) . keepalive_request(11);
$c3->send(substr($two, 0, 7));
$m = $c3->read_msg(T(3));
ok($m && $m->{cookie} == 10, 'first message of a record and a half answered');
$m = $c3->read_msg(0.3);
ok(!$m && !$c3->eof, 'half message waits for more bytes');
$c3->send(substr($two, 7));
$m = $c3->read_msg(T(3));
ok($m && $m->{cookie} == 11, 'rest of the message completes it');

ok(wait_status($sport, sub { find_tunnel($_, $G1) && find_tunnel($_, $G2) && find_tunnel($_, $G3) },
               T(3)), 'all three tunnels listed');
$_->close for $c, $c2, $c3;

$t->done_testing;
