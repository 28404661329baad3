package FcfhCluster;

# A small cluster lab in Linux network namespaces, made and torn down by
# the test itself (root only): three gateway nodes behind a VRRP virtual
# address (keepalived), a Redis, simulated devices and consoles, all on one
# Linux bridge that lives in its own namespace (the host's network is not
# touched).
#
#   plan skip_all => $why if my $why = FcfhCluster::skip_reason();
#   my $lab = FcfhCluster->new(http => '...', main => '...');  # per-node extras
#   $lab->up;                              # netns, PKI, redis, nginx x3, keepalived x3
#   is($lab->wait_vip_holder(T(10)), 'n1', 'VIP on n1');
#   $lab->start_sim(devices => 3);
#   my $map = $lab->wait_devices(sub { ... }, 10);          # { guid => 'n1', ... }
#   my ($rc, $body, $code) = $lab->console_socks('n1', $guid);
#   $lab->kill_node('n1', 'KILL');
#   $lab->done_testing;                    # teardown, no namespace left, error logs
#
# Naming: a run has a prefix "fc<pid % 10000>" (the next free number if a live
# run holds it). Namespaces "<pfx>-br" (the bridge), "<pfx>-redis", "<pfx>-n1".."-n<N>",
# "<pfx>-dev" (simulator), "<pfx>-con" (consoles). Each non-bridge namespace
# has a veth "<pfx>-<name>" (its peer in the bridge namespace "<pfx>-<name>b")
# with an address in 10.X.0.0/24, X = 100 + pfx % 100: redis .2, n<i> .(10+i),
# dev .21, con .31, VIP .100. Names n1..nN, redis, dev, con and vip resolve in
# every namespace through /etc/netns/<ns>/hosts (ip netns exec bind-mounts it).
# The owner of a prefix is recorded in /run/fcfh-cluster/<pfx> ("pid starttime
# labdir"); cleanup_stale() removes the namespaces of runs whose owner is gone.
#
# Node configs: the default (default_config) is a gateway on 0.0.0.0 with
# devices on 4433 (TLS, password auth, the shared demo PKI), SOCKS5/CONNECT
# (fcfh_proxy) on 1080, fcfh_status (/status), fcfh_api (/api/), fcfh_metrics
# (/metrics) on 8080 and the fcfh_pass HTTP proxy on 3128. new(...) and
# set_node_config($n, ...) take the parts main/stream/server/http (extra text)
# or conf (a whole template), either as a string or a code ref called with
# ($lab, $node). Placeholders, besides FcfhTest's (%%PREFIX%%, %%CERTS%%,
# %%MODULE%%, %%HTTP_PATHS%%, %%PORT_n%%): %%NODE%% (n1), %%NODE_ADDR%%, %%VIP%%,
# %%REDIS_ADDR%%, %%REDIS_PORT%%, %%N1_ADDR%%.., %%CLUSTER_CA%%, %%NODE_CERT%%,
# %%NODE_KEY%% (this node's mutual-TLS pair), %%CLUSTER_CERTS%% (the dir with
# ca.crt, n<i>.crt, n<i>.key), %%LAB%% (the lab dir).
#
# new(%opt): nodes (3, max 9), workers (1), priorities ([150,100,50]),
#   keepalived (1), redis (1), track_nginx (1: a vrrp_script puts a node whose
#   nginx master is gone in FAULT), preempt (1; 0 = nopreempt, all BACKUP),
#   vrrp_multicast (0 = unicast peers), check_interval (1 s), idle ('90s'),
#   hosts (1), main/stream/server/http/conf (config parts, above).
#
# API (node: 'n1' or 1; member: 'redis', 'n1'.., 'dev', 'con'; target: node or 'vip'):
#   up; net_up; make_certs; teardown; done_testing; cleanup_stale(); skip_reason()
#   pfx dir nodes vip subnet vrid ns(m) ifname(m) addr(m) all_namespaces
#   spawn(m, [argv], name=>, log=>) -> pid;  run_in(m, [{timeout=>,quiet_stderr=>},] argv..)
#     -> (exit, output);  curl_in(m, curl args..) -> (exit, body, http code)
#   reap; proc_alive(pid); stop_proc(pid, sig, grace); link_down(m); link_up(m)
#   cluster_ca; node_cert(n); node_key(n)
#   start_redis; stop_redis(sig); redis_cli([ns => m,] args..) -> output / (exit, output)
#   set_node_config(n, parts..); node_template(n); start_node(n); stop_node(n, sig);
#   kill_node(n, sig) (KILL = the whole group); wait_node_gone(n, t); reload_node(n);
#   node_alive(n); node_pid(n); node_t(n) (its FcfhTest); node_prefix(n); node_log(n)
#   node_http(target, path) -> (code, body); node_status(target) -> decoded JSON
#   device_map -> {guid => 'n2' or 'n1,n2'}; tunnels_on(n); wait_devices(pred, t);
#   device_tunnels -> {guid => [{node => .., tunnel..}]}; tunnel_snapshot;
#   wait_fresh_on(n, [guids], snapshot, t) (new connections only); last_map
#   start_keepalived(n); stop_keepalived(n, sig); kill_keepalived(n, sig);
#   keepalived_log(n); vip_holders -> list; vip_holder -> 'n1' | 'n1,n2' | undef;
#   wait_vip_holder(t, [want])
#   start_sim(devices=>, reconnect=>, connect=> 'vip'|node|'ADDR:PORT', args=>[..]);
#   sim_stats; stop_sim; sim_guid(i) (device i, 0-based)
#   console_socks / console_connect / console_pass(target, guid, [port 16992])
#     -> (curl exit, body, http code): WS-Man Identify from the con namespace
#
# Environment: FCFH_KEEP=1 keeps the lab dir (also kept when the test fails)
# and node prefixes; FCFH_CLUSTER_VERBOSE=1 notes every process started.

use strict;
use warnings;

use Exporter qw(import);
use Test::More ();
use FcfhTest ();
use POSIX qw(:sys_wait_h :signal_h);
use Fcntl qw(:flock);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use JSON::PP ();

our @EXPORT_OK = qw(skip_reason cleanup_stale);

