"""An exec'd pledgepy program: reports what it inherited, tries to widen, narrows."""

from __future__ import annotations

import errno
import os
import sys
import warnings


def main() -> None:
    import pledgepy

    warnings.simplefilter("ignore")
    s = pledgepy.status()
    print("promises", " ".join(sorted(s.promises or ())) or "-", flush=True)
    print("inherited", s.inherited, "messages", s.messages, flush=True)
    for promises in sys.argv[1:]:
        try:
            pledgepy.pledge(promises)
            print("pledge ok", " ".join(sorted(pledgepy.status().promises or ())), flush=True)
        except PermissionError:
            print("pledge refused", flush=True)
    try:
        pledgepy.unveil("/tmp", "r")
        print("unveil ok", flush=True)
    except PermissionError:
        print("unveil refused", flush=True)
    try:
        os.close(os.open("/etc/hostname", os.O_RDONLY))
        print("open ok", flush=True)
    except OSError as e:
        print("open", errno.errorcode.get(e.errno or 0), flush=True)


if __name__ == "__main__":
    main()
