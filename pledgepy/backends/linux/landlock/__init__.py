"""unveil() and pledge()'s own domain with Landlock: abi (what each version offers),
ruleset (the three system calls), unveil (OpenBSD's rules mapped on a ruleset),
domain (the domain that hides no file)."""
