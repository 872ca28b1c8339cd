package bpf

// The pps benchmark's traffic generator and sink (tests/vm/pps_test.go).
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -target bpfel Pktgen pktgen.c -- -I/usr/include/x86_64-linux-gnu
