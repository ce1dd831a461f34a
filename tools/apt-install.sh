# Sourced by tools/build-deps and tools/test-deps: installs the Debian packages given, only those
# missing. `apt_install_missing <label> <package>...`.
apt_install_missing() {
    local label=$1
    shift
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "$label: all present ($*)"
        return 0
    fi
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            # Without a terminal (CI) sudo must not wait for a password prompt.
            if [ -t 0 ]; then as_root=(sudo); else as_root=(sudo -n); fi
        else
            echo "$label: missing ${missing[*]}, and not root and no sudo to install them" >&2
            return 1
        fi
    fi
    echo "$label: installing ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
