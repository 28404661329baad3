package FcfhTest;

# Project-owned integration-test harness for ngx_fcfh_module.
#
#   my $t = FcfhTest->new;                 # temp prefix, skips if nginx/module missing
#   $t->write_config(<<'EOF');             # placeholders, see expand()
#   ...
#   EOF
#   $t->run;                               # start, wait for pid file, listeners, workers
#   ... tests, $t->port(1), status_json($t->port(2)) ...
#   $t->done_testing;                      # stop everything, check error logs, done_testing
#
# Placeholders: %%PREFIX%% (temp dir), %%MODULE%% (our .so), %%CERTS%% (shared demo
# PKI from tools/mkcerts.sh), %%PORT_n%% (a free loopback port, n any integer, stable
# per test), %%HTTP_PATHS%% (temp paths + access_log inside the prefix for an http{}).
# The harness emits, before the template: both load_module lines (Debian's stream
# module first), "user root root;" when run as root (see below) and
# "error_log PREFIX/error.log info;".
#
# User: nginx started as root would run workers as "nobody", which cannot read the
# per-test files (prefix, keys, htpasswd copies). Tests only listen on loopback, so the
# harness runs workers as root ("user root root;") when euid is 0, and emits no user
# directive otherwise (nginx then keeps the current user).
#
# Environment: FCFH_NGINX (binary), FCFH_MODULE (.so), FCFH_STREAM_MODULE,
# FCFH_SIM (simulator), FCFH_KEEP=1 (keep temp prefixes), FCFH_TMP (temp root),
# FCFH_SANITIZED=1 (nginx built with ASan: memory bounds loosened, see
# rss_bound_kb).

use strict;
use warnings;

use Exporter qw(import);
use Test::More ();
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use File::Basename qw(dirname);
use File::Spec;
use Cwd ();
use Fcntl qw(:flock);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use JSON::PP ();

our @EXPORT_OK = qw(rss_bound_kb http_get http_request status_json wait_status wait_for
                    find_tunnel repo_dir std_config T have_sim sse_subscribe sse_pump
                    sse_wait netns_cmd api_record);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my $REPO = Cwd::abs_path(dirname(File::Spec->rel2abs(__FILE__)) . '/../..');
sub repo_dir { $REPO }

our $NGINX  = $ENV{FCFH_NGINX}  // '/usr/sbin/nginx';
our $MODULE = $ENV{FCFH_MODULE} // "$REPO/build/ngx_fcfh_module.so";
our $STREAM = $ENV{FCFH_STREAM_MODULE} // '/usr/lib/nginx/modules/ngx_stream_module.so';
our $SIM    = $ENV{FCFH_SIM}    // "$REPO/build/fcfh-sim";
our $TMPROOT = $ENV{FCFH_TMP} // "$REPO/t/tmp";

our @INSTANCES;
our $LAST_STATUS;        # last document wait_status() saw (for diagnostics)

$SIG{PIPE} = 'IGNORE';
# an interrupted test (Ctrl-C, prove timeout) still runs END: stop nginx and sims
$SIG{$_} = sub { Test::More::diag("interrupted"); exit 1 } for qw(INT TERM);

sub new {
    my ($class, %opt) = @_;
    # a missing build is a failure, never a skip
    for ([$NGINX, 'nginx binary'],
         $STREAM eq 'none' ? () : [$STREAM, 'stream module'],
         $MODULE eq 'none' ? () : [$MODULE, 'module']) {
        Test::More::BAIL_OUT("no $_->[1] at $_->[0]") unless -e $_->[0];
    }
    make_path($TMPROOT);
    my $self = bless {
        prefix => tempdir('fcfh-XXXXXX', DIR => $TMPROOT, CLEANUP => 0),
        ports => {}, allow => [], sims => [], seen_workers => {}, %opt,
    }, $class;
    $self->{certs} = certs_dir();
    push @INSTANCES, $self;
    return $self;
}

sub prefix { $_[0]{prefix} }
sub certs  { $_[0]{certs} }