our $IP          = first_exe('ip', '/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip');
our $KEEPALIVED  = $ENV{FCFH_KEEPALIVED} // '/usr/sbin/keepalived';
our $REDIS       = $ENV{FCFH_REDIS}      // '/usr/bin/redis-server';
our $REDIS_CLI   = $ENV{FCFH_REDIS_CLI}  // '/usr/bin/redis-cli';
our $CURL        = first_exe('curl', '/usr/bin/curl', '/bin/curl');
our $OPENSSL     = first_exe('openssl', '/usr/bin/openssl', '/bin/openssl');
our $OWNER_DIR   = '/run/fcfh-cluster';
our $VERBOSE     = $ENV{FCFH_CLUSTER_VERBOSE} // 0;

our @LABS;
my $OWNER_PID = $$;

$SIG{PIPE} = 'IGNORE';
$SIG{HUP} = sub { Test::More::diag("hangup"); exit 1 } unless ref $SIG{HUP};
# FcfhTest makes INT and TERM exit(1), so END (our teardown) runs.

sub first_exe {
    my ($name, @cand) = @_;
    for (@cand) { return $_ if -x $_ }
    for (split /:/, $ENV{PATH} // '') { return "$_/$name" if -x "$_/$name" }
    return $cand[0];
}

# ---- prerequisites -----------------------------------------------------------

# Why the lab cannot run here (for skip_all), or undef.
sub skip_reason {
    return 'cluster lab needs root (network namespaces)' if $> != 0;
    return "no ip(8) at $IP" unless -x $IP;
    return "keepalived not installed ($KEEPALIVED)" unless -x $KEEPALIVED;
    return "redis-server not installed ($REDIS)" unless -x $REDIS;
    return "redis-cli not installed ($REDIS_CLI)" unless -x $REDIS_CLI;
    return 'curl not installed' unless -x $CURL;
    return 'openssl not installed' unless -x $OPENSSL;
    return 'simulator not built' unless FcfhTest::have_sim();
    my $probe = "fcprobe$$";
    my $out = qx{$IP netns add $probe 2>&1};
    if ($? != 0) { chomp $out; return "ip netns unavailable: $out" }
    $out = qx{$IP -n $probe link add ${probe}b type bridge 2>&1};
    my $ok = $? == 0;
    system($IP, 'netns', 'del', $probe);
    chomp $out;
    return "cannot create a bridge in a namespace: $out" unless $ok;
    return undef;
}

# ---- process helpers -----------------------------------------------------------

sub _pid_starttime {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return;
    my $st = <$fh> // return;
    return unless $st =~ /^\d+ \(.*\) (\S) (.*)$/s;
    return if $1 eq 'Z' || $1 eq 'X';
    my @f = split ' ', $2;
    return $f[18];             # field 22 (starttime), after pid, comm, state
}

# fork + exec argv; the child gets default signal handlers (no END blocks of
# the test in it), its own process group when $o{pgrp}, stdin from /dev/null,
# stdout/stderr to $o{log} (appended) or to the pipe $o{pipe_w}.
sub _fork_exec {
    my ($argv, %o) = @_;
    my $block = POSIX::SigSet->new(SIGINT, SIGTERM, SIGHUP);
    my $old = POSIX::SigSet->new;
    sigprocmask(SIG_BLOCK, $block, $old);
    my $pid = fork;
    if (!defined $pid) { sigprocmask(SIG_SETMASK, $old); die "fork: $!\n" }
    if (!$pid) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE CHLD);
        sigprocmask(SIG_SETMASK, POSIX::SigSet->new);
        setpgrp(0, 0) if $o{pgrp};
        open STDIN, '<', '/dev/null';
        if ($o{pipe_w}) {
            close $o{pipe_r} if $o{pipe_r};
            open STDOUT, '>&', $o{pipe_w};
            if ($o{quiet_stderr}) { open STDERR, '>', '/dev/null' }
            else { open STDERR, '>&', $o{pipe_w} }
        } else {
            open STDOUT, '>>', $o{log} // '/dev/null';
            open STDERR, '>&', \*STDOUT;
        }
        { no warnings 'exec'; exec { $argv->[0] } @$argv; }
        POSIX::_exit(127);
    }
    sigprocmask(SIG_SETMASK, $old);
    return $pid;
}

sub _run_capture {
    my ($argv, %o) = @_;
    pipe(my $r, my $w) or die "pipe: $!\n";
    my $pid = _fork_exec($argv, pipe_w => $w, pipe_r => $r, quiet_stderr => $o{quiet_stderr});
    close $w;
    local $/;
    my $out = <$r> // '';
    close $r;
    waitpid($pid, 0);
    my $st = $?;
    return ($st == -1 ? 255 : $st & 127 ? 128 + ($st & 127) : $st >> 8, $out);
}

sub _sys {
    my (@argv) = @_;
    my ($rc, $out) = _run_capture(\@argv);
    die "@argv: $out" if $rc != 0;
    return $out;
}

sub _state_of {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return '';
    my $st = <$fh> // '';
    return $st =~ /^\d+ \(.*\) (\S)/s ? $1 : '';
}

sub _alive { my $s = _state_of($_[0]); $s ne '' && $s ne 'Z' && $s ne 'X' }

# ---- stale runs ----------------------------------------------------------------

sub _list_netns {
    my ($rc, $out) = _run_capture([$IP, 'netns', 'list']);
    return map { /^(\S+)/ ? $1 : () } split /\n/, $out;
}

