// Package bpf holds the XDP datapath's C sources and the Go bindings bpf2go
// generates from them (committed, so building needs no clang).
package bpf

// xvs_svc_key and xvs_svc need no -type: the BTF anchors in maps.h (variables) bring them.
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -target bpfel -type xvs_real -type xvs_conn_key -type xvs_conn -type xvs_stats -type xvs_cfg -type xvs_verdict -type xvs_sched -type xvs_fwd -type xvs_svc_flag -type xvs_af -type xvs_real_flag -type xvs_conn_state -type xvs_conn_flag Xvs xvs.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go run ./internal/genlayout
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -target bpfel Pass pass.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -target bpfel Bench bench.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -target bpfel -type xvs_decap_stat Decap decap.c -- -I/usr/include/x86_64-linux-gnu
