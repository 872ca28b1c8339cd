// Package deps holds the one list of the external programs that xvs's
// tests, demo, benchmarks and test VM run (programs.list: each program
// with the Debian package that provides it), the helper through which Go
// code runs them (Command, which refuses a program the list does not
// name), and the scanner that finds every program the repository's Go code
// and shell scripts run (Scan), so that a program nobody listed is caught
// before the tests run.
//
// scripts/deps.sh installs the packages the list names; scripts/check-deps.sh
// (run by make test before any test) checks that the scan finds nothing
// unlisted and that each listed program on this machine belongs to the
// package the list names, by dpkg's file ownership.
package deps
