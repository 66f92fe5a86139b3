"""pledge() with seccomp-BPF: plan (promises -> one action per syscall), filter and
bpf (the program), install (into the kernel, on every thread)."""