# Shared demo PKI, made once (under a lock) by tools/mkcerts.sh.
sub certs_dir {
    my $dir = "$TMPROOT/certs";
    make_path($TMPROOT);
    open my $lk, '>', "$TMPROOT/.certs.lock" or die "lock: $!";
    flock($lk, LOCK_EX) or die "flock: $!";
    # idempotent, and it refreshes what an older version of it made
    system("$REPO/tools/mkcerts.sh", $dir) == 0 or die "mkcerts.sh failed\n";
    if (!-f "$dir/node3.crt") {
        system("$REPO/tools/mkcerts-cluster.sh", $dir) == 0
            or die "mkcerts-cluster.sh failed\n";
    }
    close $lk;
    return $dir;
}

sub free_port {
    my ($self) = @_;
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => 'tcp', Listen => 1) or next;
        my $p = $s->sockport;
        close $s;
        next if grep { $_ == $p } values %{$self->{ports}};
        return $p;
    }
    die "no free port\n";
}

sub port {
    my ($self, $n) = @_;
    $self->{ports}{$n} = $self->free_port unless defined $self->{ports}{$n};
    return $self->{ports}{$n};
}

sub expand {
    my ($self, $text) = @_;
    my $p = $self->{prefix};
    my $http = join "\n    ", map({ "${_}_temp_path $p/${_}_temp;" }
                                   qw(client_body proxy fastcgi uwsgi scgi)),
                               "access_log $p/access.log;";
    my %used;
    $text =~ s/%%PORT_(\d+)%%/$used{$1} = $self->port($1)/ge;
    $self->{expanded_ports} = [ values %used ];
    $text =~ s/%%PREFIX%%/$p/g;
    $text =~ s/%%MODULE%%/$MODULE/g;
    $text =~ s/%%CERTS%%/$self->{certs}/g;
    $text =~ s/%%HTTP_PATHS%%/$http/g;
    return $text;
}

sub write_config {
    my ($self, $template, $name) = @_;
    $name //= 'nginx.conf';
    my $head = ($STREAM eq 'none' ? '' : "load_module $STREAM;\n")
        . ($MODULE eq 'none' ? '' : "load_module $MODULE;\n")
        . ($> == 0 ? "user root root;\n" : '')
        # a binary upgrade passes only listed variables to the new master
        . join('', map { "env $_;\n" } grep { exists $ENV{$_} }
                   qw(ASAN_OPTIONS UBSAN_OPTIONS))
        . "error_log %%PREFIX%%/error.log info;\n\n";
    my $text = $self->expand($head . $template);
    $self->{conf_ports} = $self->{expanded_ports} if $name eq 'nginx.conf';
    $self->{workers_expected} = $text =~ /^\s*worker_processes\s+(\d+)/m ? $1 : 1
        if $name eq 'nginx.conf';
    api_locations($text);
    $self->write_file($name, $text);
    return $text;
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $f = $name =~ m{^/} ? $name : "$self->{prefix}/$name";
    open my $fh, '>', "$f.tmp" or die "$f: $!";
    print $fh $content;
    close $fh;
    rename "$f.tmp", $f or die "rename $f: $!";
    return $f;
}

sub read_file {
    my ($self, $name) = @_;
    my $f = $name =~ m{^/} ? $name : "$self->{prefix}/$name";
    open my $fh, '<', $f or return '';
    local $/;
    return scalar <$fh>;
}

sub nginx_cmd {
    my ($self, @extra) = @_;
    my $p = $self->{prefix};
    return ($NGINX, '-p', "$p/", '-c', "$p/nginx.conf", '-e', "$p/error.log",
            '-g', "pid $p/nginx.pid;", @extra);
}

# nginx -t with the current config: (output, exit status). Uses its own
# error log so expected [emerg] lines do not fail the alert check.
sub nginx_t {
    my ($self) = @_;
    my $p = $self->{prefix};
    my @cmd = ($NGINX, '-t', '-p', "$p/", '-c', "$p/nginx.conf",
               '-e', "$p/nginx-t.log", '-g', "pid $p/nginx-t.pid;");
    my $out = qx{@{[ join ' ', map { shell_quote($_) } @cmd ]} 2>&1};
    my $st = $? >> 8;
    $out .= $self->read_file('nginx-t.log');
    unlink "$p/nginx-t.log";
    return wantarray ? ($out, $st) : $out;
}

sub shell_quote { my $s = shift; $s =~ s/'/'\\''/g; "'$s'" }

