#!/usr/bin/perl
# Runs evalua's TAP test files with TAP::Harness (what `prove` uses) and ends with
# the line CI reads: "N passed, M failed".
#
# Every test file runs through this script's --capture mode: with a private TMPDIR
# under one scan root ($EVALUA_SCAN_ROOT, default a new temporary directory), its
# stdout and stderr copied to a log there, and a time limit ($EVALUA_TEST_TIMEOUT
# seconds, default 120). tests/lua/secrets_test.lua runs after all the others and
# scans those logs and files for the credentials the suite used.
use strict;
use warnings;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Select;
use POSIX qw(:sys_wait_h);
use TAP::Harness;

# An `rm` put first in the tests' PATH: what a test removes under the scan root's
# tmp/ (its reports, journals, captured outputs) is moved to kept/ instead, so the
# secrets scan still sees it. Anything else goes to the real rm.
my $RM_SHIM = <<'SH';
#!/bin/sh
recursive=
for a in "$@"; do
  case $a in --) break ;; --recursive) recursive=1 ;; --*) ;; -*[rR]*) recursive=1 ;; esac
done
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n - 1))
  case $a in /*) p=$a ;; *) p=$PWD/$a ;; esac
  case $p in
    "$EVALUA_SCAN_ROOT"/tmp/?*)
      if [ -e "$p" ] && { [ ! -d "$p" ] || [ -n "$recursive" ]; }; then
        mv "$p" "$(mktemp -u "$EVALUA_SCAN_ROOT/kept/XXXXXXXX")" && continue
      fi ;;
  esac
  set -- "$@" "$a"
done
for a in "$@"; do
  case $a in -*) ;; *) exec "$EVALUA_REAL_RM" "$@" ;; esac
done
exit 0
SH

# --capture LOG TMPDIR -- COMMAND...: run COMMAND with TMPDIR set, its output passed
# through and appended to LOG; exit as it did (or fail after the time limit).
sub capture {
  my ($log, $tmp, @cmd) = @_;
  make_path($tmp);
  $ENV{TMPDIR} = $tmp;
  # Runs that test scripts start are journalled in the test's own directory (scanned
  # for secrets with the rest), not in the checkout.
  $ENV{EVALUA_JOURNAL} = "$tmp/journal" unless $ENV{EVALUA_JOURNAL};
  $ENV{PATH} = "$ENV{EVALUA_SCAN_ROOT}/bin:$ENV{PATH}" if $ENV{EVALUA_SCAN_ROOT};
  open(my $logfh, '>>', $log) or die "cannot write $log: $!\n";
  pipe(my $out_r, my $out_w) or die "pipe: $!\n";
  pipe(my $err_r, my $err_w) or die "pipe: $!\n";
  my $pid = fork() // die "fork: $!\n";
  if ($pid == 0) {
    close $out_r;
    close $err_r;
    open(STDOUT, '>&', $out_w) or die "dup: $!\n";
    open(STDERR, '>&', $err_w) or die "dup: $!\n";
    exec(@cmd) or die "cannot run $cmd[0]: $!\n";
  }
  close $out_w;
  close $err_w;
  my $limit = $ENV{EVALUA_TEST_TIMEOUT} || 120;
  my $deadline = time + $limit;
  my ($status, $timed_out, $exited_at);
  my $sel = IO::Select->new($out_r, $err_r);
  # Read until both pipes close; a background process that keeps them open after the
  # test exited (a leaked server) is given 5 seconds, not forever.
  while ($sel->count) {
    for my $fh ($sel->can_read(0.2)) {
      my $n = sysread($fh, my $buf, 65536);
      if (!$n) {
        $sel->remove($fh);
        next;
      }
      print $logfh $buf;
      syswrite($fh == $out_r ? \*STDOUT : \*STDERR, $buf);
    }
    if (!defined $status && waitpid($pid, WNOHANG) == $pid) {
      $status = $?;
      $exited_at = time;
    }
    last if defined $exited_at && time > $exited_at + 5;
    if (!defined $status && time > $deadline && !$timed_out) {
      $timed_out = 1;
      my $msg = "# $cmd[-1]: killed after ${limit}s (EVALUA_TEST_TIMEOUT)\n";
      print $logfh $msg;
      syswrite(\*STDERR, $msg);
      kill 'TERM', $pid;
      $deadline = time + 3;
    } elsif ($timed_out && !defined $status && time > $deadline) {
      kill 'KILL', $pid;
    }
  }
  if (!defined $status) {
    waitpid($pid, 0);
    $status = $?;
  }
  close $logfh;
  exit 1 if $timed_out;
  exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
}

if (@ARGV && $ARGV[0] eq '--capture') {
  my (undef, $log, $tmp, $sep, @cmd) = @ARGV;
  die "usage: harness.pl --capture LOG TMPDIR -- COMMAND...\n" unless defined $sep && $sep eq '--' && @cmd;
  capture($log, $tmp, @cmd);
}

my @files = @ARGV;
my $root = $ENV{EVALUA_SCAN_ROOT};
if (!$root) {
  $root = tempdir('evalua-check-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{KEEP});
  $ENV{EVALUA_SCAN_ROOT} = $root;
}
make_path("$root/logs", "$root/tmp", "$root/kept", "$root/bin");
my ($real_rm) = grep { -x "$_/rm" } split /:/, $ENV{PATH};
$ENV{EVALUA_REAL_RM} = $real_rm ? "$real_rm/rm" : '/bin/rm';
open(my $shim, '>', "$root/bin/rm") or die "cannot write $root/bin/rm: $!\n";
print $shim $RM_SHIM;
close $shim;
chmod 0755, "$root/bin/rm";

# The repository's own .evalua/journal (scripts run in the checkout journal there):
# what this session appends to it is scanned as well.
my $repo_journal = '.evalua/journal';
$ENV{EVALUA_REPO_JOURNAL_OFFSET} = -s $repo_journal || 0;

# Names are unique per file: tests/lua/x_test.lua -> tests.lua.x_test.lua
sub slot { my $f = shift; $f =~ s{/}{.}g; return $f }

my @last = grep { /secrets_test\.lua$/ } @files;
my @first = grep { !/secrets_test\.lua$/ } @files;
my $harness = TAP::Harness->new({
  jobs => 2,
  timer => 1,
  verbosity => $ENV{TEST_VERBOSE} ? 1 : 0,
  ( @last ? (rules => { seq => [ { par => [@first] }, @last ] }) : () ),
  exec => sub {
    my (undef, $file) = @_;
    my @cmd = $file =~ /\.lua$/ ? ('bin/evalua', $file)
            : $file =~ /\.py$/ ? ('python3', $file)
            : ($file);
    my $s = slot($file);
    return [$^X, $0, '--capture', "$root/logs/$s.log", "$root/tmp/$s", '--', @cmd];
  },
});
my $agg = $harness->runtests(@first, @last);
my $passed = scalar $agg->passed;
my $failed = scalar $agg->failed;
# A file that died or planned wrong counts as one more failure.
for my $desc ($agg->descriptions) {
  my ($parser) = $agg->parsers($desc);
  $failed++ if $parser->has_problems && !$parser->failed;
}
print "# outputs and temporary files kept in $root\n" if $ENV{KEEP};
printf "%d passed, %d failed\n", $passed, $failed;
exit($failed ? 1 : 0);
