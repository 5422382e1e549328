#!/usr/bin/perl
# Runs evalua's TAP test files with TAP::Harness (what `prove` uses) and ends with
# the line CI reads: "N passed, M failed".
use strict;
use warnings;
use TAP::Harness;

my @files = @ARGV;
my $harness = TAP::Harness->new({
  jobs => 2,
  timer => 1,
  verbosity => $ENV{TEST_VERBOSE} ? 1 : 0,
  exec => sub {
    my (undef, $file) = @_;
    return ['bin/evalua', $file] if $file =~ /\.lua$/;
    return ['python3', $file] if $file =~ /\.py$/;
    return [$file];
  },
});
my $agg = $harness->runtests(@files);
my $passed = scalar $agg->passed;
my $failed = scalar $agg->failed;
# A file that died or planned wrong counts as one more failure.
for my $desc ($agg->descriptions) {
  my ($parser) = $agg->parsers($desc);
  $failed++ if $parser->has_problems && !$parser->failed;
}
printf "%d passed, %d failed\n", $passed, $failed;
exit($failed ? 1 : 0);