# A command in a network namespace of its own (unshare -n, needs root):
# loopback up with the given addresses added, so that nginx -t binds a
# configuration's listeners as written (wildcards, other hosts' addresses,
# any port) and none of them is reachable from anywhere. Returns the
# command to run (list), or nothing when namespaces are not available.
my $NETNS;
sub netns_cmd {
    my ($addrs, @cmd) = @_;
    $NETNS //= $> == 0 && system('unshare -n true >/dev/null 2>&1') == 0 ? 1 : 0;
    return () unless $NETNS;
    my $setup = join ' && ', 'ip link set lo up',
        map { "ip addr add $_ dev lo" } @{$addrs // []};
    return ('unshare', '-n', 'sh', '-c', "$setup && exec \"\$@\"", 'sh', @cmd);
}

sub pid_alive {
    my ($pid) = @_;
    return 0 unless $pid && kill(0, $pid);
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $st = <$fh> // '';
    return $st =~ /^\d+ \(.*\) ([A-Za-z])/ && $1 ne 'Z' && $1 ne 'X' ? 1 : 0;
}

sub master_pid {
    my ($self) = @_;
    my $p = $self->read_file('nginx.pid');
    return $p =~ /(\d+)/ ? $1 : undef;
}

sub run {
    my ($self, %opt) = @_;
    my $p = $self->{prefix};
    unlink "$p/nginx.pid";
    my $cmd = join(' ', map { shell_quote($_) } $self->nginx_cmd) . " >>$p/stderr.log 2>&1";
    if (system($cmd) != 0) {
        Test::More::diag("nginx failed to start:\n" . $self->read_file('stderr.log')
                         . $self->read_file('error.log'));
        die "nginx failed to start\n";
    }
    wait_for(sub { ($self->{master} = $self->master_pid) && pid_alive($self->{master}) }, 10)
        or die "no nginx pid file\n";
    my @ports = @{ $opt{wait_ports} // $self->{conf_ports} // [] };
    for my $port (@ports) {
        wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1) }, 10)
            or die "port $port not listening\n";
    }
    wait_for(sub { $self->worker_pids == $self->{workers_expected} }, 10)
        or die "workers did not start\n";
    return $self;
}

# [pid, title] of every child of the master
sub children {
    my ($self) = @_;
    my $m = $self->{master} or return ();
    my @r;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $st = <$fh> // next;
        next unless $st =~ /^\d+ \(.*\) ([A-Za-z]) (\d+)/ && $2 == $m && $1 ne 'Z';
        open my $c, '<', "/proc/$pid/cmdline" or next;
        my $title = do { local $/; <$c> } // '';
        $title =~ s/\0.*//s;
        $title =~ s/\s+$//;
        push @r, [$pid, $title];
        $self->{seen_workers}{$pid} = 1;
    }
    return @r;
}

sub worker_pids {
    my ($self) = @_;
    my @p = sort { $a <=> $b } map { $_->[0] } grep { $_->[1] =~ /worker process$/ } $self->children;
    return @p;          # (a count in scalar context)
}

sub old_worker_pids {
    my ($self) = @_;
    my @p = sort { $a <=> $b } map { $_->[0] } grep { $_->[1] =~ /shutting down/ } $self->children;
    return @p;
}