sub _owner_alive {
    my ($pfx) = @_;
    open my $fh, '<', "$OWNER_DIR/$pfx" or return 0;
    my ($pid, $start) = split ' ', (<$fh> // '');
    return 0 unless $pid && $pid =~ /^\d+$/;
    my $now = _pid_starttime($pid);
    return defined $now && $now eq ($start // '');
}

sub _kill_netns_procs {
    my ($ns) = @_;
    for (1 .. 3) {
        my ($rc, $out) = _run_capture([$IP, 'netns', 'pids', $ns], quiet_stderr => 1);
        my @p = grep { /^\d+$/ && $_ != $$ } split /\s+/, $out;
        return unless @p;
        kill 'KILL', @p;
        sleep 0.1;
    }
}

sub _del_ns_files {
    my ($ns) = @_;
    remove_tree("/etc/netns/$ns") if -d "/etc/netns/$ns";
    rmdir '/etc/netns';                  # only when empty
}

# Remove the namespaces (and their processes) of runs of this scheme whose
# owner process is gone. Returns the names removed.
sub cleanup_stale {
    my %by;
    for my $ns (_list_netns()) {
        next unless $ns =~ /^(fc\d+)-(br|redis|n\d+|dev|con)$/;
        push @{$by{$1}}, $ns;
    }
    my @gone;
    for my $pfx (sort keys %by) {
        next if _owner_alive($pfx);
        for my $ns (@{$by{$pfx}}) {
            _kill_netns_procs($ns);
            system($IP, 'netns', 'del', $ns);
            _del_ns_files($ns);
            push @gone, $ns;
        }
        unlink "$OWNER_DIR/$pfx";
    }
    # owner files of dead runs with no namespace left
    if (opendir my $d, $OWNER_DIR) {
        for my $f (grep { /^fc\d+$/ } readdir $d) {
            unlink "$OWNER_DIR/$f" unless _owner_alive($f);
        }
    }
    return @gone;
}

# ---- lab -----------------------------------------------------------------------

sub new {
    my ($class, %opt) = @_;
    my %d = (nodes => 3, workers => 1, priorities => [150, 100, 50],
             keepalived => 1, redis => 1, track_nginx => 1, preempt => 1,
             vrrp_multicast => 0, hosts => 1, check_interval => 1, idle => '90s',
             status_path => '/status', api_port => 8080, device_port => 4433,
             proxy_port => 1080, pass_port => 3128, redis_port => 6379,
             main => '', stream => '', server => '', http => '', %opt);
    die "nodes: 1..9\n" unless $d{nodes} >= 1 && $d{nodes} <= 9;
    my $self = bless { %d, procs => {}, nodes_cfg => {}, sims => [] }, $class;

    make_path($OWNER_DIR);
    open my $lk, '>', "$OWNER_DIR/.lock" or die "$OWNER_DIR/.lock: $!\n";
    flock($lk, LOCK_EX) or die "flock: $!\n";
    cleanup_stale();
    my %exists = map { $_ => 1 } _list_netns();
    my $n = $$ % 10000;
    for (1 .. 10000) {
        my $p = "fc$n";
        last if !_owner_alive($p) && !grep { /^\Q$p\E-/ } keys %exists;
        $n++;
    }
    $self->{num} = $n;
    $self->{pfx} = "fc$n";
    open my $of, '>', "$OWNER_DIR/$self->{pfx}" or die "owner file: $!\n";
    make_path($FcfhTest::TMPROOT);
    $self->{dir} = tempdir("cluster-$self->{pfx}-XXXX", DIR => $FcfhTest::TMPROOT, CLEANUP => 0);
    print $of "$$ " . (_pid_starttime($$) // 0) . " $self->{dir}\n";
    close $of;
    close $lk;

    $self->{owner} = $$;
    my $x = 100 + $n % 100;
    $self->{net} = "10.$x.0";
    $self->{vrid} = 1 + $n % 250;
    my %addr = (redis => 2, dev => 21, con => 31, vip => 100);
    $addr{"n$_"} = 10 + $_ for 1 .. $self->{nodes};
    $self->{addr} = { map { $_ => "10.$x.0.$addr{$_}" } keys %addr };
    $self->{node_names} = [ map { "n$_" } 1 .. $self->{nodes} ];
    $self->{members} = [ 'redis', @{$self->{node_names}}, 'dev', 'con' ];
    push @LABS, $self;
    return $self;
}

sub pfx     { $_[0]{pfx} }
sub dir     { $_[0]{dir} }
sub nodes   { @{$_[0]{node_names}} }
sub vip     { $_[0]{addr}{vip} }
sub subnet  { "$_[0]{net}.0/24" }
sub vrid    { $_[0]{vrid} }
sub ns      { my ($s, $m) = @_; $m = $s->_node($m) if $m =~ /^\d+$/; "$s->{pfx}-$m" }
sub ifname  { my ($s, $m) = @_; $m = $s->_node($m) if $m =~ /^\d+$/; "$s->{pfx}-$m" }
sub addr    {
    my ($s, $m) = @_;
    $m = $s->_node($m) if $m =~ /^\d+$/;
    return $s->{addr}{$m} // die "no address for $m\n";
}
sub all_namespaces { my $s = shift; map { $s->ns($_) } 'br', @{$s->{members}} }

sub _node {
    my ($self, $n) = @_;
    $n = "n$n" if defined $n && $n =~ /^\d+$/;
    die "no node " . ($n // 'undef') . "\n" unless defined $n && grep { $_ eq $n } @{$self->{node_names}};
    return $n;
}

sub _log { Test::More::note(@_) if $VERBOSE }

# Everything: network, PKI, redis, nginx on every node, keepalived on every
# node. Each step is also callable alone.
sub up {
    my ($self) = @_;
    my $t0 = time;
    $self->net_up;
    $self->make_certs;
    $self->start_redis if $self->{redis};
    $self->start_node($_) for $self->nodes;
    if ($self->{keepalived}) { $self->start_keepalived($_) for $self->nodes }
    _log(sprintf "lab %s up in %.1fs", $self->{pfx}, time - $t0);
    return $self;
}

sub net_up {
    my ($self) = @_;
    my $br = $self->ns('br');
    my $bif = "$self->{pfx}-br";
    $self->{netns_made} = 1;
    _sys($IP, 'netns', 'add', $br);
    _sys($IP, '-n', $br, 'link', 'add', 'name', $bif, 'type', 'bridge',
         'stp_state', 0, 'forward_delay', 0, 'mcast_snooping', 0);
    _sys($IP, '-n', $br, 'link', 'set', 'lo', 'up');
    _sys($IP, '-n', $br, 'link', 'set', $bif, 'up');
    my $hosts = "127.0.0.1 localhost\n"
        . join('', map { "$self->{addr}{$_} $_\n" } 'vip', @{$self->{members}});
    for my $m (@{$self->{members}}) {
        my $ns = $self->ns($m);
        my ($in, $out) = ($self->ifname($m), $self->ifname($m) . 'b');
        _sys($IP, 'netns', 'add', $ns);
        if ($self->{hosts}) {
            make_path("/etc/netns/$ns");
            open my $fh, '>', "/etc/netns/$ns/hosts" or die "hosts: $!\n";
            print $fh $hosts;
            close $fh;
        }
        _sys($IP, 'link', 'add', $in, 'netns', $ns, 'type', 'veth',
             'peer', 'name', $out, 'netns', $br);
        _sys($IP, '-n', $br, 'link', 'set', $out, 'master', $bif);
        _sys($IP, '-n', $br, 'link', 'set', $out, 'up');
        _sys($IP, '-n', $ns, 'link', 'set', 'lo', 'up');
        _sys($IP, '-n', $ns, 'addr', 'add', "$self->{addr}{$m}/24", 'dev', $in);
        _sys($IP, '-n', $ns, 'link', 'set', $in, 'up');
    }
    return $self;
}

# Cut a member off the bridge (a partition) and back.
sub link_down { my ($s, $m) = @_; $m = $s->_node($m) if $m =~ /^\d+$/;
                _sys($IP, '-n', $s->ns('br'), 'link', 'set', $s->ifname($m) . 'b', 'down') }
sub link_up   { my ($s, $m) = @_; $m = $s->_node($m) if $m =~ /^\d+$/;
                _sys($IP, '-n', $s->ns('br'), 'link', 'set', $s->ifname($m) . 'b', 'up') }

# ---- running things in namespaces ----------------------------------------------------

# Start argv in a namespace in the background, in its own process group,
# output appended to $o{log} (default <lab>/<name>.log). Returns the pid (the
# command's own: ip netns exec execs it).
sub spawn {
    my ($self, $m, $argv, %o) = @_;
    my $name = $o{name} // "$m-" . ($argv->[0] =~ s{.*/}{}r);
    my $log = $o{log} // "$self->{dir}/$name.log";
    my $pid = _fork_exec([$IP, 'netns', 'exec', $self->ns($m), @$argv],
                         pgrp => 1, log => $log);
    $self->{procs}{$pid} = { pid => $pid, name => $name, ns => $m, log => $log };
    _log("spawned $name ($pid) in $m");
    return $pid;
}

# Run argv in a namespace and wait: (exit code, stdout+stderr). A leading
# hashref takes options: timeout (seconds, default 30), quiet_stderr.
sub run_in {
    my ($self, $m, @argv) = @_;
    my %o = ref $argv[0] eq 'HASH' ? %{ shift @argv } : ();
    my @to = ('timeout', '-k', 2, $o{timeout} // 30);
    return _run_capture([$IP, 'netns', 'exec', $self->ns($m), @to, @argv],
                        quiet_stderr => $o{quiet_stderr});
}

# Collect exited children (call while polling); returns the pids reaped.
sub reap {
    my ($self) = @_;
    my @r;
    for my $pid (keys %{$self->{procs}}) {
        my $p = $self->{procs}{$pid};
        next if $p->{exited};
        my $w = waitpid($pid, WNOHANG);
        if ($w == $pid || $w == -1) { $p->{exited} = 1; $p->{status} = $?; push @r, $pid }
    }
    return @r;
}

sub proc_alive {
    my ($self, $pid) = @_;
    $self->reap;
    return 0 unless $pid;
    my $p = $self->{procs}{$pid};
    return 0 if $p && $p->{exited};
    return _alive($pid);
}

# Signal a process group; KILL after $grace seconds if still there; reaps.
sub stop_proc {
    my ($self, $pid, $sig, $grace) = @_;
    return unless $pid;
    kill $sig // 'TERM', -$pid;
    my $gone = FcfhTest::wait_for(sub { !$self->proc_alive($pid) }, $grace // 3);
    kill 'KILL', -$pid unless $gone;
    FcfhTest::wait_for(sub { !$self->proc_alive($pid) }, 2) unless $gone;
    kill 'KILL', -$pid;         # leftovers of the group (workers, children)
    return $gone;
}

sub wait_for { shift; FcfhTest::wait_for(@_) }

# ---- PKI -----------------------------------------------------------------------------

# Cluster CA and one mutual-TLS pair per node (EC P-256, CN and SAN DNS = node
# name, also its IP; serverAuth and clientAuth). Device-facing TLS uses the
# shared demo PKI of FcfhTest (certs_dir: server.crt/server.key, devices.htpasswd).
sub make_certs {
    my ($self) = @_;
    my $d = $self->{pki} = "$self->{dir}/pki";
    make_path($d);
    $self->{certs} = FcfhTest::certs_dir();
    my @ec = ('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
    _sys($OPENSSL, @ec, '-out', "$d/ca.key");
    _sys($OPENSSL, 'req', '-x509', '-new', '-key', "$d/ca.key", '-sha256', '-days', 30,
         '-subj', "/O=fcfh cluster lab/CN=fcfh cluster CA $self->{pfx}",
         '-addext', 'basicConstraints=critical,CA:TRUE',
         '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
         '-addext', 'subjectKeyIdentifier=hash', '-out', "$d/ca.crt");
    for my $n ($self->nodes) {
        _sys($OPENSSL, @ec, '-out', "$d/$n.key");
        _sys($OPENSSL, 'req', '-new', '-key', "$d/$n.key", '-subj', "/O=fcfh cluster lab/CN=$n",
             '-out', "$d/$n.csr");
        open my $fh, '>', "$d/$n.ext" or die "$d/$n.ext: $!\n";
        print $fh "basicConstraints=CA:FALSE\n"
                . "keyUsage=critical,digitalSignature\n"
                . "extendedKeyUsage=serverAuth,clientAuth\n"
                . "subjectAltName=DNS:$n,IP:$self->{addr}{$n}\n";
        close $fh;
        _sys($OPENSSL, 'x509', '-req', '-in', "$d/$n.csr", '-CA', "$d/ca.crt",
             '-CAkey', "$d/ca.key", '-set_serial', '0x' . unpack('H16', pack('N2', rand(2**32), rand(2**32))),
             '-days', 30, '-sha256', '-extfile', "$d/$n.ext", '-out', "$d/$n.crt");
        unlink "$d/$n.csr", "$d/$n.ext";
    }
    chmod 0600, glob("$d/*.key");
    return $d;
}

sub cluster_ca { "$_[0]{pki}/ca.crt" }
sub node_cert  { my ($s, $n) = @_; "$s->{pki}/" . $s->_node($n) . '.crt' }
sub node_key   { my ($s, $n) = @_; "$s->{pki}/" . $s->_node($n) . '.key' }

# ---- redis ---------------------------------------------------------------------------

sub redis_addr { $_[0]{addr}{redis} }
sub redis_port { $_[0]{redis_port} }

sub start_redis {
    my ($self, %o) = @_;
    my $d = "$self->{dir}/redis";
    make_path($d);
    my $pid = $self->{redis_pid} = $self->spawn('redis', [$REDIS,
        '--save', '', '--appendonly', 'no', '--protected-mode', 'no',
        '--port', $self->{redis_port}, '--bind', $self->{addr}{redis},
        '--dir', $d, '--daemonize', 'no', '--logfile', '', @{ $o{args} // [] }],
        name => 'redis');
    FcfhTest::wait_for(sub { ($self->redis_cli('PING'))[1] =~ /PONG/
                             || !$self->proc_alive($pid) }, 10, 0.1);
    die "redis-server did not start:\n" . FcfhTest->read_file("$self->{dir}/redis.log")
        unless $self->proc_alive($pid) && ($self->redis_cli('PING'))[1] =~ /PONG/;
    return $pid;
}

sub stop_redis {
    my ($self, $sig) = @_;
    my $pid = delete $self->{redis_pid} or return;
    $self->stop_proc($pid, $sig // 'TERM');
}

# redis-cli -h <redis addr> -p 6379 @args, run in the redis namespace (ns => X
# as first pair to run it elsewhere, e.g. from a node). (exit code, output).
sub redis_cli {
    my ($self, @args) = @_;
    my $ns = 'redis';
    if (@args >= 2 && $args[0] eq 'ns') { (undef, $ns, @args) = @args }
    my ($rc, $out) = $self->run_in($ns, { timeout => 5 }, $REDIS_CLI,
                                   '-h', $self->{addr}{redis}, '-p', $self->{redis_port}, @args);
    return wantarray ? ($rc, $out) : $out;
}

# ---- nginx nodes ---------------------------------------------------------------------

sub default_config {
    my ($self, %p) = @_;
    return $p{conf} if defined $p{conf};
    my ($dp, $pp, $ap, $hp) = @{$self}{qw(device_port proxy_port api_port pass_port)};
    my $workers = $p{workers} // $self->{workers};
    return <<"CONF";
worker_processes $workers;
events { worker_connections 1024; }
fcfh_zone 4m;
fcfh_relay_dir %%PREFIX%%/relay;
$p{main}
stream {
    server {
        listen 0.0.0.0:$dp ssl;
        ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        fcfh_tunnel;
        fcfh_auth_file %%CERTS%%/devices.htpasswd;
        fcfh_handshake_timeout 5s;
        fcfh_idle_timeout $self->{idle};
        $p{server}
    }
    server {
        listen 0.0.0.0:$pp;
        fcfh_proxy;
    }
    $p{stream}
}
http {
    %%HTTP_PATHS%%
    server {
        listen 0.0.0.0:$ap;
        location = /status { fcfh_status; }
        location /api/ { fcfh_api; }
        location = /metrics { fcfh_metrics; }
    }
    server {
        listen 0.0.0.0:$hp;
        location / { fcfh_pass; }
    }
    $p{http}
}
CONF
}

# Per-node config parts (main, stream, server, http, conf, workers), each a
# string or sub($lab, $node); applied at the next start_node/reload_node.
sub set_node_config {
    my ($self, $n, %parts) = @_;
    $n = $self->_node($n);
    $self->{nodes_cfg}{$n} = { %{ $self->{nodes_cfg}{$n} // {} }, %parts };
}

sub node_template {
    my ($self, $n) = @_;
    $n = $self->_node($n);
    my %p;
    for my $k (qw(main stream server http conf workers)) {
        my $v = exists $self->{nodes_cfg}{$n}{$k} ? $self->{nodes_cfg}{$n}{$k} : $self->{$k};
        $v = $v->($self, $n) if ref $v eq 'CODE';
        $p{$k} = $v if defined $v;
    }
    $p{$_} //= '' for qw(main stream server http);
    my $text = $self->default_config(%p);
    my %ph = (NODE => $n, NODE_ADDR => $self->{addr}{$n}, VIP => $self->vip,
              REDIS_ADDR => $self->{addr}{redis}, REDIS_PORT => $self->{redis_port},
              CLUSTER_CA => "$self->{pki}/ca.crt", NODE_CERT => "$self->{pki}/$n.crt",
              NODE_KEY => "$self->{pki}/$n.key", CLUSTER_CERTS => $self->{pki},
              LAB => $self->{dir},
              map { (uc($_) . '_ADDR' => $self->{addr}{$_}) } $self->nodes);
    $text =~ s/%%([A-Z0-9_]+)%%/exists $ph{$1} ? $ph{$1} : "%%$1%%"/ge;
    return $text;
}

# The FcfhTest instance of a node (prefix, error_log, alerts, worker_pids...).
sub node_t {
    my ($self, $n) = @_;
    $n = $self->_node($n);
    return $self->{t}{$n} //= FcfhTest->new;
}

sub node_prefix { $_[0]->node_t($_[1])->prefix }
sub node_pid    { my ($s, $n) = @_; $s->{nginx}{$s->_node($n)} }
sub node_log    { $_[0]->node_t($_[1])->error_log }

sub node_alive {
    my ($self, $n) = @_;
    my $pid = $self->node_pid($n) or return 0;
    return $self->proc_alive($pid);
}

# The script keepalived runs to track nginx: the master in the pid file is
# alive (not a zombie; the pid file stays after a SIGKILL).
sub _write_check_script {
    my ($self, $n) = @_;
    my $pidf = $self->node_prefix($n) . '/nginx.pid';
    my $f = "$self->{dir}/check-nginx-$n.sh";
    open my $fh, '>', $f or die "$f: $!\n";
    print $fh <<"SH";
#!/bin/sh
# exit 0 while the nginx master of $n runs
read p < '$pidf' 2>/dev/null || exit 1
[ -n "\$p" ] || exit 1
read s < /proc/\$p/stat 2>/dev/null || exit 1
set -- \$s
[ "\$3" != Z ] && [ "\$3" != X ] || exit 1
exit 0
SH
    close $fh;
    chmod 0755, $f;
    return $f;
}

sub start_node {
    my ($self, $n, %o) = @_;
    $n = $self->_node($n);
    die "$n already running\n" if $self->node_alive($n);
    my $t = $self->node_t($n);
    my $p = $t->prefix;
    $t->write_config($self->node_template($n));
    unlink "$p/nginx.pid";
    my $pid = $self->spawn($n, [$FcfhTest::NGINX, '-p', "$p/", '-c', "$p/nginx.conf",
                                '-e', "$p/error.log", '-g', "pid $p/nginx.pid; daemon off;"],
                           name => "nginx-$n", log => "$p/stderr.log");
    $self->{nginx}{$n} = $pid;
    $t->{master} = $pid;
    return $pid if $o{nowait};
    my $ok = FcfhTest::wait_for(sub {
        return -1 unless $self->proc_alive($pid);
        return 0 unless $t->worker_pids >= $t->{workers_expected};
        my $d = $self->node_status($n, 2);
        return $d ? 1 : 0;
    }, $o{timeout} // 10, 0.1);
    if ($ok != 1) {
        Test::More::diag("nginx on $n failed to start:\n" . $t->read_file('stderr.log')
                         . $t->error_log);
        die "nginx on $n failed to start\n";
    }
    return $pid;
}

# Signal nginx on a node. KILL goes to the whole process group (master and
# workers: a crash); other signals to the master (TERM/INT fast, QUIT
# graceful, HUP reload). Returns at once; see wait_node_gone.
sub kill_node {
    my ($self, $n, $sig) = @_;
    $n = $self->_node($n);
    $sig //= 'TERM';
    my $pid = $self->{nginx}{$n} or return 0;
    return kill($sig, $sig =~ /^(KILL|9)$/ ? -$pid : $pid);
}

sub wait_node_gone {
    my ($self, $n, $timeout) = @_;
    my $pid = $self->node_pid($n) or return 1;
    return FcfhTest::wait_for(sub { !$self->proc_alive($pid) }, $timeout // 10);
}

sub stop_node {
    my ($self, $n, $sig) = @_;
    $n = $self->_node($n);
    my $pid = $self->{nginx}{$n} or return;
    $self->node_t($n)->children;     # remember workers
    $self->stop_proc($pid, $sig // 'TERM', 5);
    my @left = grep { _alive($_) } keys %{ $self->node_t($n)->{seen_workers} };
    kill 'KILL', @left if @left;
    $self->node_t($n)->{master} = undef;
}

# Rewrite the config (set_node_config) and HUP; waits for new workers.
sub reload_node {
    my ($self, $n, $timeout) = @_;
    $n = $self->_node($n);
    my $t = $self->node_t($n);
    $t->write_config($self->node_template($n));
    return $t->reload($timeout);
}

# ---- HTTP from the console namespace --------------------------------------------------

# curl in a namespace: (curl exit code, body, http code). @args are curl's.
sub curl_in {
    my ($self, $m, @args) = @_;
    my ($rc, $out) = $self->run_in($m, { timeout => 30, quiet_stderr => 1 },
                                   $CURL, '-s', '-m', 15, '-w', "\n%{http_code}", @args);
    my ($body, $code) = $out =~ /^(.*)\n(\d+)$/s;
    return ($rc, $body // $out, $code // 0);
}

# GET a path on a node's (or 'vip') api port from the con namespace:
# (status, body) or () when unreachable.
sub node_http {
    my ($self, $n, $path, $timeout) = @_;
    my $a = $n eq 'vip' ? $self->vip : $self->addr($self->_node($n));
    my ($rc, $out) = $self->run_in('con', { timeout => ($timeout // 5) + 2, quiet_stderr => 1 },
        $CURL, '-s', '-m', $timeout // 5, '-w', "\n%{http_code}",
        "http://$a:$self->{api_port}$path");
    return () if $rc != 0;
    my ($body, $code) = $out =~ /^(.*)\n(\d+)$/s or return ();
    # the operators' endpoints of default_config: checked against the spec
    (my $p = $path) =~ s/\?.*//s;
    my ($kind, $rel) = $p eq $self->{status_path} ? ('status', '')
                     : $p =~ m{^/api/(.*)} ? ('api', $1) : ();
    FcfhTest::api_record($kind, 'GET', $rel, $code, 'application/json', $body)
        if $kind && $code =~ /^[1-5]\d\d$/ && $body =~ /^\s*\{/;
    return ($code, $body);
}

# The fcfh_status JSON of a node (decoded), or undef.
sub node_status {
    my ($self, $n, $timeout) = @_;
    my ($code, $body) = $self->node_http($n, $self->{status_path}, $timeout);
    return undef unless $code && $code == 200;
    my $doc = eval { JSON::PP->new->decode($body) };
    return ref $doc ? $doc : undef;
}

# { guid => node } from every node that answers (a GUID on two nodes shows as
# "n1,n2").
sub device_map {
    my ($self) = @_;
    my %m;
    for my $n ($self->nodes) {
        next unless $self->node_alive($n);
        my $d = $self->node_status($n, 2) or next;
        for my $t (@{ $d->{tunnels} // [] }) {
            $m{$t->{guid}} = defined $m{$t->{guid}} ? "$m{$t->{guid}},$n" : $n;
        }
    }
    return \%m;
}

# { guid => [ { node => 'n1', <tunnel object of fcfh_status> }, ... ] } over
# every node that answers.
sub device_tunnels {
    my ($self) = @_;
    my %m;
    for my $n ($self->nodes) {
        next unless $self->node_alive($n);
        my $d = $self->node_status($n, 2) or next;
        push @{$m{$_->{guid}}}, { %$_, node => $n } for @{ $d->{tunnels} // [] };
    }
    return \%m;
}

sub _tkey { join '|', @{$_[0]}{qw(node guid serial peer connected_at)} }

# An opaque snapshot of the tunnels now (for wait_fresh_on).
sub tunnel_snapshot {
    my ($self) = @_;
    my $m = $self->device_tunnels;
    return { map { (_tkey($_) => 1) } map { @$_ } values %$m };
}

# Wait until each GUID has a tunnel on node $n that is not in $snapshot (a
# new connection, not a stale one left from before). The device_tunnels map
# or undef.
sub wait_fresh_on {
    my ($self, $n, $guids, $snapshot, $timeout, $step) = @_;
    $n = $self->_node($n);
    my $ok;
    FcfhTest::wait_for(sub {
        my $m = $self->device_tunnels;
        $self->{last_map} = { map { my $g = $_; ($g => join ',', map { $_->{node} } @{$m->{$g}}) } keys %$m };
        for my $g (@$guids) {
            return 0 unless grep { $_->{node} eq $n && !$snapshot->{_tkey($_)} } @{ $m->{lc $g} // [] };
        }
        $ok = $m;
    }, $timeout // 10, $step // 0.1);
    return $ok;
}

# GUIDs registered on one node (sorted).
sub tunnels_on {
    my ($self, $n) = @_;
    my $d = $self->node_status($n, 2) or return ();
    return sort map { $_->{guid} } @{ $d->{tunnels} // [] };
}

# Poll device_map until $pred->($map) holds; the map or undef.
sub wait_devices {
    my ($self, $pred, $timeout, $step) = @_;
    my $ok;
    FcfhTest::wait_for(sub {
        my $m = $self->device_map;
        $self->{last_map} = $m;
        local $_ = $m;
        return 0 unless $pred->($m);
        $ok = $m;
    }, $timeout // 10, $step // 0.2);
    return $ok;
}
sub last_map { $_[0]{last_map} }

# ---- consoles (curl in the con namespace, WS-Man Identify on 16992) ---------------

sub _target {
    my ($self, $n) = @_;
    return $self->vip if $n eq 'vip';
    return $self->addr($self->_node($n));
}

sub _identify_args {
    my $repo = FcfhTest::repo_dir();
    return ('-H', 'Content-Type: application/soap+xml;charset=UTF-8',
            '--data-binary', "\@$repo/sim/identify.xml");
}

# Each: (curl exit code, body, http code); Identify answered = code 200 and
# body =~ /IdentifyResponse/. $n: 'n1'/1 or 'vip'; $port default 16992.
sub console_socks {
    my ($self, $n, $guid, $port) = @_;
    my $a = $self->_target($n);
    return $self->curl_in('con', '--socks5-hostname', "$a:$self->{proxy_port}",
                          _identify_args(), "http://$guid:" . ($port // 16992) . '/wsman');
}

sub console_connect {
    my ($self, $n, $guid, $port) = @_;
    my $a = $self->_target($n);
    return $self->curl_in('con', '-p', '-x', "http://$a:$self->{proxy_port}",
                          _identify_args(), "http://$guid:" . ($port // 16992) . '/wsman');
}

sub console_pass {
    my ($self, $n, $guid, $port) = @_;
    my $a = $self->_target($n);
    return $self->curl_in('con', '-x', "http://$a:$self->{pass_port}",
                          _identify_args(), "http://$guid:" . ($port // 16992) . '/wsman');
}

# ---- keepalived ---------------------------------------------------------------------

sub _keepalived_conf {
    my ($self, $n) = @_;
    my $idx = substr($n, 1);
    my $prio = $self->{priorities}[$idx - 1] // (150 - 50 * ($idx - 1));
    $prio = 1 if $prio < 1;
    my $if = $self->ifname($n);
    my @peers = map { $self->{addr}{$_} } grep { $_ ne $n } $self->nodes;
    my $uni = $self->{vrrp_multicast} ? '' : "    unicast_src_ip $self->{addr}{$n}\n"
        . "    unicast_peer {\n" . join('', map { "        $_\n" } @peers) . "    }\n";
    my $state = !$self->{preempt} ? 'BACKUP' : $idx == 1 ? 'MASTER' : 'BACKUP';
    my $track = '';
    my $script = '';
    if ($self->{track_nginx}) {
        my $f = $self->_write_check_script($n);
        # /bin/sh is what script security checks (the lab dir may be anywhere)
        $script = "vrrp_script chk_nginx {\n    script \"/bin/sh $f\"\n"
                . "    interval $self->{check_interval}\n    timeout 2\n    fall 1\n    rise 1\n}\n";
        $track = "    track_script {\n        chk_nginx\n    }\n";
    }
    my $preempt = $self->{preempt} ? '' : "    nopreempt\n";
    return <<"CONF";
global_defs {
    router_id $self->{pfx}_$n
    script_user root
    enable_script_security
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 3
    vrrp_garp_lower_prio_repeat 0
}
$script
vrrp_instance VI_$self->{pfx} {
    state $state
    interface $if
    virtual_router_id $self->{vrid}
    priority $prio
    advert_int 1
$preempt$uni    virtual_ipaddress {
        $self->{addr}{vip}/24 dev $if
    }
$track}
CONF
}

sub start_keepalived {
    my ($self, $n, %o) = @_;
    $n = $self->_node($n);
    die "keepalived on $n already running\n" if $self->{ka}{$n} && $self->proc_alive($self->{ka}{$n});
    my $d = "$self->{dir}/keepalived-$n";
    make_path($d);
    open my $fh, '>', "$d/keepalived.conf" or die "$d: $!\n";
    print $fh $self->_keepalived_conf($n);
    close $fh;
    unlink "$d/keepalived.pid", "$d/vrrp.pid";
    my $pid = $self->spawn($n, [$KEEPALIVED, '-n', '-l', '-D', '-G', '-P', '-R',
        '-f', "$d/keepalived.conf", '-p', "$d/keepalived.pid", '-r', "$d/vrrp.pid",
        '-c', "$d/checkers.pid", '-b', "$d/bfd.pid", '-i', $n, @{ $o{args} // [] }],
        name => "keepalived-$n", log => "$d/keepalived.log");
    $self->{ka}{$n} = $pid;
    FcfhTest::wait_for(sub { -s "$d/vrrp.pid" || !$self->proc_alive($pid) }, 5);
    die "keepalived on $n did not start:\n" . FcfhTest->read_file("$d/keepalived.log")
        unless $self->proc_alive($pid);
    return $pid;
}

sub keepalived_pid { my ($s, $n) = @_; $s->{ka}{$s->_node($n)} }
sub keepalived_log { my ($s, $n) = @_; FcfhTest->read_file("$s->{dir}/keepalived-" . $s->_node($n) . '/keepalived.log') }

# TERM: keepalived gives the VIP up (priority 0 advert) and exits. KILL (to
# the group: parent and VRRP child) leaves the VIP configured on the node,
# as a crashed keepalived would (both nodes then hold it).
sub kill_keepalived {
    my ($self, $n, $sig) = @_;
    $n = $self->_node($n);
    my $pid = $self->{ka}{$n} or return 0;
    $sig //= 'TERM';
    return kill($sig, $sig =~ /^(KILL|9)$/ ? -$pid : $pid);
}

sub stop_keepalived {
    my ($self, $n, $sig) = @_;
    $n = $self->_node($n);
    my $pid = delete $self->{ka}{$n} or return;
    $self->stop_proc($pid, $sig // 'TERM', 5);
}

# Nodes whose interface holds the VIP.
sub vip_holders {
    my ($self) = @_;
    my $vip = $self->vip;
    my @h;
    for my $n ($self->nodes) {
        my ($rc, $out) = _run_capture([$IP, '-n', $self->ns($n), '-4', '-o', 'addr', 'show'],
                                      quiet_stderr => 1);
        push @h, $n if $out =~ /\binet \Q$vip\E\//;
    }
    return @h;
}

# The node holding the VIP; undef if none; "n1,n2" if several.
sub vip_holder {
    my @h = $_[0]->vip_holders;
    return @h ? join(',', @h) : undef;
}

# Wait until exactly one node holds the VIP (and it is $want, if given).
sub wait_vip_holder {
    my ($self, $timeout, $want) = @_;
    my $h;
    FcfhTest::wait_for(sub {
        $h = $self->vip_holder;
        defined $h && $h !~ /,/ && (!defined $want || $h eq $want);
    }, $timeout // 10, 0.05) or return undef;
    return $h;
}

# ---- simulator ---------------------------------------------------------------------

# fcfh-sim in the dev namespace, to VIP:4433 (connect => 'n2' or 'ADDR:PORT'
# to aim elsewhere); devices, reconnect (ms, 500), args (more options).
sub start_sim {
    my ($self, %o) = @_;
    my $i = @{$self->{sims}} + 1;
    my $to = $o{connect} // 'vip';
    $to = ($to eq 'vip' ? $self->vip : $self->addr($self->_node($to))) . ":$self->{device_port}"
        unless $to =~ /:/;
    my $sim = { stats => "$self->{dir}/sim$i.json", log => "$self->{dir}/sim$i.log" };
    $sim->{pid} = $self->spawn('dev', [$FcfhTest::SIM, '--connect', $to,
        '--devices', $o{devices} // 1, '--reconnect', $o{reconnect} // 500,
        '--stats-file', $sim->{stats}, @{ $o{args} // [] }],
        name => "sim$i", log => $sim->{log});
    push @{$self->{sims}}, $sim;
    return $sim;
}

sub sim_stats {
    my ($self, $sim) = @_;
    $sim //= $self->{sims}[-1] or return;
    unlink $sim->{stats};
    kill 'USR1', $sim->{pid} or return;
    my $d;
    FcfhTest::wait_for(sub { $d = FcfhTest::read_json_file($sim->{stats}) }, 5);
    return $d;
}

sub stop_sim {
    my ($self, $sim) = @_;
    $sim //= $self->{sims}[-1] or return;
    return $sim->{final} if $sim->{done};
    $self->stop_proc($sim->{pid}, 'TERM', 5);
    $sim->{done} = 1;
    return $sim->{final} = FcfhTest::read_json_file($sim->{stats});
}

# GUID of simulated device i (0-based), as fcfh-sim numbers them by default.
sub sim_guid { sprintf '00000000-0000-4000-8000-%012x', 1 + $_[1] }

# ---- teardown ----------------------------------------------------------------------

sub teardown {
    my ($self) = @_;
    return if $self->{torn} || $self->{owner} != $$;
    $self->{torn} = 1;
    for my $s (@{$self->{sims}}) { eval { $self->stop_sim($s) } }
    for my $n ($self->nodes) { eval { $self->stop_node($n) } if $self->{nginx}{$n} }
    for my $n ($self->nodes) { eval { $self->stop_keepalived($n) } }
    eval { $self->stop_redis };
    for my $pid (keys %{$self->{procs}}) {
        next if $self->{procs}{$pid}{exited};
        kill 'KILL', -$pid;
        waitpid($pid, 0);
        $self->{procs}{$pid}{exited} = 1;
    }
    if ($self->{netns_made}) {
        my %have = map { $_ => 1 } _list_netns();
        for my $ns (reverse $self->all_namespaces) {
            next unless $have{$ns};
            _kill_netns_procs($ns);
            system($IP, 'netns', 'del', $ns);
        }
        _del_ns_files($_) for $self->all_namespaces;
    }
    unlink "$OWNER_DIR/$self->{pfx}";
}

# Namespaces of this run still present (after teardown: none).
sub leftover_namespaces {
    my ($self) = @_;
    my %mine = map { $_ => 1 } $self->all_namespaces;
    return grep { $mine{$_} } _list_netns();
}

# Teardown, check nothing is left, then FcfhTest's alert check over every
# node's error log and done_testing.
sub done_testing {
    my ($self) = @_;
    $self->teardown;
    my @left = $self->leftover_namespaces;
    Test::More::ok(!@left, 'lab torn down: no namespace of this run left')
        or Test::More::diag("left: @left");
    FcfhTest::done_testing($self);
}

sub DESTROY { local ($., $@, $!, $^E, $?); $_[0]->teardown }

END {
    my $rc = $?;
    if ($$ == $OWNER_PID) {
        for my $lab (@LABS) { eval { $lab->teardown } }
        my $passing = eval { Test::More->builder->is_passing } // 0;
        for my $lab (@LABS) {
            remove_tree($lab->{dir}) if $passing && $rc == 0 && !$ENV{FCFH_KEEP} && $lab->{dir};
        }
    }
    $? = $rc;
}

1;
