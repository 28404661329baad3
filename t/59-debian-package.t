#!/usr/bin/perl
# The Debian packages (make deb) in the machine's own nginx, as an operator
# installs them: built from debian/, installed with apt-get into Debian's
# nginx with its /etc/nginx/nginx.conf untouched, configured with the two
# files README.md shows: one in conf.d/ (http) and one main-context file in
# modules-enabled/ (fcfh_zone and the stream servers: Debian's nginx.conf
# has no stream{} and no other main-context include), moved to free
# loopback ports, started with "service nginx start", a device from
# the tools package (fcfh-sim) reached from consoles through SOCKS5 and
# the HTTP proxy; then the configuration removed, the packages purged, and
# nginx starts again without the module.
#
# Needs root and a stock, stopped system nginx: skips otherwise, and under
# another nginx binary (make test-asan).  Everything it changes in
# /etc/nginx is restored from a copy taken first (Debian's default site,
# which listens on port 80 of every address, is off while it runs: the test
# listens on loopback only); it stops only the nginx it started (the pid in
# /run/nginx.pid).  FCFH_DEB_DIR=dir uses packages built already (make deb
# puts them in build/deb) instead of building them.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use FcfhTest qw(wait_for http_get repo_dir T);

my $repo = repo_dir();
my $MOD = 'libnginx-mod-stream-fcfh';
my $TOOLS = 'fcfh-tools';
my $PIDFILE = '/run/nginx.pid';
my $RELAY = '/run/nginx-fcfh';             # fcfh_relay_dir's default
my $GUID = '4c4c4544-0059-4810-8035-c8c04f504e31';
my $FQDN = 'amt-pkg.example.test';

sub sh { my $out = `$_[0] 2>&1`; return wantarray ? ($? >> 8, $out) : $out }
sub slurp { open my $fh, '<', $_[0] or return ''; local $/; scalar <$fh> }
sub spew {
    my ($f, $text) = @_;
    open my $fh, '>', $f or die "$f: $!";
    print $fh $text;
    close $fh or die "$f: $!";
}
sub installed {
    my ($pkg) = @_;
    return sh("dpkg-query -W -f='\${Status}' $pkg") =~ /ok installed/;
}
sub alive {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    return slurp("/proc/$pid/stat") =~ /^\d+ \(.*\) ([A-Za-z])/ && $1 ne 'Z';
}
sub pidfile_pid { slurp($PIDFILE) =~ /(\d+)/ ? $1 : undef }
# the package a file belongs to (usrmerge: dpkg may know it under /usr)
sub owner {
    my ($path) = @_;
    for my $p ($path, "/usr$path") {
        my ($st, $out) = sh("dpkg -S $p");
        return $1 if $st == 0 && $out =~ /^([\w.+-]+?)(?::\w+)?: /m;
    }
    return undef;
}

# --- only on a root, stock, stopped Debian nginx ------------------------------

plan skip_all => 'needs root: installs packages into the system nginx'
    unless $> == 0;
