package xdp

// The BPF objects are generated from bpf/*.c by bpf2go and committed, so building needs
// no clang. `make generate` regenerates them (needs clang, llvm-strip and libbpf-dev).

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -go-package xdp capture bpf/capture.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -go-package xdp captureHW bpf/capture_hw.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -type pkt_meta -go-package xdp meta bpf/meta.c -- -I/usr/include/x86_64-linux-gnu
