# README.md's "try it" blocks for one environment, one file each.
#   awk -v env=nspawn -v dir=DIR -f tour-blocks.awk README.md
# writes DIR/01.sh, DIR/02.sh, ... from every ```sh block that directly
# follows a "<!-- tour: ENV -->" line (blank lines between are allowed).
# Used by tests/nspawn/cases/10-readme-tour.sh and tests/vm/in-vm.sh.
$0 == "<!-- tour: " env " -->" { armed = 1; next }
armed && $0 == "```sh" {
    n++
    file = sprintf("%s/%02d.sh", dir, n)
    inside = 1
    armed = 0
    next
}
inside && $0 == "```" { inside = 0; close(file); next }
inside { print > file }
armed && $0 != "" { armed = 0 }