plan skip_all => "the packages are for Debian's nginx, this run tests "
                 . ($ENV{FCFH_NGINX} // 'a sanitizer build')
    if ($ENV{FCFH_NGINX} && $ENV{FCFH_NGINX} ne '/usr/sbin/nginx')
       || $ENV{FCFH_SANITIZED};
plan skip_all => "Debian's nginx is not installed"
    unless installed('nginx') && -x '/usr/sbin/nginx';
if (my $pid = pidfile_pid()) {
    plan skip_all => "a system nginx is running (pid $pid in $PIDFILE): "
                     . 'the test starts and stops its own'
        if alive($pid);
}
for my $p ($MOD, $TOOLS) {
    plan skip_all => "$p is installed on this machine: the test would "
                     . "replace and purge it (apt-get purge $p to run it)"
        if installed($p);
}
{
    # Debian's own nginx.conf, and no sites or conf.d files of the machine's
    my ($md5) = sh('dpkg-query -W -f=\'${Conffiles}\' nginx-common')
        =~ m{^\s*/etc/nginx/nginx\.conf\s+([0-9a-f]{32})}m;
    my ($now) = sh('md5sum /etc/nginx/nginx.conf') =~ /^([0-9a-f]{32})/;
    plan skip_all => '/etc/nginx/nginx.conf is not Debian\'s own'
        unless $md5 && $now && $md5 eq $now;
    my @own = (grep({ !m{/default$} } glob('/etc/nginx/sites-enabled/*')),
               glob('/etc/nginx/conf.d/*'));
    plan skip_all => "the machine's nginx has its own configuration (@own)"
        if @own;
}
for my $tool ('dpkg-buildpackage', 'dh_nginx', 'apt-get', 'service') {
    next if grep { -x "$_/$tool" } split /:/, "$ENV{PATH}:/usr/sbin:/sbin";
    BAIL_OUT("$tool is missing: run tools/install-deps.sh");
}

# --- restore the machine whatever happens -------------------------------------

make_path("$repo/t/tmp");
my $tmp = tempdir('fcfh-deb-XXXXXX', DIR => "$repo/t/tmp", CLEANUP => 1);
system('tar', '-C', '/etc', '-cpf', "$tmp/etc-nginx.tar", 'nginx') == 0
    or BAIL_OUT('cannot back up /etc/nginx');
my @relay_was = (stat $RELAY)[2, 4, 5];  # mode, uid, gid: nginx chowns it
my $log = '/var/log/nginx/error.log';
my $log_from = -s $log // 0;
my ($master, $sim_pid);
my $armed = 1;                          # from here on, END restores

sub stop_ours {
    my $pid = $master or return;
    if (alive($pid) && (pidfile_pid() // 0) == $pid) {
        sh('service nginx stop');
    }
    if (alive($pid)) {                  # the init script gave up
        kill 'QUIT', $pid;
        wait_for(sub { !alive($pid) }, T(8)) or kill 'KILL', $pid;
    }
    $master = undef;
}

sub restore {
    return unless $armed;
    if ($sim_pid) { kill 'TERM', $sim_pid; waitpid $sim_pid, 0; $sim_pid = 0 }
    stop_ours();
    my @left = grep { installed($_) } $MOD, $TOOLS;
    sh("dpkg --purge @left") if @left;
    if (-s "$tmp/etc-nginx.tar") {
        remove_tree('/etc/nginx');
        system('tar', '-C', '/etc', '-xpf', "$tmp/etc-nginx.tar") == 0
            or warn "restoring /etc/nginx from $tmp/etc-nginx.tar failed\n";
        unlink "$tmp/etc-nginx.tar";
    }
    if (!defined $relay_was[0]) {
        remove_tree($RELAY) if -d $RELAY;
    } elsif (-d $RELAY) {
        chown $relay_was[1], $relay_was[2], $RELAY;
        chmod $relay_was[0] & 07777, $RELAY;
    }
}

END { my $rc = $?; restore(); $? = $rc }

sub free_port {
    my %not = map { $_ => 1 } @_;
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Listen => 1) or next;
        my $p = $s->sockport;
        close $s;
        return $p unless $not{$p};
    }
    die "no free port\n";
}
my $dev_port = free_port();
my $socks_port = free_port($dev_port);
my $http_port = free_port($dev_port, $socks_port);

# --- build --------------------------------------------------------------------

my $debs = $ENV{FCFH_DEB_DIR} // "$repo/build/deb";
unless ($ENV{FCFH_DEB_DIR}) {
    my ($st, $out) = sh("'$repo/tools/build-deb.sh' '$debs'");
    is($st, 0, 'make deb: the packages build') or diag($out);
}
my ($mod_deb) = glob("$debs/${MOD}_*.deb");
my ($tools_deb) = glob("$debs/${TOOLS}_*.deb");
ok($mod_deb && $tools_deb, "$MOD and $TOOLS packages in $debs")
    or BAIL_OUT("no packages in $debs");

