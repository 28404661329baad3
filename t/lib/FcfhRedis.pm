package FcfhRedis;

# A throwaway Redis for the cluster tests: on a free loopback port, no
# persistence, its log in a temp prefix; killed when stopped or when the
# test ends.
#
#   my $redis = FcfhRedis->new;            # skip_all without redis-server
#   $redis->start;                         # dies if it does not answer
#   ... $redis->port, $redis->dir ...
#   $redis->stop;                          # also at END

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use Test::More ();
use FcfhTest qw(wait_for);

our $SERVER = '/usr/bin/redis-server';

my @instances;

sub new {
    my ($class) = @_;

    Test::More::plan(skip_all => 'redis-server not installed '
                                 . '(tools/install-deps.sh)')
        unless -x $SERVER;

    my $t = FcfhTest->new;
    my $self = bless { t => $t, port => $t->free_port, dir => $t->prefix },
                     $class;
    push @instances, $self;
    return $self;
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }

sub start {
    my ($self) = @_;
    my ($port, $dir) = @$self{qw(port dir)};

    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>>', "$dir/redis.log"; open STDERR, '>&', \*STDOUT;
        no warnings 'exec';
        exec $SERVER, '--port', $port, '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', $dir;
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;

    wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                         Timeout => 1) }, 10)
        or die "redis did not start\n";
    return 1;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    local $?;                   # END: keep the test's exit status
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

END { $_->stop for @instances }

1;