# HUP and wait until a full new set of workers runs.
sub reload {
    my ($self, $timeout) = @_;
    my %old = map { $_ => 1 } $self->worker_pids;
    if ($self->read_file('nginx.conf') =~ /^\s*worker_processes\s+(\d+)/m) {
        $self->{workers_expected} = $1;
    }
    kill 'HUP', $self->{master} or return 0;
    return wait_for(sub {
        my @w = $self->worker_pids;
        @w == $self->{workers_expected} && !grep { $old{$_} } @w;
    }, $timeout // 10);
}

sub stop {
    my ($self) = @_;
    my $m = $self->{master} or return;
    $self->children;            # remember the workers, to kill leftovers
    $self->{master} = undef;
    kill 'QUIT', $m;
    unless (wait_for(sub { !pid_alive($m) }, 8)) {
        kill 'TERM', $m;
        wait_for(sub { !pid_alive($m) }, 3) or kill 'KILL', $m;
    }
    my @left = grep { pid_alive($_) } keys %{$self->{seen_workers}};
    kill 'KILL', @left if @left;
}

sub allow_log {
    my ($self, @re) = @_;
    push @{$self->{allow}}, @re;
}

sub error_log { $_[0]->read_file('error.log') }

# Size of the error log now: pass as `from` to wait_for_log to see only new lines.
sub log_mark { -s "$_[0]{prefix}/error.log" // 0 }

sub wait_for_log {
    my ($self, $re, $timeout, $from) = @_;
    my $line;
    wait_for(sub {
        my $log = substr($self->error_log, $from // 0);
        for (split /\n/, $log) { if (/$re/) { $line = $_; return 1 } }
        0;
    }, $timeout // 5);
    return $line;
}

sub alerts {
    my ($self) = @_;
    # sanitizer reports (make test-asan) land in the error log or stderr
    my @bad = grep { /\[(alert|crit|emerg)\]|ERROR: AddressSanitizer|runtime error:|LeakSanitizer/ }
              split /\n/, $self->error_log . "\n" . $self->read_file('stderr.log');
    for my $re (@{$self->{allow}}) { @bad = grep { !/$re/ } @bad }
    return @bad;
}

sub done_testing {
    my ($self) = @_;
    cleanup();
    for my $t (@INSTANCES) {
        my @bad = $t->alerts;
        Test::More::ok(!@bad, "no alert/crit/emerg in $t->{prefix}/error.log")
            or Test::More::diag(join "\n", @bad);
    }
    api_validate();
    Test::More::done_testing();
}

sub cleanup {
    FcfhApf::close_all() if defined &FcfhApf::close_all;
    for my $t (@INSTANCES) {
        $t->stop_sim($_) for @{$t->{sims}};
        $t->stop;
    }
}

END {
    my $rc = $?;
    cleanup();
    unless ($ENV{FCFH_KEEP} || !Test::More->builder->is_passing) {
        remove_tree($_->{prefix}) for @INSTANCES;
    }
    $? = $rc;
}

# ---- standard config -----------------------------------------------------

# A gateway config: tunnel server on PORT_1 (TLS, password auth), status on
# PORT_2. Options: workers, zone, auth (file), handshake, idle, keepalive,
# listen (extra listen params), protocols (ssl_protocols, default TLSv1.2
# TLSv1.3: nginx 1.22's default has no TLSv1.3), main/stream/server/http
# (extra text).
sub std_config {
    my (%o) = @_;
    my %d = (workers => 1, zone => '4m', auth => '%%CERTS%%/devices.htpasswd',
             handshake => '5s', idle => '30s', listen => 'ssl',
             protocols => 'TLSv1.2 TLSv1.3',
             main => '', stream => '', server => '', http => '', %o);
    my $ka = defined $d{keepalive} ? "fcfh_keepalive $d{keepalive};" : '';
    my $tls = $d{listen} =~ /\bssl\b/ ? "ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        ssl_protocols $d{protocols};" : '';
    return <<"CONF";
worker_processes $d{workers};
events { worker_connections 1024; }
fcfh_zone $d{zone};
fcfh_relay_dir %%PREFIX%%/relay;
$d{main}
stream {
    $d{stream}
    server {
        listen 127.0.0.1:%%PORT_1%% $d{listen};
        $tls
        fcfh_tunnel;
        fcfh_auth_file $d{auth};
        fcfh_handshake_timeout $d{handshake};
        fcfh_idle_timeout $d{idle};
        $ka
        $d{server}
    }
}
http {
    %%HTTP_PATHS%%
    server {
        listen 127.0.0.1:%%PORT_2%%;
        location = /status { fcfh_status; }
    }
    $d{http}
}
CONF
}

# A worker RSS growth bound in KiB: four times looser under ASan, whose
# redzones and quarantine are not memory the module holds.
sub rss_bound_kb { $_[0] * ($ENV{FCFH_SANITIZED} ? 4 : 1) }

# Scale a duration by FCFH_TIME_SCALE (e.g. 3 on a very slow machine).
sub T { $_[0] * ($ENV{FCFH_TIME_SCALE} || 1) }

# ---- polling --------------------------------------------------------------

sub wait_for {
    my ($cond, $timeout, $step) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $r = $cond->();
        return $r if $r;
        return 0 if time > $deadline;
        sleep($step // 0.05);
    }
}

# ---- the API contract: every answer checked against docs/openapi.yaml ------------

# Where the configurations put the operators' endpoints: { port => [ [prefix, exact,
# kind] ] } for kind api (fcfh_api) and status (fcfh_status), read from each config
# written (a location holding the directive, in a server listening on the port).
our %API_LOC;
our $API_LOG;            # the answers this test received, one JSON line each
our $API_SPEC = "$REPO/docs/openapi.yaml";

sub api_locations {
    my ($text) = @_;
    for my $srv (split /\bserver\s*\{/, $text) {
        my @ports = $srv =~ /^\s*listen\s+(?:[\d.]+:|\[[^\]]*\]:)?(\d+)\b/mg;
        while ($srv =~ /\blocation\s+(=\s*|\^~\s*)?(\S+)\s*\{([^{}]*)\}/g) {
            my ($mod, $path, $body) = ($1 // '', $2, $3);
            my ($kind) = $body =~ /\bfcfh_(api|status)\s*;/ or next;
            # a rewrite answers another path than the one asked
            next if $body =~ /\brewrite\b/;
            for my $p (@ports) {
                @{$API_LOC{$p}} = grep { $_->[0] ne $path } @{$API_LOC{$p} // []};
                push @{$API_LOC{$p}}, [$path, $mod =~ /=/ ? 1 : 0, $kind];
            }
        }
    }
}

# The endpoint an answer came from: (kind, the path below the location) or ().
sub api_kind {
    my ($port, $path) = @_;
    (my $p = $path) =~ s/\?.*//s;
    my $best;
    for my $l (@{$API_LOC{$port} // []}) {
        my ($prefix, $exact) = @$l;
        next unless $exact ? $p eq $prefix : index($p, $prefix) == 0;
        $best = $l if !$best || length $prefix > length $best->[0];
    }
    return () unless $best;
    return ($best->[2], substr($p, length $best->[0]));
}

# Keep one answer for the check at done_testing (kind: api, status or event).
sub api_record {
    my ($kind, $method, $rel, $status, $type, $body) = @_;
    $API_LOG //= "$TMPROOT/api-answers-$$.jsonl";
    open my $fh, '>>', $API_LOG or return;
    print $fh JSON::PP->new->canonical->encode({ kind => $kind, method => $method,
        path => $rel, status => $status + 0, type => $type // '', body => $body // '' }),
        "\n";
    close $fh;
}

sub api_record_http {
    my ($port, $method, $path, $status, $h, $body) = @_;
    my ($kind, $rel) = api_kind($port, $path) or return;
    api_record($kind, $method, $rel, $status, $h->{'content-type'}, $body);
}

# One python process for all the answers of a test (python3-jsonschema 4.10).
sub api_validate {
    return unless $API_LOG && -s $API_LOG;
    my $n = () = do { open my $fh, '<', $API_LOG; <$fh> };
    my $out = `/usr/bin/python3 '$REPO/t/lib/api_validate.py' '$API_SPEC' '$API_LOG' 2>&1`;
    my $rc = $?;
    Test::More::ok($rc == 0, "the $n API answers and events validate against docs/openapi.yaml")
        or Test::More::diag($out);
    unlink $API_LOG unless $rc;
    $API_LOG = undef;
}

# ---- http / status --------------------------------------------------------

sub http_request {
    my ($port, $method, $path, $timeout) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => $timeout // 5)
        or return;
    print $s "$method $path HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    my $buf = '';
    my $deadline = time + ($timeout // 5);
    while (time < $deadline) {
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        select($rin, undef, undef, 0.2) or next;
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    return unless defined $head && $head =~ m{^HTTP/\d\.\d (\d+)};
    my $status = $1;
    my %h;
    for (split /\r\n/, $head) { $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
    api_record_http($port, $method, $path, $status, \%h, $body);
    return ($status, \%h, $body // '');
}

sub http_get { my ($port, $path, $to) = @_; http_request($port, 'GET', $path, $to) }

# The fcfh_status document; without a query, every page of it (the tunnels of all
# pages in one list).
sub status_json {
    my ($port, $query) = @_;
    my ($doc, $cursor);
    for (1 .. 1000) {
        my $q = $query // ('?limit=1000' . ($cursor ? "&cursor=$cursor" : ''));
        my ($st, $h, $body) = http_get($port, '/status' . $q);
        return unless defined $st;
        my $page = eval { JSON::PP->new->decode($body) };
        return unless ref $page;
        $page->{_http_status} = $st;
        if ($doc) { push @{$doc->{tunnels}}, @{$page->{tunnels} // []} }
        else { $doc = $page }
        last if defined $query || !$page->{next_cursor};
        $cursor = $page->{next_cursor};
    }
    return $doc;
}

# Poll the status until $pred->($doc) is true; returns the doc or undef.
sub wait_status {
    my ($port, $pred, $timeout) = @_;
    my $ok;
    wait_for(sub {
        my $d = status_json($port) or return 0;
        $LAST_STATUS = $d;
        local $_ = $d;
        return 0 unless $pred->($d);
        $ok = $d;
    }, $timeout // 5, 0.1);
    return $ok;
}

sub find_tunnel {
    my ($doc, $guid) = @_;
    return unless $doc && ref $doc->{tunnels} eq 'ARRAY';
    my @t = grep { ($_->{guid} // '') eq lc $guid } @{$doc->{tunnels}};
    return $t[0];
}

# ---- Server-Sent Events (fcfh_events) --------------------------------------

# GET $path on 127.0.0.1:$port and keep reading: { sock, buf, raw, events }
# (each event { id, event, data, json }, data parsed as strict JSON)
sub sse_subscribe {
    my ($port, $path, %h) = @_;
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or return;
    my $hdr = join '', map { "$_: $h{$_}\r\n" } keys %h;
    print $s "GET $path HTTP/1.1\r\nHost: x\r\n$hdr\r\n";
    my $sub = { sock => $s, buf => '', raw => '', events => [] };
    sse_pump($sub, 0.3);
    return $sub;
}

sub sse_pump {
    my ($sub, $wait) = @_;
    my $deadline = time + $wait;
    while (time < $deadline) {
        my $rin = ''; vec($rin, fileno($sub->{sock}), 1) = 1;
        select($rin, undef, undef, 0.05) or next;
        my $n = sysread($sub->{sock}, my $chunk, 65536);
        last unless $n;
        $sub->{buf} .= $chunk;
        $sub->{raw} .= $chunk;
    }
    while ($sub->{buf} =~ s/^(.*?)\r?\n\r?\n//s) {
        my %f;
        for (split /\r?\n/, $1) { $f{$1} = $2 if /^(id|event|data): (.*)$/ }
        next unless $f{event};
        $f{json} = eval { JSON::PP->new->decode($f{data}) } if $f{data};
        api_record('event', $f{event}, '', 0, '', $f{data}) if defined $f{data};
        push @{$sub->{events}}, \%f;
    }
}

sub sse_wait {
    my ($sub, $pred, $timeout) = @_;
    my $deadline = time + ($timeout // T(5));
    while (time < $deadline) {
        sse_pump($sub, 0.2);
        for (@{$sub->{events}}) { return $_ if $pred->($_) }
    }
    return;
}

# ---- simulator ------------------------------------------------------------

sub have_sim { -x $SIM }

sub run_sim {
    my ($self, @args) = @_;
    my $n = @{$self->{sims}} + 1;
    my $stats = "$self->{prefix}/sim$n.json";
    my $log = "$self->{prefix}/sim$n.log";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', $log; open STDERR, '>&', \*STDOUT;
        no warnings q(exec);
        exec $SIM, '--stats-file', $stats, @args;
        POSIX::_exit(127);
    }
    my $sim = { pid => $pid, stats => $stats, log => $log };
    push @{$self->{sims}}, $sim;
    return $sim;
}

sub read_json_file {
    my ($f) = @_;
    open my $fh, '<', $f or return;
    local $/;
    my $t = <$fh>;
    return eval { JSON::PP->new->decode($t) };
}

sub sim_stats {
    my ($self, $sim) = @_;
    $sim //= $self->{sims}[-1];
    unlink $sim->{stats};
    kill 'USR1', $sim->{pid} or return;
    my $d;
    wait_for(sub { $d = read_json_file($sim->{stats}) }, 5);
    return $d;
}

sub stop_sim {
    my ($self, $sim) = @_;
    $sim //= $self->{sims}[-1];
    return $sim->{final} if $sim->{done};
    my $pid = $sim->{pid};
    kill 'TERM', $pid;
    my $gone = wait_for(sub { waitpid($pid, WNOHANG) != 0 }, 5);
    if (!$gone) { kill 'KILL', $pid; waitpid($pid, 0) }
    $sim->{done} = 1;
    $sim->{exit} = $?;
    return $sim->{final} = read_json_file($sim->{stats});
}

1;