# every library the module links (config) has its -dev package among the
# Build-Depends: the build on a fresh machine installs what debian/control
# names, not what this machine happens to have
{
    my $control = slurp("$repo/debian/control");
    my ($bd) = $control =~ /^Build-Depends:(.*?)^\S/ms;
    my %libs = map { $_ => 1 } slurp("$repo/config") =~ /-l([\w.+-]+)/g;
    my $multiarch = sh('dpkg-architecture -qDEB_HOST_MULTIARCH') =~ s/\s+//gr;
    for my $lib (sort keys %libs) {
        my ($so) = grep { -e } map { "$_/lib$lib.so" }
            "/usr/lib/$multiarch", '/usr/lib';
        my $dev = $so ? owner($so) : undef;
        # build-essential's own need not be named
        next if $dev && $dev =~ /^(libc6-dev|libcrypt-dev)$/;
        ok($dev && $bd =~ /(^|[\s,])\Q$dev\E([\s,(]|$)/m,
           "config links -l$lib: debian/control builds with "
           . ($dev // "the package of lib$lib.so"));
    }
}

# --- install --------------------------------------------------------------------

my $apt = 'DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300';
my ($st, $out) = sh("$apt install --no-install-recommends '$mod_deb' '$tools_deb'");
is($st, 0, 'apt-get install of both packages') or diag($out);

my $abi = slurp('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars')
    =~ /^nginx:abi=(\S+)/m ? $1 : 'nginx-abi-?';
my $depends = sh("dpkg-query -W -f='\${Depends}' $MOD");
like($depends, qr/(^|, )\Q$abi\E(,|$)/, "$MOD depends on $abi");
like($depends, qr/(^|, )libnginx-mod-stream(,|$| )/,
     "$MOD depends on libnginx-mod-stream");

my $so = '/usr/lib/nginx/modules/ngx_fcfh_module.so';
ok(-f $so, "the module is in /usr/lib/nginx/modules");
# the run-time libraries come from the build (shlibs), none forgotten
for my $needed (sh("objdump -p $so") =~ /^\s*NEEDED\s+(\S+)/mg) {
    my ($path) = sh('ldconfig -p') =~ /^\s*\Q$needed\E \(libc6[^)]*\) => (\S+)/m;
    my $pkg = $path ? owner($path) : undef;
    ok($pkg && $depends =~ /(^|, )\Q$pkg\E( |,|$)/,
       "$MOD depends on " . ($pkg // "the package of $needed")
       . " ($needed)") or diag("Depends: $depends");
}

my $avail = '/usr/share/nginx/modules-available/mod-stream-fcfh.conf';
is(slurp($avail), "load_module modules/ngx_fcfh_module.so;\n",
   'modules-available snippet loads the module');
my $link = '/etc/nginx/modules-enabled/70-mod-stream-fcfh.conf';
is(readlink($link), $avail, 'postinst linked it into modules-enabled');
my @enabled = map { s{.*/}{}r } sort glob('/etc/nginx/modules-enabled/*.conf');
my ($i_stream) = grep { $enabled[$_] eq '50-mod-stream.conf' } 0 .. $#enabled;
my ($i_fcfh) = grep { $enabled[$_] eq '70-mod-stream-fcfh.conf' } 0 .. $#enabled;
ok(defined $i_stream && defined $i_fcfh && $i_fcfh > $i_stream,
   'loaded after 50-mod-stream.conf') or diag("@enabled");
like(slurp("/var/lib/dpkg/info/$MOD.postinst"),
     qr/dpkg-trigger --no-await nginx-reload/,
     'postinst asks nginx to reload (dh_nginx)');
ok(-f "/etc/nginx/snippets/fcfh-tls-$_.conf", "snippets/fcfh-tls-$_.conf")
    for qw(modern compat);
ok(-x "/usr/bin/$_", "$TOOLS: /usr/bin/$_") for qw(fcfh-sim fcfh-mkcerts);

($st, $out) = sh('nginx -t');
is($st, 0, 'nginx -t: the stock configuration with the module loaded')
    or diag($out);

# --- configure: one file in conf.d, one main-context file -----------------------

($st, $out) = sh('fcfh-mkcerts /etc/nginx/fcfh');
is($st, 0, 'fcfh-mkcerts makes a demo PKI in /etc/nginx/fcfh') or diag($out);

# loopback only: Debian's default site listens on port 80 of every address
unlink '/etc/nginx/sites-enabled/default';

# the two files exactly as README.md shows them, on free loopback ports
my $readme = slurp("$repo/README.md");
my $main_conf = '/etc/nginx/modules-enabled/90-fcfh-gateway.conf';
my $http_conf = '/etc/nginx/conf.d/fcfh.conf';
my ($main_text) = $readme =~ m{```nginx\n(# \Q$main_conf\E\b.*?)```}s;
my ($http_text) = $readme =~ m{```nginx\n(# \Q$http_conf\E\b.*?)```}s;
ok($main_text && $http_text, "README.md shows $main_conf and $http_conf")
    or BAIL_OUT('the install section of README.md changed');
my $n = ($main_text =~ s/^(\s*listen\s+)4433 ssl;/${1}127.0.0.1:$dev_port ssl;/m)
      + ($main_text =~ s/^(\s*listen\s+)127\.0\.0\.1:1080;/${1}127.0.0.1:$socks_port;/m)
      + ($http_text =~ s/^(\s*listen\s+)127\.0\.0\.1:8080;/${1}127.0.0.1:$http_port;/m);
my @listen = "$main_text$http_text" =~ /^\s*listen\s+([^\s;]+)/mg;
is($n, 3, "README's listeners moved to free ports");
# never on another address than loopback
BAIL_OUT("README's configuration listens on @listen")
    if @listen != 3 || grep { !/^127\.0\.0\.1:\d+$/ } @listen;
spew($main_conf, $main_text);
spew($http_conf, $http_text);

($st, $out) = sh('nginx -t');
is($st, 0, 'nginx -t with the gateway configuration') or diag($out);
unlike($out, qr/\[(warn|emerg|alert|crit)\]/, 'nginx -t says nothing else')
    or diag($out);

# --- start it as the distribution does ------------------------------------------

($st, $out) = sh('service nginx start');
is($st, 0, 'service nginx start') or diag($out, sh('nginx -t'));
ok(wait_for(sub { ($master = pidfile_pid()) && alive($master) }, T(10)),
   "nginx runs (pid file $PIDFILE)")
    or BAIL_OUT('nginx did not start: ' . sh("tail -5 $log"));

sub workers {
    my @w;
    opendir my $d, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        next unless slurp("/proc/$pid/stat") =~ /^\d+ \(.*\) [A-Za-z] (\d+)/
                    && $1 == $master;
        push @w, $pid if slurp("/proc/$pid/cmdline") =~ /worker process/;
    }
    return @w;
}
ok(wait_for(sub {
       IO::Socket::INET->new(PeerAddr => "127.0.0.1:$_", Timeout => 1)
           or return 0 for $dev_port, $socks_port, $http_port;
       1 }, T(10)),
   'the gateway listens on its three loopback ports');
my @w;
ok(wait_for(sub { @w = workers() }, T(10)), 'workers run');
my $uid = getpwnam('www-data');
ok(@w && !grep({ slurp("/proc/$_/status") !~ /^Uid:\s+$uid\s/m } @w),
   "workers run as www-data (Debian's nginx.conf)");
ok(@w && slurp("/proc/$w[0]/maps") =~ m{\Q$so\E},
   'the workers have the packaged module mapped');

# --- a device from the tools package, consoles through the gateway ---------------

$sim_pid = fork // die "fork: $!";
if (!$sim_pid) {
    open STDOUT, '>', "$tmp/sim.log"; open STDERR, '>&', \*STDOUT;
    no warnings 'exec';
    exec '/usr/bin/fcfh-sim', '--connect', "127.0.0.1:$dev_port",
         '--ca', '/etc/nginx/fcfh/ca.crt', '--user', 'admin',
         '--password', 'P@ssw0rd', '--guid', $GUID, '--fqdn', $FQDN,
         '--quiet';
    POSIX::_exit(127);
}

my $status;
ok(wait_for(sub {
       my ($s, undef, $body) = http_get($http_port, '/fcfh/status') or return 0;
       $status = eval { JSON::PP->new->decode($body) } or return 0;
       return grep { ($_->{guid} // '') eq $GUID } @{$status->{tunnels} || []};
   }, T(10), 0.1),
   'the simulated device is registered (fcfh_status)')
    or diag(explain($status), slurp("$tmp/sim.log"));

my $ct = q{-H 'Content-Type: application/soap+xml;charset=UTF-8'};
sub curl {
    my $o = `curl -s -m 15 -w '\\n%{http_code}' @_ 2>&1`;
    my ($body, $code) = $o =~ /^(.*)\n(\d+)$/s;
    return ($code // 0, $body // $o);
}
my ($code, $body) = curl("--socks5-hostname 127.0.0.1:$socks_port", $ct,
    '--data-binary @/usr/share/fcfh-tools/wsman/identify.xml',
    "http://$GUID:16992/wsman");
is($code, 200, 'SOCKS5 console: WS-Management Identify through the gateway');
like($body, qr/IdentifyResponse/, 'SOCKS5 console: IdentifyResponse')
    or diag($body);

($code, $body) = curl("-x 127.0.0.1:$http_port", $ct,
    q{--digest -u 'admin:P@ssw0rd'},
    '--data-binary @/usr/share/fcfh-tools/wsman/get-general-settings.xml',
    "http://$FQDN:16992/wsman");
is($code, 200, 'HTTP proxy console: AMT_GeneralSettings with Digest');
like($body, qr/AMT_GeneralSettings.*HostName/s,
     "HTTP proxy console: the device's answer") or diag($body);

kill 'TERM', $sim_pid;
waitpid $sim_pid, 0;
$sim_pid = 0;

# --- the operator's configuration out, the packages purged, nginx again -----

unlink $main_conf, $http_conf;
($st, $out) = sh("$apt purge $MOD $TOOLS");
is($st, 0, 'apt-get purge of both packages') or diag($out);
ok(!installed($MOD) && !installed($TOOLS), 'both packages are gone');
ok(!-l $link && !-l "$link.removed" && !-e $avail && !-e $so,
   'no module file and no modules-enabled link left');
ok(!glob('/etc/nginx/snippets/fcfh-*'), 'the snippets (conffiles) purged');
ok(!-e '/usr/bin/fcfh-sim', 'no simulator left');

($st, $out) = sh('nginx -t');
is($st, 0, 'nginx -t: the stock configuration without the module')
    or diag($out);
($st, $out) = sh('service nginx restart');
is($st, 0, 'service nginx restart') or diag($out);
ok(wait_for(sub { ($master = pidfile_pid()) && alive($master) && workers() },
            T(10)),
   'nginx starts again after the purge');
@w = workers();
ok(@w && slurp("/proc/$w[0]/maps") !~ /ngx_fcfh_module/,
   'and runs without the module');
stop_ours();
ok(!alive(pidfile_pid()), 'service nginx stop');

my $new = substr(slurp($log), $log_from);
my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, $new;
ok(!@bad, "no alert/crit/emerg in $log") or diag(join "\n", @bad);

done_testing;
