#!/usr/bin/perl
# fcfh_metrics by Prometheus' conventions, and the observability examples
# built on it (issue 16):
# - the answer, parsed by Debian's python3-prometheus-client: HELP and
#   TYPE for every family, _total on counters only, units as suffixes,
#   snake_case label values, no series twice, well-formed histograms,
#   fcfh_build_info, every family in the documented list with its type
#   and labels (t/lib/prom_check.py); promtool's own lint;
# - capacity and use as two gauges, no duplicate of a tunnels_closed
#   label, no dead failure series, a series for every reason the gateway
#   sends;
# - the handshake histogram counts the handshakes this test made, from
#   the TCP accept (a device that waits a second before its APF handshake
#   lands above the 1 s bound); the console open histogram counts a
#   console's channel, up to the device's confirmation (which waits);
# - conf-examples/observability/: promtool check config, check rules,
#   test rules on t/observability/alert-cases.yml, the Grafana dashboard,
#   and every metric, label and value they name against this scrape
#   (t/lib/observability_check.py).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $PY = '/usr/bin/python3';
plan skip_all => 'Debian python3 with prometheus_client and yaml needed'
    unless system($PY, '-c', 'import prometheus_client.parser, yaml') == 0;

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2,
    stream => 'server { listen 127.0.0.1:%%PORT_4%%; fcfh_proxy; }',
    http => 'server {
        listen 127.0.0.1:%%PORT_3%%;
        location = /metrics { fcfh_metrics; }
    }'));
$t->run;
my $mport = $t->port(3);
my $repo = repo_dir();

sub scrape {
    my ($st, $h, $body) = http_request($mport, 'GET', '/metrics');
    is($st, 200, 'GET /metrics: 200') or return '';
    return $body // '';
}

sub value {
    my ($text, $series) = @_;
    return $text =~ /^\Q$series\E (\S+)$/m ? $1 : undef;
}

my $before = scrape();
is(value($before, 'fcfh_handshake_duration_seconds_count'), 0,
   'a new zone: the handshake histogram is empty');

# three devices: two at once, one that waits 1.2 s between its TLS
# connection and its first APF message; one wrong password; one device
# that leaves after TLS without a word
my @dev;
for my $i (1 .. 3) {
    my $d = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
    sleep 1.2 if $i == 3;
    $d->handshake(sprintf('00000000-0000-4000-8000-0000000006%02d', $i),
                  'admin', 'P@ssw0rd', [16992], "m$i.example.test");
    ok($d->{established}, "device $i: tunnel up");
    push @dev, $d;
}
my $bad = FcfhApf->connect($t->port(1));
$bad->handshake('00000000-0000-4000-8000-0000000006ff', 'admin', 'wrong', [], '');
is($bad->expect_disconnect(T(3)), 15, 'a wrong password is refused');
my $mute = FcfhApf->connect($t->port(1));
$mute->close;

# a SOCKS5 console's channel to device 1, which confirms after 0.6 s
my $console = socks5_begin($t->port(4), '00000000-0000-4000-8000-000000000601',
                           16992, timeout => T(5));
ok($console, 'a console asks for device 1');
my $open;
my $deadline = time + T(5);
while (!$open && (my $m = $dev[0]->read_msg($deadline - time))) {
    $open = $m if $m->{type} == CHANNEL_OPEN;
    $dev[0]->send(keepalive_reply($m->{cookie})) if $m->{type} == KEEPALIVE_REQUEST;
}
ok($open, 'the device gets the CHANNEL_OPEN');
sleep 0.6;
$dev[0]->send(channel_confirm($open->{sender}, 1, 32768)) if $open;
my ($rep) = $console ? socks5_finish($console, T(5)) : ();
is($rep, 0, 'the console has its channel');

