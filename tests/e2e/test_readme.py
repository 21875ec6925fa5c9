# SPDX-License-Identifier: AGPL-3.0-or-later
"""The README's reference parts against the code they describe:

- every setting `enclaved --help` lists is a row of the README's settings table and
  a line of the dev image's userdata/etc/enclaved.conf (which says it lists every
  key), and every row of that table is a setting;
- every function of the `enclave` table (server/lua/enclavelib.c) is a row of the
  README's Lua API table, and every row there is one;
- every command `enclavectl --help` lists is named in the README;
- every `](#anchor)` link in the README names one of its headings.

usage: test_readme.py SOURCE_ROOT BUILD_ROOT
"""

import re
import subprocess
import sys


def main():
    src, build = sys.argv[1], sys.argv[2]
    readme = open(src + "/README.md", encoding="utf-8").read()
    conf = open(src + "/userdata/etc/enclaved.conf", encoding="utf-8").read()
    failures = []

    # Settings: the lines "  --NAME   text" after "Settings" in enclaved --help.
    out = subprocess.run([build + "/server/enclaved", "--help"], capture_output=True,
                         text=True, check=True).stdout
    settings_part = out.split("Settings", 1)[1]
    settings = re.findall(r"^  --([a-z_]+) ", settings_part, re.M)
    if len(settings) < 10:
        failures.append("enclaved --help lists only %d settings" % len(settings))
    table = readme.split("### Settings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \|", table, re.M)
    for name in settings:
        if name not in rows:
            failures.append("README settings table lacks %s" % name)
        if not re.search(r"^#? ?%s = " % name, conf, re.M):
            failures.append("userdata/etc/enclaved.conf lacks %s" % name)
    for name in rows:
        if name not in settings:
            failures.append("README settings table has %s, which enclaved --help lacks" % name)

    # The enclave table: {"NAME", lib_...} in enclavelib.c's enclave_functions.
    lib = open(src + "/server/lua/enclavelib.c", encoding="utf-8").read()
    block = lib.split("enclave_functions[] = {", 1)[1].split("};", 1)[0]
    functions = re.findall(r'\{"([a-z_0-9]+)",', block)
    if len(functions) < 5:
        failures.append("found only %d enclave functions" % len(functions))
    api = readme.split("## App developers", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`enclave\.([a-z_0-9]+)\(", api))
    for name in functions:
        if name not in documented:
            failures.append("README Lua API lacks enclave.%s" % name)
    for name in documented:
        if name not in functions:
            failures.append("README documents enclave.%s, which enclavelib.c lacks" % name)

    # enclavectl's commands: the lines after "commands:" in its --help.
    out = subprocess.run([build + "/tools/enclavectl", "--help"], capture_output=True,
                         text=True, check=True).stdout
    commands_part = out.split("commands:", 1)[1].split("\n\n", 1)[0]
    commands = set()
    for line in commands_part.splitlines():
        words = re.findall(r"^  ([a-z]+(?: (?:open|create|list|destroy|connect))?)", line)
        commands.update(words)
    if len(commands) < 8:
        failures.append("enclavectl --help lists only %d commands" % len(commands))
    for cmd in sorted(commands):
        if "enclavectl " + cmd not in readme and "`" + cmd + "`" not in readme:
            failures.append("README never names enclavectl %s" % cmd)

    # Anchors, with GitHub's slug rule for ASCII headings.
    prose = re.sub(r"^```.*?^```", "", readme, flags=re.M | re.S)
    slugs = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        slugs.add(slug)
    for anchor in re.findall(r"\]\(#([^)]+)\)", prose):
        if anchor not in slugs:
            failures.append("README link #%s names no heading" % anchor)

    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    print("readme: %d settings, %d enclave functions, %d enclavectl commands, %d headings"
          % (len(settings), len(functions), len(commands), len(slugs)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
