package FcfhBrowser;

# The browser tests' harness: headless Chromium (Debian's), driven by
# t/lib/browser-console.js (puppeteer-core) on the test pages in
# t/browser/, which load third-party scripts from build/ (installed by
# tools/browser-deps.sh) through the test's own nginx:
#
#   /t/...            t/browser/ (the pages, ours)
#   /vendor/toolkit/  Intel's UI toolkit bundle
#   /vendor/xterm/    xterm.js
#   /vendor/mesh/     MeshCentral's console scripts
#
#   plan skip_all => FcfhBrowser::no_chromium() if FcfhBrowser::no_chromium();
#   FcfhBrowser::deps(mesh => 1) or ...;       # installs what is missing
#   my $srv = FcfhBrowser::static_locations();   # into an http server block
#   my @res = FcfhBrowser::run([ {name, url, kind, ...}, ... ], $timeout);
#   FcfhBrowser::report($res{$name}, $name);     # one ok() per step
use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time);
use FcfhTest qw(repo_dir T);

my $REPO = repo_dir();
our $BUILD = $ENV{FCFH_BUILD} // "$REPO/build";
our $CHROMIUM = $ENV{FCFH_CHROMIUM} // '/usr/bin/chromium';
our $ERROR = '';

# the reason to skip, or '' when Chromium is there
sub no_chromium {
    return -x $CHROMIUM ? ''
        : "no Chromium at $CHROMIUM: the browser tests need Debian's chromium "
          . '(tools/install-deps.sh installs it; FCFH_CHROMIUM names another)';
}

# the npm packages, installed if missing; false with $ERROR when not there
sub deps {
    my (%o) = @_;
    my $out = `'$REPO/tools/browser-deps.sh' 2>&1`;
    if ($? != 0) {
        $ERROR = "tools/browser-deps.sh failed: $out";
        return 0;
    }
    Test::More::diag($out) if length $out;
    my @need = ("$BUILD/browser/node_modules/puppeteer-core/package.json",
                "$BUILD/browser/node_modules/\@device-management-toolkit/ui-toolkit/bundles/core.bundle.js",
                "$BUILD/browser/node_modules/\@xterm/xterm/lib/xterm.js");
    push @need, "$BUILD/peer/node_modules/meshcentral/public/scripts/amt-redir-ws-0.1.0.js"
        if $o{mesh};
    for (@need) {
        next if -f $_;
        $ERROR = "missing $_ after tools/browser-deps.sh";
        return 0;
    }
    return 1;
}

# nginx locations serving the pages and the third-party scripts
sub static_locations {
    my $mods = "$BUILD/browser/node_modules";
    return <<"CONF";
        types {
            text/html               html;
            application/javascript  js;
            text/css                css;
        }
        location /t/ { alias $REPO/t/browser/; }
        location /vendor/toolkit/ {
            alias $mods/\@device-management-toolkit/ui-toolkit/bundles/;
        }
        location /vendor/xterm/ { alias $mods/\@xterm/xterm/; }
        location /vendor/mesh/ {
            alias $BUILD/peer/node_modules/meshcentral/public/scripts/;
        }
CONF
}

# Runs the scenarios in one Chromium: one result hash per scenario
# ({name, steps => [{name, ok, ms, detail}], console, log, ms}), or a
# single {fatal} one.
sub run {
    my ($scenarios, $timeout) = @_;
    my $dir = $ENV{FCFH_TMP} // "$REPO/t/tmp";
    system('mkdir', '-p', $dir);
    my $spec = "$dir/browser-spec-$$.json";
    open my $fh, '>', $spec or die "$spec: $!";
    print $fh JSON::PP->new->encode({ modules => "$BUILD/browser", chromium => $CHROMIUM,
                                      scenarios => $scenarios });
    close $fh;
    my $t0 = time;
    my $out = `timeout -k 5 $timeout node '$REPO/t/lib/browser-console.js' '$spec' 2>&1`;
    my $rc = $? >> 8;
    unlink $spec;
    my @res;
    for (split /\n/, $out) {
        next unless /^\{/;
        my $r = eval { JSON::PP->new->decode($_) } or next;
        push @res, $r;
    }
    Test::More::diag(sprintf 'browser: %d scenario(s) in %.1f s', scalar @res, time - $t0);
    push @res, { fatal => "driver exit $rc: " . substr($out, -2000) }
        if $rc != 0 && !grep { $_->{fatal} } @res;
    return @res;
}

# one ok() per step, and one that every step of the scenario ran (each
# has 3: page loaded, then two conditions); on a failure, what the page
# and the browser said.  $r undef: the driver never reported $name.
sub report {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;     # TODO blocks
    if (!$r) {
        fail("$name: no result from the browser driver");
        return 0;
    }
    if ($r->{fatal}) {
        fail("$name: browser driver: $r->{fatal}");
        return 0;
    }
    my $all = @{ $r->{steps} } == 3;
    for my $s (@{ $r->{steps} }) {
        ok($s->{ok}, "$r->{name}: $s->{name}" . ($s->{ok} ? " ($s->{ms} ms)" : ''))
            or do {
                $all = 0;
                diag(JSON::PP->new->canonical->encode($s->{detail} // {}));
            };
    }
    ok(@{ $r->{steps} } == 3, "$r->{name}: all steps ran");
    if (!$all) {
        my @c = @{ $r->{console} // [] };
        splice @c, 20 if @c > 20;
        diag("page log: " . join(' | ', @{ $r->{log} // [] }));
        diag("console: " . join(' | ', @c));
    }
    return $all;
}

1;