my $body;
ok(wait_for(sub {
    $body = scrape();
    (value($body, 'fcfh_handshake_failures_total{reason="closed_by_device"}') // 0) >= 1
}, T(5)), 'the silent device is counted as closed_by_device');

# --- conventions, on the reference parser ---------------------------------

my $file = $t->prefix . '/metrics.txt';
$t->write_file('metrics.txt', $body);

sub python_checks {
    my (@cmd) = @_;
    my $out = qx{@cmd 2>&1};
    my $name = $cmd[1] =~ s{.*/}{}r;
    is($? >> 8, 0, "$name ran") or diag($out);
    my $n = 0;
    for (split /\n/, $out) {
        my ($res, $what, $why) = split /\t/;
        next unless defined $what;
        $n++;
        ok($res eq 'ok', $what) or diag($why // $_);
    }
    ok($n > 5, "$name: $n checks");
}

python_checks($PY, "$repo/t/lib/prom_check.py", $file, $repo);

# what the issue names, one by one
like($body, qr/^fcfh_zone_size_bytes \d+$/m, 'zone capacity: fcfh_zone_size_bytes');
like($body, qr/^fcfh_zone_used_bytes \d+$/m, 'zone use: fcfh_zone_used_bytes');
unlike($body, qr/^fcfh_zone_bytes/m, 'no fcfh_zone_bytes{kind} mixing the two');
unlike($body, qr/^fcfh_keepalive_timeouts_total/m,
       'no fcfh_keepalive_timeouts_total beside tunnels_closed_total{reason="idle_timeout"}');
like($body, qr/^fcfh_tunnels_closed_total\{reason="idle_timeout"\} \d+$/m,
     'the keepalive timeouts are a tunnels_closed_total series');
like($body, qr/^fcfh_build_info\{version="\d+\.\d+\.\d+",nginx_version="\d+\.\d+\.\d+"\} 1$/m,
     'fcfh_build_info{version,nginx_version} 1');
like($body, qr/^# TYPE fcfh_cluster_relays_total counter$/m,
     'fcfh_cluster_relays_total (checked against the docs above)');
is(value($body, 'fcfh_handshake_failures_total{reason="invalid_credentials"}'), 1,
   'the wrong password: invalid_credentials 1');
unlike($body, qr/reason="reserved"/, 'no dead reason="reserved" series');

# the failure reasons: one series for each reason the tunnel code sends,
# none for one it never sends (unless counted)
my $apf = $t->read_file("$repo/ngx_fcfh_module/ngx_fcfh_apf.h");
my %code = $apf =~ /^#define NGX_FCFH_APF_DISC_(\w+)\s+(\d+)$/mg;
my $json = $t->read_file("$repo/ngx_fcfh_module/ngx_fcfh_json.c");
my ($table) = $json =~ /ngx_fcfh_failure_names\[\] = \{(.*?)\};/s;
my @fname = ($table // '') =~ /"(\w+)"/g;
my $tunnel = $t->read_file("$repo/ngx_fcfh_module/ngx_stream_fcfh_tunnel.c");
my %sent = (closed_by_device => 1);
$sent{$fname[$code{$_}] // "code $_"} = 1
    for $tunnel =~ /NGX_FCFH_APF_DISC_(\w+)/g;
my %emitted = map { $_ => 1 }
    $body =~ /^fcfh_handshake_failures_total\{reason="(\w+)"\}/mg;
ok(scalar(keys %sent) >= 5 && @fname == 19, 'the reasons the gateway sends: '
   . join(' ', sort keys %sent));
is_deeply([sort keys %emitted], [sort keys %sent],
          'fcfh_handshake_failures_total: a series for exactly those');

# the handshake histogram: the three handshakes of this test
is(value($body, 'fcfh_handshakes_total'), 3, 'fcfh_handshakes_total 3');
is(value($body, 'fcfh_handshake_duration_seconds_count'), 3,
   'the handshake histogram counts the 3 handshakes');
is(value($body, 'fcfh_handshake_duration_seconds_bucket{le="+Inf"}'), 3,
   '... its +Inf bucket too');
cmp_ok(value($body, 'fcfh_handshake_duration_seconds_sum') // 0, '>=', 1.2,
       '... measured from the TCP accept (the 1.2 s wait is in the sum)');
cmp_ok(value($body, 'fcfh_handshake_duration_seconds_bucket{le="1"}') // 9, '<=', 2,
       '... and the slow device above the 1 s bound');
is(value($body, 'fcfh_handshake_duration_seconds_bucket{le="30"}'), 3,
   '... all three within 30 s');

# the console open histogram: the one channel, including the device's wait
is(value($body, 'fcfh_console_requests_total{result="ok"}'), 1, 'one console request, ok');
is(value($body, 'fcfh_console_open_duration_seconds_count'), 1,
   'the console open histogram counts it');
cmp_ok(value($body, 'fcfh_console_open_duration_seconds_sum') // 0, '>=', 0.6,
       '... up to the device\'s confirmation (the 0.6 s wait is in it)');
is(value($body, 'fcfh_console_open_duration_seconds_bucket{le="0.5"}'), 0,
   '... so above the 0.5 s bound');

# Prometheus' own lint of the exposition (names, units, help)
SKIP: {
    skip 'promtool (Debian prometheus) not installed', 1
        unless -x '/usr/bin/promtool';
    my $lint = qx{/usr/bin/promtool check metrics < $file 2>&1};
    is($? >> 8, 0, 'promtool check metrics: no complaint') or diag($lint);
}

# --- conf-examples/observability/ ---------------------------------------

SKIP: {
    skip 'promtool (Debian prometheus) not installed', 1
        unless -x '/usr/bin/promtool';
    mkdir $t->prefix . '/promtool';
    python_checks($PY, "$repo/t/lib/observability_check.py", $repo, $file,
                  $t->prefix . '/promtool');
}

close $console if $console;
$_->close for @dev;
$t->done_testing;
