"""Programs started under a pledge: wrap (execpromises applied before exec) and
supervise (the pledge command's parent, which explains an exec'd program's violations)."""
