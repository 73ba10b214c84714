# Sourced by the tool installers that take Debian packages: `apt_install PKG...`.
#
# Returns 77 when this machine cannot install Debian packages (no apt-get, or neither root nor
# password-less sudo), 1 when apt-get fails, 0 when the packages are installed. `apt-get update`
# runs once per scripts/setup_tools.sh run (it exports APT_UPDATED_STAMP, a file made after the
# first update), and once per call otherwise. apt-get waits up to 5 min for another apt-get's
# lock instead of failing at once.

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "apt_install: no apt-get on this machine; install $* yourself" >&2
        return 77
    fi
    local sudo=()
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "apt_install: installing $* needs root (or password-less sudo)" >&2
            return 77
        fi
    fi
    echo "apt_install: installing $* (Debian packages)" >&2
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    if [ -z "${APT_UPDATED_STAMP:-}" ] || [ ! -e "$APT_UPDATED_STAMP" ]; then
        "${apt[@]}" update -qq || { echo "apt_install: apt-get update failed" >&2; return 1; }
        [ -z "${APT_UPDATED_STAMP:-}" ] || touch "$APT_UPDATED_STAMP"
    fi
    "${apt[@]}" install -y -qq --no-install-recommends "$@" >/dev/null \
        || { echo "apt_install: apt-get install $* failed" >&2; return 1; }
}
