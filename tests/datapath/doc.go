// Package datapath tests the XDP program through BPF_PROG_TEST_RUN: table
// rows of configuration, input frame, expected verdict and expected output
// frame, run inside a private network namespace whose neighbour table gives
// bpf_fib_lookup known answers.
package datapath
